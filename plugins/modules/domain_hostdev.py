#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: domain_hostdev
short_description: Assign host devices to a libvirt domain, validated against the host
version_added: 0.1.0
description:
  - Adds host devices (PCI, USB, SCSI, mediated devices) to a libvirt domain as C(<hostdev>) elements, or
    removes them. A mediated device (mdev) goes in as C(<hostdev mode='subsystem' type='mdev' model='vfio-pci'>)
    naming its UUID (the model is its type's device API), never managed.
  - With O(interface), PCI network devices (SR-IOV virtual functions above all) go in as
    C(<interface type='hostdev' managed='yes'>) with a MAC (given, or stable and generated) and an
    optional VLAN tag.
  - With O(pool), the module picks the devices itself, the first free ones of a pool (the VFs of a PF,
    the devices a device mapping lists on this host, or the mdevs of a type), under the host lock.
  - Before any edit, and under a host-wide lock, the host is read afresh and the whole request is
    validated. Every problem is reported at once and nothing is edited when there is one. Refused
    are unknown or ambiguous device references, devices not eligible for passthrough (with their
    reason codes), PCI devices while the host's IOMMU is off (unless O(force)), a PCI device whose
    IOMMU group cannot be read on a host that has groups, an IOMMU group
    whose other endpoint devices are neither in the domain nor free, a device or affected device
    already referenced by another domain (defined or running), a device the host itself runs on
    (a disk with a mounted filesystem or swap, the interface of the default route), directly or
    below an assigned controller (unless O(force)), any device while what the host runs on cannot be
    read (a sysfs tree without C(proc/mounts) or a route table beside it; unless O(force)), and
    hot-plug of a display controller (unless O(force)). With O(interface) also refused are a device that is
    not a network device, a device the domain has as a plain C(<hostdev>), and a MAC another domain's (or
    another of this domain's) interface uses; with O(pool), a pool that cannot be resolved or has too few
    free devices. A PF whose VFs are enabled is refused, naming its VFs and their holders (its VFs would
    vanish). A VF address the host lacks is named with the PF and VF count that would create it. An mdev
    that is defined but not active is refused (C(mdev_inactive)) unless O(mdev_start), and so is one whose
    parent is gone (C(mdev_parent_gone)).
    docs/domain_hostdev.md in the collection lists each message.
  - Edits go through libvirt's attach and detach calls with the config and live flags; the domain
    is never redefined, so everything else in its definition (secrets, metadata, other devices)
    stays as it is. Devices already in the domain are matched by their source (address, vendor and
    product, adapter, mdev UUID), not by comparing XML text, so a second run reports no change.
  - Several edits are all or nothing. When one fails, the ones already made are undone in reverse
    order and the module fails with libvirt's message and the outcome of the rollback.
  - After adding devices, every domain is read again. When another domain now holds one of them (a
    run that did not share the host lock, such as another controller or a remote O(uri)), this run
    undoes its edits and fails naming that domain, so one device never stays in two domains.
  - A journal beside the lock records the edits in progress. When a run stops half-way (libvirtd died
    between two edits, the module was killed), the next run on the domain warns about it; the same
    task completes the change, O(state=absent) undoes it. docs/domain_hostdev.md in the collection
    describes it.
author:
  - virt.hostdev developers (@virt-hostdev)
requirements:
  - libvirt-python
attributes:
  check_mode:
    support: full
    description: Validates and plans under the lock, and returns the same RV(diff) as a real run.
  diff_mode:
    support: full
    description: RV(diff) holds the domain's hostdev and hostdev interface XML before and the predicted XML after.
extends_documentation_fragment:
  - virt.hostdev.host_source
  - virt.hostdev.host_lock
options:
  domain:
    description: Name of the domain to change. It must be defined.
    type: str
    required: true
  devices:
    description:
      - The host devices, each as a node device name (V(pci_0000_01_00_0),
        V(mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_mtty)), a PCI address (V(0000:01:00.0) or V(01:00.0)),
        a USB vendor:product (V(046d:c31c)), a USB bus.device (V(1.3)) or a mediated device's UUID.
      - A reference that matches nothing, or several devices, fails, naming it and its candidates.
      - Exactly one of O(devices) and O(pool) is required.
    type: list
    elements: str
  pool:
    description:
      - Ask for O(pool.count) devices of a pool instead of naming them. The devices of the pool the domain
        already holds count first (a second run changes nothing), then the first free ones in PCI address
        order (mdevs in parent and UUID order, active ones only); free means that nothing refuses giving it to this domain (eligible, its IOMMU group viable,
        held by no other domain, not used by the host). This is decided under the host lock, so two runs
        never take the same device.
      - Not enough free devices is refused, naming the pool, how many are free and who holds the others.
      - With O(state=absent), every device of the pool the domain holds is removed (O(pool.count) is ignored).
      - A libvirt hostdev network allocates a VF when the guest starts instead; docs/virtual-functions.md in
        the collection says when that serves better.
    type: dict
    suboptions:
      pf:
        description: The PF whose VFs are the pool, as a PCI address or its network interface name (V(enp6s0)).
        type: str
      mapping:
        description:
          - A device mapping name; its entries for O(pool.host) in O(pool.mappings) are the pool (a host's entry
            may be a list of entries, one per device, or name an C(mdev_type), for every mdev of the type). Drift of
            any of them refuses the request.
        type: str
      mdev_type:
        description:
          - A mediated device type id (V(mtty-2), V(nvidia-35)); the mdevs of that type on the host are the pool.
            The mdevs themselves are made with M(virt.hostdev.mdevs).
        type: str
      parent:
        description:
          - With O(pool.mdev_type), only the mdevs of this parent, as its node device name (V(mtty_mtty)) or PCI
            address.
        type: str
      mappings:
        description: The device mapping table (the C(hostdev_mappings) variable). Required with O(pool.mapping).
        type: dict
      host:
        description: This host's name in the mappings (C(inventory_hostname)). Required with O(pool.mapping).
        type: str
      count:
        description: How many devices the domain should have from the pool.
        type: int
        default: 1
  interface:
    description:
      - Give each PCI device as C(<interface type='hostdev' managed='yes'>) with a C(<mac>) and, when
        O(interface.vlan) is set, a C(<vlan><tag/></vlan>), rather than as a C(<hostdev>). Only network
        devices (PCI class 0x02) can; a VF of a storage or GPU PF goes in without this option.
      - An interface of the same device (matched by its source address) with another MAC or VLAN is updated
        in place (detached and attached again keeping its guest address), listed in RV(updated) and shown in
        RV(diff). A device the domain has as a plain C(<hostdev>) is refused, never converted.
      - Without O(interface), a device the domain already has as an interface counts as present, and
        O(state=absent) removes it like a hostdev.
    type: dict
    suboptions:
      mac:
        description:
          - The MAC of the interface, valid only when the request names exactly one device.
          - Without it a new interface gets a stable generated MAC, the first six bytes of SHA-256 over
            C(<domain UUID>/<PCI address>) made locally administered and unicast, the same on every run and
            every controller; an existing interface keeps its own MAC.
        type: str
      vlan:
        description: The VLAN tag (0 to 4095). Not set, the interface has no C(<vlan>) (an existing tag is removed).
        type: int
  mdev_start:
    description:
      - Start each mdev of the request that is defined but not active (libvirt's node device create, as
        C(virsh nodedev-start)) before the edits, under the host lock, rather than refuse it with C(mdev_inactive).
        The mdevs started are listed in RV(started) and head RV(diff)'s after side; check mode starts nothing.
      - When the edits fail and are undone, the mdevs this run started are stopped again.
      - A pool never picks an inactive mdev; this starts the ones named, or already held by the domain.
    type: bool
    default: false
  state:
    description:
      - V(present) adds the devices the domain does not have yet; V(absent) removes the ones it has,
        each with its XML as the domain stores it.
      - Removal is not validated against the host (it never takes anything from the host).
    type: str
    choices: [present, absent]
    default: present
  include_group:
    description:
      - Also assign (or remove) the other endpoint devices of each PCI device's IOMMU group.
        Bridges in a group never need assigning and are never added.
    type: bool
    default: false
  managed:
    description:
      - Write C(managed='yes') on PCI and USB hostdevs, so libvirt detaches the device from its host
        driver when the domain starts and gives it back when it stops.
      - SCSI and mdev hostdevs are never managed; for them this option is ignored.
      - A device already in the domain is left as it is, whatever its managed mode (a warning says so).
    type: bool
    default: true
  live:
    description:
      - Also change the running domain (hot-plug or hot-unplug).
      - On a domain that is not running there is nothing live to change; only the persistent
        definition is changed and a warning says so. With O(config=false) that is an error.
      - Hot-plug of a display controller (PCI class 0x03) is refused unless O(force=true), even
        while the domain is stopped, since C(live=true) means the playbook intends a hot-plug.
    type: bool
    default: false
  config:
    description:
      - Change the persistent definition. A transient domain needs C(config=false) and C(live=true).
    type: bool
    default: true
  force:
    description:
      - Assign PCI devices although the host's IOMMU is off (the domain will not start until it is
        on), take devices the host itself uses (mounted disks, swap, the default route's interface)
        or may use (C(host_use_unknown)), and allow the hot-plug of display controllers.
      - Every other refusal stays.
    type: bool
    default: false
notes:
  - The domains are always read, and edited, through the connection to O(uri), whatever O(source).
  - The host lock is taken on the machine the module runs on, so run the module on the hypervisor
    itself for the lock to protect concurrent runs.
  - When a USB vendor:product is not unique on the host, the hostdev also names the device's bus and
    device numbers, which change when it is plugged in again.
  - libvirt may add PCI controllers to the domain to place a device; nothing else is changed.
seealso:
  - module: virt.hostdev.hostdev_facts
  - name: libvirt host device assignment
    description: The C(<hostdev>) element.
    link: https://libvirt.org/formatdomain.html#host-device-assignment
'''

EXAMPLES = r'''
- name: Give the GPU and its audio function (its whole IOMMU group) to a domain
  virt.hostdev.domain_hostdev:
    domain: gaming
    devices: ['0000:01:00.0']
    include_group: true

- name: Pass a USB keyboard by vendor:product, also to the running domain
  virt.hostdev.domain_hostdev:
    domain: desktop
    devices: ['046d:c31c']
    live: true

- name: Pass an SCSI disk (never managed)
  virt.hostdev.domain_hostdev:
    domain: backup
    devices: [scsi_0_0_0_0]

- name: Preview a change (nothing is edited)
  virt.hostdev.domain_hostdev:
    domain: router
    devices: ['04:00.0', '04:01.0']
  check_mode: true
  register: plan

- name: Remove the devices again
  virt.hostdev.domain_hostdev:
    domain: gaming
    devices: ['0000:01:00.0', '0000:01:00.1']
    state: absent

- name: Give a VF as a network interface with a MAC and VLAN 100
  virt.hostdev.domain_hostdev:
    domain: router
    devices: ['0000:06:10.0']
    interface:
      mac: '02:00:00:00:10:01'
      vlan: 100

- name: Any two free VFs of the PF enp6s0, as interfaces with generated MACs
  virt.hostdev.domain_hostdev:
    domain: ci-runner
    pool:
      pf: enp6s0
      count: 2
    interface: {}
  register: picked

- name: Any free GPU of the mapping gpu-l40s (a host's entry lists several addresses)
  virt.hostdev.domain_hostdev:
    domain: inference-1
    pool:
      mapping: gpu-l40s
      mappings: "{{ hostdev_mappings }}"
      host: "{{ inventory_hostname }}"

- name: A free mdev of type mtty-2, given by UUID to the domain
  virt.hostdev.domain_hostdev:
    domain: serial-guest
    pool:
      mdev_type: mtty-2
      parent: mtty_mtty

- name: A defined mdev, started first when it is not active
  virt.hostdev.domain_hostdev:
    domain: vgpu-desktop
    devices: [c2177883-f1bb-47f0-914d-32a22e3a8804]
    mdev_start: true

- name: Release every VF of the PF the domain holds
  virt.hostdev.domain_hostdev:
    domain: ci-runner
    pool:
      pf: enp6s0
    state: absent
'''

RETURN = r'''
devices:
  description:
    - The resolved node device names, in request order, followed by the group members O(include_group) added.
    - With O(pool), the devices chosen, the ones the domain already held first (for O(state=absent), the ones removed).
  returned: always
  type: list
  elements: str
  sample: [pci_0000_01_00_0, pci_0000_01_00_1]
added:
  description: Sorted names of the devices attached by this run (or that check mode would attach).
  returned: always
  type: list
  elements: str
  sample: [pci_0000_01_00_0]
removed:
  description: Sorted names of the devices detached by this run (or that check mode would detach).
  returned: always
  type: list
  elements: str
  sample: []
updated:
  description: Sorted names of the devices whose interface this run changed in place (another MAC or VLAN).
  returned: always
  type: list
  elements: str
  sample: []
interfaces:
  description:
    - With O(interface) and O(state=present), each device given as an interface, with C(device), C(address),
      C(mac) and C(vlan) as the domain has them after the run.
  returned: always
  type: list
  elements: dict
  sample: [{device: pci_0000_06_10_0, address: "0000:06:10.0", mac: "02:00:00:00:10:01", vlan: 100}]
affected:
  description:
    - Sorted names of the other devices the assignment takes from the host or depends on (the other
      members of the IOMMU groups and every child device).
  returned: always
  type: list
  elements: str
  sample: [pci_0000_00_01_0]
impact:
  description:
    - The affected devices that vanish from the host while the domain holds the devices (network
      interfaces, disks, USB devices under a controller), each with C(name), C(type), C(parent) and per
      type C(interface) and C(address), C(block) and C(model), C(usb) (vendor:product) and
      C(product), or C(scsi). Empty for O(state=absent).
  returned: always
  type: list
  elements: dict
  sample: [{name: net_enp2s0_a8_a1_59_00_00_01, type: net, parent: pci_0000_02_00_0, interface: enp2s0,
            address: "a8:a1:59:00:00:01"}]
diff:
  description:
    - The hostdev XML of the domain's persistent definition (or running one with O(config=false)) in
      C(before), and the predicted XML in C(after), with C(before_header) and C(after_header) naming them.
  returned: always
  type: dict
  sample: {before: "", after: "<hostdev mode=\"subsystem\" type=\"pci\" managed=\"yes\">...</hostdev>\n"}
source:
  description: The reader the devices came from, V(libvirt) or V(sysfs).
  returned: always
  type: str
  sample: libvirt
pending_unplug:
  description:
    - Sorted names of the devices a live detach (O(live=true), O(state=absent)) asked the running guest
      to release that are still in the running domain when the module returns. PCI hot-unplug needs
      the guest to acknowledge it (ACPI or PCIe native hotplug); the device leaves when the guest
      releases it or the domain stops. A warning says so for each.
  returned: always
  type: list
  elements: str
  sample: []
started:
  description:
    - Names of the mdevs this run started before its edits (O(mdev_start)), in request order; in check mode, the ones it
      would start.
  returned: always
  type: list
  elements: str
  sample: [mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_mtty]
problems:
  description: On a refusal, every problem found, each with C(code), C(device) and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{code: group_not_viable, device: pci_0000_01_00_1, message: "..."}]
rolled_back:
  description: When an edit failed, whether the edits made before it were undone.
  returned: failure
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virt.hostdev.plugins.module_utils.argspec import host_source_argument_spec
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import AssignmentRequest
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.domain_editor import assign
from ansible_collections.virt.hostdev.plugins.module_utils.errors import reported_to


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host_source_argument_spec(),
            domain=dict(type='str', required=True),
            devices=dict(type='list', elements='str'),
            pool=dict(type='dict', options=dict(
                pf=dict(type='str'),
                mapping=dict(type='str'),
                mdev_type=dict(type='str'),
                parent=dict(type='str'),
                mappings=dict(type='dict'),
                host=dict(type='str'),
                count=dict(type='int', default=1),
            ), mutually_exclusive=[('pf', 'mapping', 'mdev_type')], required_one_of=[('pf', 'mapping', 'mdev_type')],
                required_by=dict(mapping=('mappings', 'host'), parent=('mdev_type',))),
            interface=dict(type='dict', options=dict(
                mac=dict(type='str'),
                vlan=dict(type='int'),
            )),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            include_group=dict(type='bool', default=False),
            managed=dict(type='bool', default=True),
            live=dict(type='bool', default=False),
            config=dict(type='bool', default=True),
            force=dict(type='bool', default=False),
            mdev_start=dict(type='bool', default=False),
        ),
        mutually_exclusive=[('devices', 'pool')],
        required_one_of=[('devices', 'pool')],
        supports_check_mode=True,
    )
    params = module.params
    # A refusal returns the plan and its problems, a failed edit the plan and rolled_back.
    with reported_to(module):
        plan, used, warnings = assign(
            AssignmentRequest.from_params(params), params['uri'], source=params['source'],
            sysfs_root=params['sysfs_root'], check_mode=module.check_mode, timeout=params['timeout'])
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=plan.changed, **plan.result(used))


if __name__ == '__main__':
    main()
