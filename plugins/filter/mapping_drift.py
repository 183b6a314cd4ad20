# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
name: mapping_drift
short_description: Where a host's devices no longer match their device mappings
version_added: 0.1.0
author:
  - virt.hostdev developers (@virt-hostdev)
description:
  - Compares a host's devices (the facts of M(virt.hostdev.hostdev_facts)) with the host's entries
    in a table of device mappings (usually the inventory variable C(hostdev_mappings)), and returns
    one drift entry per property that differs.
  - A mapping gives a device a fleet-wide name (for example C(gpu-l40s)) and, per host, the C(address)
    of the device and the properties it must have there. Properties set beside C(hosts) are the
    defaults of every host's entry.
  - No device at the address is drift of C(address) with C(found) null; a USB vendor:product that
    matches several devices is drift of C(address) with their names in C(found). A property the host
    could not read is drift with C(found) null.
  - A host without an entry in a mapping is not mapped, which is not drift.
  - On compact facts (O(virt.hostdev.hostdev_facts#module:facts=compact)), a mapped device they do not list
    (a PCI bridge, a USB hub) is unknown, neither drift nor a match; the filter fails naming it, and
    full facts answer.
  - It fails, naming what was wrong, on a bad table, on facts that are not those of
    M(virt.hostdev.hostdev_facts), and on a host that is not an inventory name (a string).
positional: mappings, host, names
options:
  names:
    description: Only these mappings (a name or a list of names); all of them when omitted.
    type: raw
extends_documentation_fragment:
  - virt.hostdev.device_mappings
seealso:
  - plugin: virt.hostdev.mapping_device
    plugin_type: filter
'''

EXAMPLES = r'''
# group_vars/all.yml
# hostdev_mappings:
#   gpu-l40s:
#     description: NVIDIA L40S for the inference VMs
#     vendor_id: '10de'
#     product_id: '26b9'
#     hosts:
#       hv1: {address: '0000:41:00.0', iommu_group: 12, subsystem_vendor_id: '10de', subsystem_id: '1851'}
#       hv2: {address: '0000:c1:00.0', iommu_group: 40, subsystem_vendor_id: '10de', subsystem_id: '1851'}

- name: Gather the host's devices
  virt.hostdev.hostdev_facts:

- name: Fail on any drift of this host's mappings
  ansible.builtin.assert:
    that: drift | length == 0
    fail_msg: "{{ drift }}"
  vars:
    drift: "{{ ansible_facts.hostdev | virt.hostdev.mapping_drift(hostdev_mappings, inventory_hostname) }}"

- name: The drift of one mapping across the fleet, on the controller
  ansible.builtin.debug:
    msg: >-
      {{ hostvars[item].ansible_facts.hostdev
         | virt.hostdev.mapping_drift(hostdev_mappings, item, 'gpu-l40s') }}
  loop: "{{ groups['hypervisors'] }}"
'''

RETURN = r'''
_value:
  description:
    - One entry per property that differs, sorted by mapping, C(address) first, then C(vendor_id),
      C(product_id), C(subsystem_vendor_id), C(subsystem_id), C(iommu_group), C(driver). Empty when
      everything matches or the host is in none of the mappings.
    - Each entry has C(host), C(mapping), C(property), C(expected) and C(found). Ids are normalised
      (C(0x10de)), C(iommu_group) is an integer, C(address) is canonical (C(0000:41:00.0)).
  type: list
  elements: dict
  sample:
    - {host: hv1, mapping: gpu-l40s, property: iommu_group, expected: 12, found: 14}
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import compact_listing
from ansible_collections.virt.hostdev.plugins.module_utils.model.mappings import facts_model
from ansible_collections.virt.hostdev.plugins.module_utils.model.mappings import mapping_drift as drift_of


def mapping_drift(facts, mappings, host, names=None):
    try:
        return drift_of(facts_model(facts), mappings, host, names, listed=compact_listing(facts))
    except HostdevError as error:
        raise AnsibleFilterError('mapping_drift: %s' % error.message)


class FilterModule:
    def filters(self):
        return {'mapping_drift': mapping_drift}
