# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Device mappings of the sample workstation (inventory host ws1) as an inventory writes them
(group_vars/all.yml), ids in several spellings: what the mapping filters' tests read."""

import yaml

MAPPINGS = yaml.safe_load('''
gpu-a4000:
  description: RTX A4000 of the CI runners
  vendor_id: '10de'
  product_id: '0x24B0'
  hosts:
    ws1: {address: '0000:01:00.0', subsystem_vendor_id: '10DE', subsystem_id: '14ad', iommu_group: 1}
    hv2: {address: '0000:41:00.0', iommu_group: 12}
keyboard:
  hosts:
    ws1: {address: '046d:c31c'}
''')
