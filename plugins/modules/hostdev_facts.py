#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: hostdev_facts
short_description: Gather host devices, IOMMU groups and passthrough eligibility
version_added: 0.1.0
description:
  - Reads the node devices of a libvirt/KVM host once, through libvirt or straight from sysfs,
    and returns them under C(ansible_facts.hostdev) with their IOMMU groups (own or inherited),
    passthrough eligibility with reason codes, the domains that already reference each device,
    and the host's IOMMU state (on or off, kernel arguments, interrupt remapping).
  - Keeps the semantics of Kimchi's host device API. O(cap) filters by libvirt capability,
    O(passthrough) keeps the devices eligible for passthrough, O(affected_by) lists the devices
    a passthrough of one device takes from the host. The names matching the filters are
    returned in RV(devices), sorted.
  - Eligibility depends on the device alone. Eligible types are C(pci), C(usb_device) and
    C(scsi). Not eligible, each with a reason code, are PCI bridges (class 0x06,
    C(pci_bridge)), memory controllers (0x05, C(pci_memory_controller)), processors (0x0b,
    C(pci_processor)), SMBus controllers (0x0c05, C(pci_smbus)), PCI devices whose class is
    unknown (C(pci_class_unknown)), the boot VGA device (C(boot_vga)), USB root hubs (vendor
    0x1d6b, C(usb_root_hub)), USB hubs (class 9, C(usb_hub)) and every other type
    (C(type_not_assignable)).
  - Unlike Kimchi (2014), display controllers other than the boot VGA device are eligible,
    since GPU passthrough is now common.
  - Each device also says whether it can be taken now, alone, for a new domain (C(assignable)) and
    what refuses it (C(blockers)), with the same checks and codes as M(virt.hostdev.domain_hostdev).
    Use C(passthrough.eligible) to pick candidates by class, C(assignable) before acting.
  - Read-only; never reports a change.
author:
  - virt.hostdev developers (@virt-hostdev)
requirements:
  - libvirt-python (for O(source=libvirt); O(source=auto) reads sysfs without it)
attributes:
  check_mode:
    support: full
    description: The module only reads, so check mode runs it as usual.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  facts:
    support: full
    description: Sets C(ansible_facts.hostdev).
extends_documentation_fragment:
  - virt.hostdev.host_source
