# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
name: mapping_device
short_description: The node device a device mapping names on a host, refused on drift
version_added: 0.1.0
author:
  - virt.hostdev developers (@virt-hostdev)
description:
  - Resolves a device mapping (a fleet-wide device name such as C(gpu-l40s), see
    P(virt.hostdev.mapping_drift#filter)) to the node device name it stands for on one host
    (C(pci_0000_41_00_0)), from the host's facts.
  - It never returns a device that drifted. It fails, naming every problem at once, when the host is
    not in a mapping (with the hosts that are) or when any property of a mapped device differs (for
    each, the mapping, the host, the property, expected and found), when compact facts do not list a
    mapped device (a PCI bridge, a USB hub; whether it drifted is unknown), and when the table is bad or
    names no such mapping.
  - The result can be given to M(virt.hostdev.domain_hostdev) or the role virt.hostdev.hostdev_assign,
    which also accepts mapping names directly (C(hostdev_assign_mapping)).
seealso:
  - plugin: virt.hostdev.mapping_drift
    plugin_type: filter
  - module: virt.hostdev.domain_hostdev
extends_documentation_fragment:
  - virt.hostdev.device_mappings
positional: mappings, name, host
options:
  name:
    description: A mapping name, or a list of them.
    type: raw
    required: true
  ignore:
    description:
      - Properties not to compare, for example V([driver]) before a reboot that moves the devices to
        vfio-pci (the role virt.hostdev.hostdev_prepare does so).
      - A single property may be given as a string (V(driver)), which is one property, never split into
        its characters. A name that is not among C(vendor_id), C(product_id), C(subsystem_vendor_id),
        C(subsystem_id), C(iommu_group) and C(driver) is refused, since a typo would compare what was
        meant to be left out.
    type: list
    elements: str
    default: []
'''

EXAMPLES = r'''
- name: Read this host's devices first
  virt.hostdev.hostdev_facts:
    source: auto

- name: Give the VM the host's gpu-l40s, whatever slot it is in on this host
  virt.hostdev.domain_hostdev:
    domain: inference-1
    devices:
      - "{{ ansible_facts.hostdev | virt.hostdev.mapping_device(hostdev_mappings, 'gpu-l40s', inventory_hostname) }}"
    include_group: true

- name: Several mappings at once
  ansible.builtin.set_fact:
    passthrough_devices: >-
      {{ ansible_facts.hostdev
         | virt.hostdev.mapping_device(hostdev_mappings, ['gpu-l40s', 'nic-cx7'], inventory_hostname) }}
'''

RETURN = r'''
_value:
  description:
    - For one mapping name, the node device name (C(pci_0000_41_00_0), C(usb_1_3)).
    - For a list of names, the sorted, unique node device names.
  type: raw
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import compact_listing
from ansible_collections.virt.hostdev.plugins.module_utils.model.mappings import facts_model, resolve_mappings


def mapping_device(facts, mappings, name, host, ignore=()):
    try:
        devices = resolve_mappings(facts_model(facts), mappings, name, host, ignore=ignore,
                                   listed=compact_listing(facts))
    except HostdevError as error:
        raise AnsibleFilterError('mapping_device: %s' % error.message)
    if isinstance(name, str) and len(devices) > 1:
        # A mapping listing several devices on this host is a pool: one name never stands for one of them.
        raise AnsibleFilterError(
            'mapping_device: mapping %s maps %d devices on %s (%s): give the name in a list for all of them, or '
            'use it as a pool (virt.hostdev.domain_hostdev pool.mapping) for the first free ones'
            % (name, len(devices), host, ', '.join(devices)))
    return devices[0] if isinstance(name, str) else devices


class FilterModule:
    def filters(self):
        return {'mapping_device': mapping_device}