options:
  cap:
    description:
      - Only devices with this libvirt capability (its type, or a sub-capability such as V(fc_host)
        or V(vports)).
      - A name libvirt does not use is rejected, listing the names it uses, so a typo never looks
        like a host without such devices.
      - Cannot be combined with O(affected_by).
    type: str
    choices: [system, pci, usb_device, usb, net, scsi_host, scsi_target, scsi, storage, fc_host, vports,
              scsi_generic, drm, mdev_types, mdev, ccw, css, vdpa, ap_card, ap_queue, ap_matrix, vpd]
  passthrough:
    description:
      - When true, only devices eligible for passthrough. False applies no filter.
      - Cannot be combined with O(affected_by).
    type: bool
  affected_by:
    description:
      - Name of a node device. Lists the devices a passthrough of it takes from the host.
      - For a PCI device in an IOMMU group, the other members of its group with all their
        child devices, plus its own children. For a PCI device on a host without IOMMU groups,
        its children (Kimchi's fallback). For a USB or SCSI device, its children only, since
        IOMMU groups do not apply to them.
      - An unknown name fails, naming it.
    type: str
notes:
  - Without a udev daemon, libvirt lists no C(usb_device) and no C(storage) devices; the sysfs
    reader lists them anyway.
  - One libvirt connection serves the whole run and is closed afterwards. Work is linear in
    the number of devices.
seealso:
  - name: libvirt node device XML
    description: The node devices as libvirt describes them, which O(source=libvirt) reads.
    link: https://libvirt.org/formatnode.html
'''

EXAMPLES = r'''
- name: Gather the host's devices
  virt.hostdev.hostdev_facts:

- name: Show the eligible GPUs whose IOMMU group holds nothing else
  ansible.builtin.debug:
    msg: "{{ item.name }} ({{ item.pci.product }})"
  loop: "{{ ansible_facts.hostdev.devices | selectattr('type', 'equalto', 'pci') | selectattr('passthrough.eligible') | list }}"
  when:
    - item.pci.class is match('0x03')
    - (ansible_facts.hostdev.iommu_groups | selectattr('number', 'equalto', item.iommu_group) | first).devices | length == 1

- name: List eligible PCI devices (Kimchi's /host/devices?_passthrough=true&_cap=pci)
  virt.hostdev.hostdev_facts:
    cap: pci
    passthrough: true
  register: eligible_pci

- name: What else leaves the host with this GPU
  virt.hostdev.hostdev_facts:
    affected_by: pci_0000_01_00_0
  register: affected

- name: Fail early on hosts without IOMMU
  ansible.builtin.assert:
    that: ansible_facts.hostdev.iommu.enabled
    fail_msg: "{{ ansible_facts.hostdev.iommu.hint | default('the IOMMU is off', true) }}"

- name: Read sysfs directly, without libvirt
  virt.hostdev.hostdev_facts:
    source: sysfs
'''

RETURN = r'''
devices:
  description:
    - Sorted names of the devices that match O(cap), O(passthrough) or O(affected_by); all
      device names when no filter is given.
  returned: always
  type: list
  elements: str
  sample: [pci_0000_01_00_0, pci_0000_01_00_1]
ansible_facts:
  description: Facts about the host's devices.
  returned: always
  type: complex
  contains:
    hostdev:
      description: Everything under one key. docs/hostdev_facts.md in the collection has a full reference.
      type: complex
      returned: always
      contains:
        source:
          description: The reader that ran, V(libvirt) or V(sysfs).
          type: str
          returned: always
          sample: libvirt
        iommu:
          description:
            - The host's IOMMU state. C(enabled) (bool), C(groups) (count), C(units) (IOMMU
              units in C(/sys/class/iommu)), C(kernel_args) (IOMMU-related kernel parameters as
              a dict), C(interrupt_remapping) (bool, or null when unknown),
              C(unsafe_interrupts) (vfio_iommu_type1.allow_unsafe_interrupts, or null),
              C(acs_override) (bool), C(hint) (what to do about it, or null).
          type: dict
          returned: always
          sample: {enabled: true, groups: 14, units: [dmar0], kernel_args: {intel_iommu: "on"},
                   interrupt_remapping: true, unsafe_interrupts: false, acs_override: false, hint: null}
        devices:
          description:
            - Every device, sorted by name. Each has C(name), C(type) (libvirt capability),
              C(parent), C(path), C(driver), C(children), C(iommu_group) (own, or inherited
              from the nearest PCI ancestor; null without groups), C(assigned_to) (sorted
              names of domains whose definition or live state references it),
              C(passthrough) (C(eligible) and C(reasons)), C(host_use) (what the host itself
              runs on it, such as C(mounted at /), C(swap) or C(default route)), C(assignable)
              (bool) and C(blockers) (sorted codes among C(not_eligible), C(iommu_off),
              C(iommu_group_unknown), C(group_not_viable), C(assigned_elsewhere), C(host_in_use)).
            - Per type, C(pci) (address, domain, bus, slot, function, class, vendor_id,
              product_id, vendor, product, subsystem_vendor_id, subsystem_id, iommu_group,
              numa_node, boot_vga, reset_method, sriov, mdev_types), C(usb) (bus, device,
              vendor_id, product_id, vendor, product, class), C(usb_interface), C(scsi)
              (host, bus, target, lun, type), C(scsi_host), C(scsi_target), C(net),
              C(storage).
          type: list
          elements: dict
          returned: always
        iommu_groups:
          description: The IOMMU groups sorted by number, each with the sorted names of the PCI devices in it.
          type: list
          elements: dict
          returned: always
          sample: [{number: 1, devices: [pci_0000_00_01_0, pci_0000_01_00_0, pci_0000_01_00_1]}]
        eligible:
          description: Sorted names of every device eligible for passthrough by its class and type.
          type: list
          elements: str
          returned: always
        assignable:
          description: Sorted names of the devices that can be taken now, alone, for a new domain (no blockers).
          type: list
          elements: str
          returned: always
        domains:
          description: Every domain, with C(active) and the sorted names of the host devices it references.
          type: list
          elements: dict
          returned: always
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virt.hostdev.plugins.module_utils.argspec import host_source_argument_spec
from ansible_collections.virt.hostdev.plugins.module_utils.assignment import assignability
from ansible_collections.virt.hostdev.plugins.module_utils.errors import reported_to
from ansible_collections.virt.hostdev.plugins.module_utils.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.records import NODEDEV_CAPABILITIES


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host_source_argument_spec(),
            cap=dict(type='str', choices=list(NODEDEV_CAPABILITIES)),
            passthrough=dict(type='bool'),
            affected_by=dict(type='str'),
        ),
        mutually_exclusive=[('affected_by', 'cap'), ('affected_by', 'passthrough')],
        supports_check_mode=True,
    )
    params = module.params
    with reported_to(module):
        model, used, warnings = read_host(params['source'], params['uri'], params['sysfs_root'],
                                          timeout=params['timeout'])
        if params['affected_by'] is not None:
            names = model.affected_by(params['affected_by'])
        else:
            names = model.filter_names(cap=params['cap'], passthrough=params['passthrough'])
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, devices=names, ansible_facts={'hostdev': model.facts(used, assignability(model))})


if __name__ == '__main__':
    main()
