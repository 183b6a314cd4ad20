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
  - Eligibility depends on the device alone. Eligible types are C(pci), C(usb_device),
    C(scsi) and C(mdev). Not eligible, each with a reason code, are PCI bridges (class 0x06,
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
      - A device, as M(virt.hostdev.domain_hostdev) takes it, by node device name (V(pci_0000_01_00_0)),
        a PCI address (V(0000:01:00.0) or V(01:00.0)), a USB vendor:product (V(046d:c31c)) or a USB
        bus.device (V(1.3)). Lists the devices a passthrough of it takes from the host.
      - For a PCI device in an IOMMU group, the other members of its group with all their
        child devices, plus its own children. For a PCI device on a host without IOMMU groups,
        its children (Kimchi's fallback). For a USB or SCSI device, its children only, since
        IOMMU groups do not apply to them.
      - An unknown reference fails, naming it and the forms it may take.
    type: str
  facts:
    description:
      - What C(ansible_facts.hostdev) holds. O(cap), O(passthrough) and O(affected_by) only choose
        RV(devices); the facts are the same whatever they say.
      - V(full) lists every device with every key.
      - V(compact) is a summary of the passthrough candidates, for fleets and fact caches (about a
        quarter of the full facts or less). It lists the devices eligible for passthrough and the other
        PCI endpoints (the members that make an IOMMU group viable or not), but no bridges, each with
        C(name), C(type), C(driver), C(iommu_group), C(assigned_to) (its holders), C(assignable),
        C(blockers), and the ids that name it in C(pci) (C(class), C(vendor_id), C(product_id),
        C(subsystem_vendor_id), C(subsystem_id)), C(usb) (C(bus), C(device), C(vendor_id),
        C(product_id)) or C(scsi). A listed device is eligible unless its C(blockers) have
        C(not_eligible). The top-level keys are those of the full facts but C(eligible) and C(kinds).
      - V(summary) names no device, for fleets of thousands of hosts and their fact caches (a few KB per host
        once parsed, set by how many kinds and models of device it has, not by how many devices). It has C(source), the IOMMU state in C(iommu) (C(enabled),
        C(groups), C(interrupt_remapping), C(hint)), and C(kinds), the PCI devices compact facts list counted by
        kind, the GPUs and accelerators also by model (vendor:product ids and the names from C(pci.ids)), each
        count with how many are assignable and the blocker codes of the others. Enough for
        C(ansible.builtin.constructed) groups such as "has a free GPU of model X". Full facts have C(kinds) too.
      - The query filters and tests, the mapping filters, the report and the roles work on full and compact facts.
        Summary facts name no device, so the filters and tests that need device names fail saying so; the report
        shows their counts.
    type: str
    choices: [full, compact, summary]
    default: full
notes:
  - Without a udev daemon, libvirt lists no C(usb_device) and no C(storage) devices; the sysfs
    reader lists them anyway.
  - One libvirt connection serves the whole run and is closed afterwards. Work is linear in
    the number of devices.
  - On a host with SR-IOV network VFs whose devices are this machine's, the module runs C(ip -j -d link show)
    (iproute2) once, for 10 seconds at most, for the settings each PF gives its VFs (C(pci.sriov.link)). Through
    a remote URI, the test driver or another host's tree it runs nothing, and those settings are unknown (null,
    with a warning), as they are when C(ip) fails or gives no VF settings.
  - A facts module. List it in the C(facts_modules) setting (C(ANSIBLE_FACTS_MODULES), or the
    C(ansible_facts_modules) variable) beside C(ansible.builtin.setup), and a play's C(gather_facts)
    gathers both in one step. Run that way, the module gets no options but those of
    C(module_defaults) for C(virt.hostdev.hostdev_facts) or C(group/virt.hostdev.hostdev), and only its
    C(ansible_facts) are kept. Give C(setup)'s options (C(gather_subset)) through C(module_defaults)
    for C(ansible.builtin.setup), not as play keywords, which C(gather_facts) would not pass on.
  - Set C(ansible_facts_parallel) to V(false) beside it, so that C(gather_facts) runs the two modules one
    after the other. In parallel, ansible-core runs each as an async job, and gives C(setup) (and any module
    when the play sets no C(gather_timeout)) an implicit limit of a few seconds (5 in ansible-core 2.19.14), after which it kills the
    job with C(Timeout exceeded); a busy controller or a host with thousands of devices reaches it
    (ansible/ansible pull request 87223).
  - With Ansible's fact cache (such as C(ansible.builtin.jsonfile)), later plays and the
    C(ansible.builtin.constructed) inventory plugin read the facts without gathering again. Inventory
    expressions see them as C(hostdev), not C(ansible_facts.hostdev).
seealso:
  - ref: ansible_collections.virt.hostdev.docsite.hostdev_facts
    description: The facts reference, on this collection's docsite; every key, the reason codes, the affected-device rules and how each reader works.
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

- name: The passthrough candidates only, for a fleet or a fact cache
  virt.hostdev.hostdev_facts:
    facts: compact

- name: Counts by kind and model, no device names, for a fleet of thousands of hosts
  virt.hostdev.hostdev_facts:
    facts: summary

- name: Say how many RTX A4000 GPUs the host can give a guest now, from summary (or full) facts
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.hostdev.kinds.gpu.models | default([]) | selectattr('name', 'search', 'RTX A4000')
         | map(attribute='assignable') | sum }} free RTX A4000

# As a facts module: setup's and hostdev's facts in one gathering step, for a whole fleet.
# (ansible.cfg can say the same: [defaults] facts_modules = ansible.builtin.setup, virt.hostdev.hostdev_facts)
- name: Gather the hypervisors' facts
  hosts: hypervisors
  gather_facts: true
  vars:
    ansible_facts_modules:
      - ansible.builtin.setup
      - virt.hostdev.hostdev_facts
    ansible_facts_parallel: false    # see the notes: in parallel, setup may be killed after 5 s
  module_defaults:
    ansible.builtin.setup:
      gather_subset: min
    virt.hostdev.hostdev_facts:
      facts: compact
  tasks:
    - name: Show the GPUs each host can give a guest now
      ansible.builtin.debug:
        msg: "{{ ansible_distribution }}: {{ ansible_facts.hostdev | virt.hostdev.hostdev_assignable('gpu') }}"
'''

RETURN = r'''
devices:
  description:
    - Sorted names of the devices that match O(cap), O(passthrough) or O(affected_by); all
      device names when no filter is given, but none with O(facts=summary) (summary facts name no device).
    - Run inside C(gather_facts), the module gets no filter, and C(gather_facts) keeps only the facts.
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
      description:
        - Everything under one key, full, compact or summary (O(facts)). docs/hostdev_facts.md in the
          collection has a full reference.
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
            - Summary facts have C(enabled), C(groups), C(interrupt_remapping) and C(hint) only.
          type: dict
          returned: always
          sample: {enabled: true, groups: 14, units: [dmar0], kernel_args: {intel_iommu: "on"},
                   interrupt_remapping: true, unsafe_interrupts: false, acs_override: false, hint: null}
        devices:
          description:
            - The devices, sorted by name. In full facts every device with every key below. In compact
              facts the devices eligible for passthrough and the other PCI endpoints (no bridges), with
              the keys returned in compact facts; the VFs of a PF are rows of its C(pci.sriov.vfs) table there,
              not devices of their own (the query filters, C(hostdev_select), the mapping filters and the
              report read them as devices).
            - A value that could not be read is null.
          type: list
          elements: dict
          returned: in full and compact facts
          contains:
            name: {description: "libvirt's node device name (V(pci_0000_01_00_0), V(usb_1_3), V(scsi_0_0_0_0), ...).",
                type: str, returned: always, sample: pci_0000_01_00_0}
            type: {description: "libvirt capability (V(pci), V(usb_device), V(usb), V(scsi), V(scsi_host), V(net), ...).",
                type: str, returned: always, sample: pci}
            parent: {description: "The parent device's name (null for the root, V(computer)).",
                type: str, returned: in full facts, sample: pci_0000_00_01_0}
            path: {description: "The sysfs path as libvirt reports it.",
                type: str, returned: in full facts, sample: "/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0"}
            driver: {description: "The bound kernel driver, or null.", type: str, returned: always, sample: nvidia}
            children: {description: Names of the devices whose parent this is., type: list, elements: str, returned: in full facts, sample: []}
            iommu_group:
              description:
                - A PCI device's own IOMMU group; any other device's is its nearest PCI ancestor's.
                  Null without one (the IOMMU off, or a PCI device whose group is unknown).
              type: int
              returned: always
              sample: 1
            assigned_to: {description: "Sorted names of the domains (defined or running) that reference the device, its holders:
                    as a C(<hostdev>), an C(<interface type='hostdev'>), or a VF a libvirt hostdev network handed to their
                    C(<interface type='network'>).",
                type: list, elements: str, returned: always, sample: ["ci-runner"]}
            held_by_network: {description: "Sorted names of the active libvirt hostdev networks (C(<forward mode='hostdev'>))
                    whose pool lists the device (a VF, by address or through its PF's C(<pf dev>)); blocker C(held_by_network).",
                type: list, elements: str, returned: in full facts, sample: ["sriov-pool"]}
            passthrough:
              description: What the device's class and type allow, from the device alone.
              type: dict
              returned: in full facts
              contains:
                eligible: {description: Whether a device of this class and type can be passed through., type: bool, returned: always, sample: true}
                reasons: {description: "Sorted reason codes when not eligible (V(pci_bridge), V(boot_vga), V(usb_hub), ...).",
                    type: list, elements: str, returned: always, sample: []}
            assignable: {description: "Whether the device can be taken now, alone, for a new domain (no blockers).",
                type: bool, returned: always, sample: false}
            blockers:
              description:
                - Sorted codes that refuse the device now, as M(virt.hostdev.domain_hostdev) would, among
                  V(not_eligible), V(iommu_off), V(iommu_group_unknown), V(group_not_viable),
                  V(assigned_elsewhere), V(host_in_use) and V(host_use_unknown) (what the host runs on could not
                  be read; every device has it).
              type: list
              elements: str
              returned: always
              sample: [group_not_viable]
            host_use: {description: "What the host itself runs on the device (V(mounted at /), V(swap), V(default route)).",
                type: list, elements: str, returned: in full facts, sample: []}
            pci:
              description: A PCI device's details.
              type: dict
              returned: for PCI devices
              contains:
                address: {description: The PCI address., type: str, returned: in full facts, sample: "0000:01:00.0"}
                domain: {description: The PCI domain., type: int, returned: in full facts, sample: 0}
                bus: {description: The bus number., type: int, returned: in full facts, sample: 1}
                slot: {description: The slot number., type: int, returned: in full facts, sample: 0}
                function: {description: The function number., type: int, returned: in full facts, sample: 0}
                class: {description: The 24-bit PCI class code., type: str, returned: always, sample: "0x030000"}
                class_name: {description: "The name of the class, from C(pci.ids) (null when the host has no name for it).",
                    type: str, returned: in full facts, sample: VGA compatible controller}
                vendor_id: {description: The vendor id., type: str, returned: always, sample: "0x10de"}
                product_id: {description: The product id., type: str, returned: always, sample: "0x24b0"}
                vendor: {description: "The vendor's name.", type: str, returned: in full facts, sample: NVIDIA Corporation}
                product: {description: "The product's name.", type: str, returned: in full facts, sample: "GA104GL [RTX A4000]"}
                subsystem_vendor_id: {description: The subsystem vendor id., type: str, returned: always, sample: "0x10de"}
                subsystem_id: {description: The subsystem id., type: str, returned: always, sample: "0x14ad"}
                iommu_group: {description: "The device's own IOMMU group.", type: int, returned: in full facts, sample: 1}
                numa_node: {description: The NUMA node., type: int, returned: in full facts, sample: 0}
                boot_vga: {description: Whether this is the boot VGA device., type: bool, returned: in full facts, sample: false}
                reset_method: {description: "The reset methods the kernel may use.",
                    type: list, elements: str, returned: in full facts, sample: ["flr", "bus"]}
                sriov:
                  description:
                    - "SR-IOV: of a physical function (PF, C(totalvfs) set) or a virtual function (VF, C(physical_function) set),
                      one shape, what does not apply null; null for a device without SR-IOV."
                    - "Compact facts keep C(totalvfs), C(numvfs), C(physical_function), C(vf_index) and C(link) with its C(mac) and C(vlan),
                      and give a PF's VFs in its C(vfs) table."
                    - "C(drivers_autoprobe), C(link) and C(vgpu) come from the host itself (sysfs, C(ip link)): null when the devices are read
                      through libvirt alone (a remote URI, the test driver) or a copy of another host's tree, with a warning for the
                      links of network VFs."
                  type: dict
                  returned: always
                  contains:
                    totalvfs: {description: "How many VFs the PF can have (C(sriov_totalvfs)); null, with a warning, when the file holds
                        no count.", type: int, returned: always, sample: 7}
                    numvfs: {description: "How many VFs the PF has now (C(sriov_numvfs), else those listed).", type: int, returned: always, sample: 4}
                    drivers_autoprobe: {description: "Whether the PF's new VFs bind to their driver at once (C(sriov_drivers_autoprobe));
                        null when unknown.", type: bool, returned: in full facts, sample: true}
                    offset: {description: "The PF's C(sriov_offset), the routing ID of its first VF less its own; with C(stride),
                        where each VF goes, created or not. null when unknown.", type: int, returned: in full facts, sample: 128}
                    stride: {description: "The PF's C(sriov_stride), the routing ID step from one VF to the next; null when
                        unknown.", type: int, returned: in full facts, sample: 2}
                    virtual_functions: {description: "The PF's VFs' PCI addresses, in VF index order.",
                        type: list, elements: str, returned: in full facts, sample: ["0000:41:10.0", "0000:41:10.2"]}
                    physical_function: {description: "A VF's PF, its PCI address.", type: str, returned: always, sample: "0000:41:00.0"}
                    vf_index: {description: "A VF's index on its PF (its C(virtfnN)); null when the PF's links and the VF's
                        disagree.", type: int, returned: always, sample: 1}
                    netdev: {description: "The function's network interface, when it has one.", type: str, returned: in full facts,
                        sample: enp65s0f0v1}
                    link:
                      description: "What a network PF says of this VF (C(ip -j -d link show) of the PF): its admin settings; null
                        for a VF of a PF without a network interface, or when they are unknown (see the warnings)."
                      type: dict
                      returned: always
                      contains:
                        mac: {description: "The MAC address the PF gives the VF (all zeros: none set).", type: str, returned: always,
                            sample: "52:54:00:6d:90:02"}
                        vlan: {description: "The VLAN tag the PF puts on the VF's traffic (0: untagged).", type: int, returned: always,
                            sample: 100}
                        qos: {description: The 802.1p priority of that VLAN (0 none)., type: int, returned: in full facts, sample: 0}
                        spoof_check: {description: "Whether the PF drops the VF's frames from another MAC; null when the driver does not say.",
                            type: bool, returned: in full facts, sample: true}
                        trust: {description: "Whether the VF is trusted (may change its MAC, promiscuous mode); null when not said.",
                            type: bool, returned: in full facts, sample: false}
                        link_state: {description: "C(auto) (follows the PF), C(enable) or C(disable).", type: str, returned: in full facts,
                            sample: auto}
                    vgpu:
                      description: "NVIDIA's vGPU attributes of a VF (its C(nvidia/) directory, driver 550+ on kernel 6.8+), or null."
                      type: dict
                      returned: in full facts
                      contains:
                        creatable_types: {description: "The vGPU types the VF can take now (C(nvidia/creatable_vgpu_types)): C(id), C(name).",
                            type: list, elements: dict, returned: always, sample: [{"id": 557, "name": "NVIDIA L4-1B"}]}
                        current_type: {description: "The id of the vGPU type the VF has (C(nvidia/current_vgpu_type)); 0 none.",
                            type: int, returned: always, sample: 0}
                    vfs:
                      description:
                        - "Compact facts only: the PF's VFs, one row per VF in VF index order, each a list of the values C(columns) names:
                          C(vf_index), C(address), C(driver), C(iommu_group), C(mac) and C(vlan) (as the link of the PF gives them, null
                          when unknown), C(assigned_to) and C(blockers) (assignable when empty). C(pci) holds the ids every row shares."
                        - "A VF whose ids differ from the PF's first VF's stays a device of its own. Null for a device without VFs
                          in a table."
                      type: dict
                      returned: in compact facts
                      sample: {columns: [vf_index, address, driver, iommu_group, mac, vlan, assigned_to, blockers],
                               pci: {class: "0x020000", vendor_id: "0x8086", product_id: "0x10ca", subsystem_vendor_id: null,
                                     subsystem_id: null},
                               rows: [[0, "0000:81:10.0", igbvf, 2, "00:00:00:00:00:00", 0, [], []],
                                      [1, "0000:81:10.1", vfio-pci, 3, "52:54:00:6d:90:02", 100, [vm], [assigned_elsewhere]]]}
                mdev_types:
                  description:
                    - "The mediated device types of a PCI mdev parent (an NVIDIA vGPU card before the VF generation, an
                      Intel GVT-g GPU), sorted by type id; null for a device that is no parent."
                    - "Compact facts keep it for a parent only, each type with C(type) and C(available_instances)."
                  type: list
                  elements: dict
                  returned: in full facts; in compact facts for a PCI mdev parent
                  contains:
                    type: {description: The type id., type: str, returned: always, sample: nvidia-35}
                    name: {description: "The type's name; null when the driver gives none (an empty name).", type: str,
                           returned: in full facts, sample: GRID M10-1B}
                    device_api: {description: The device API., type: str, returned: in full facts, sample: vfio-pci}
                    available_instances: {description: How many more mdevs of the type the parent can make now., type: int, returned: always, sample: 4}
                    description: {description: "The type's description, from sysfs (null through libvirt alone, and where the driver
                                                 gives none, as mtty).", type: str, returned: in full facts, sample: "num_heads=1, frl_config=45"}
            usb:
              description: A USB device's details.
              type: dict
              returned: for usb_device devices
              contains:
                bus: {description: The bus number., type: int, returned: always, sample: 1}
                device: {description: The device number., type: int, returned: always, sample: 3}
                vendor_id: {description: The vendor id., type: str, returned: always, sample: "0x046d"}
                product_id: {description: The product id., type: str, returned: always, sample: "0xc31c"}
                vendor: {description: "The vendor's name.", type: str, returned: in full facts, sample: "Logitech, Inc."}
                product: {description: "The product's name.", type: str, returned: in full facts, sample: Keyboard K120}
                class: {description: The USB device class (V(0x09) for hubs)., type: str, returned: in full facts, sample: "0x00"}
            usb_interface:
              description: A USB interface's numbers.
              type: dict
              returned: for usb devices (interfaces), in full facts
              contains:
                number: {description: The interface number., type: int, returned: always, sample: 0}
                class: {description: The interface class., type: int, returned: always, sample: 3}
                subclass: {description: The interface subclass., type: int, returned: always, sample: 1}
                protocol: {description: The interface protocol., type: int, returned: always, sample: 1}
            scsi:
              description: A SCSI device's address and type.
              type: dict
              returned: for scsi devices
              contains:
                host: {description: The SCSI host number., type: int, returned: always, sample: 0}
                bus: {description: The channel on the SCSI host., type: int, returned: always, sample: 0}
                target: {description: The target number., type: int, returned: always, sample: 0}
                lun: {description: The logical unit number., type: int, returned: always, sample: 0}
                type: {description: "The SCSI device type (V(disk), V(cdrom), ...).", type: str, returned: always, sample: disk}
            scsi_host:
              description: A SCSI host's numbers.
              type: dict
              returned: for scsi_host devices, in full facts
              contains:
                host: {description: The number N of C(hostN) in sysfs., type: int, returned: always, sample: 2}
                unique_id: {description: "The host's unique id.", type: int, returned: always, sample: 1}
            scsi_target:
              description: A SCSI target's name.
              type: dict
              returned: for scsi_target devices, in full facts
              contains:
                target: {description: "The target (V(target0:0:0)).", type: str, returned: always, sample: "target0:0:0"}
            net:
              description: A network interface.
              type: dict
              returned: for net devices, in full facts
              contains:
                interface: {description: The interface name., type: str, returned: always, sample: enp2s0}
                address: {description: The MAC address., type: str, returned: always, sample: "a8:a1:59:00:00:01"}
            storage:
              description: A block device.
              type: dict
              returned: for storage devices, in full facts
              contains:
                block: {description: The device node., type: str, returned: always, sample: /dev/sda}
                model: {description: The model., type: str, returned: always, sample: Samsung SSD 870}
                vendor: {description: The vendor., type: str, returned: always, sample: ATA}
                serial: {description: "The serial, from udev.", type: str, returned: always, sample: Samsung_SSD_870_EVO_1TB_S6PTNS0T123456A}
            mdev:
              description:
                - "A mediated device (mdev): one that exists on its parent (C(active)), and one only defined (libvirt's
                  C(nodedev-define) or mdevctl's definition in C(/etc/mdevctl.d)) that does not exist now. Its name is
                  libvirt's, C(mdev_<uuid>_<parent address>) with every other character made C(_), whichever the source."
                - "Who holds it is RV(ansible_facts.hostdev.devices[].assigned_to): every domain, defined or running, whose
                  definition has a C(<hostdev type='mdev'>) with its UUID. Its RV(ansible_facts.hostdev.devices[].blockers):
                  C(mdev_inactive), C(mdev_parent_gone), C(assigned_elsewhere); the IOMMU rules do not apply to it."
              type: dict
              returned: for mdev devices
              contains:
                uuid: {description: The UUID (lower case)., type: str, returned: always, sample: c2177883-f1bb-47f0-914d-32a22e3a8804}
                type: {description: The mdev type id., type: str, returned: always, sample: mtty-2}
                device_api: {description: "The type's device API (the hostdev model), from its parent's types where the source does
                                           not say it.", type: str, returned: in full facts, sample: vfio-pci}
                parent_address: {description: "The parent's sysfs name (a PCI address for a PCI parent, V(mtty) for mtty).", type: str,
                                 returned: always, sample: mtty}
                iommu_group: {description: "The mdev's own VFIO group number, or null: not an IOMMU group of the host (an emulated
                                            IOMMU's, as mtty's, exists with the IOMMU off).", type: int, returned: in full facts, sample: 14}
                active: {description: "Whether the mdev exists on its parent now (false: only defined); null when unknown.", type: bool,
                         returned: always, sample: true}
                persistent: {description: "Whether it is defined (libvirt or mdevctl), so it comes back; null when unknown (no
                                           mdevctl definitions on a read from sysfs, its definition file not understood or in
                                           a directory that cannot be listed, or a libvirt without node device state).",
                             type: bool, returned: always, sample: true}
                autostart: {description: "Whether it is started when its parent appears (mdevctl's C(start: auto)); null when
                                          unknown (a read-only libvirt connection cannot ask it: the sysfs enrichment then reads
                                          mdevctl's definitions).", type: bool, returned: always, sample: true}
            mdev_parent:
              description:
                - "A parent of mediated devices that is not a PCI device (libvirt's C(mdev_types) device: mtty's V(mtty_mtty),
                  named C(<subsystem>_<name>) as libvirt names it, a channel subsystem, an AP matrix). A PCI parent lists its
                  types in RV(ansible_facts.hostdev.devices[].pci.mdev_types)."
                - "Compact facts list every mdev parent, each type with C(type) and C(available_instances)."
              type: dict
              returned: for mdev_types devices
              contains:
                types:
                  description: Its mediated device types, with the keys of RV(ansible_facts.hostdev.devices[].pci.mdev_types).
                  type: list
                  elements: dict
                  returned: always
        iommu_groups:
          description:
            - The IOMMU groups sorted by number, each with the sorted names of the PCI devices in it
              (bridges too).
            - Compact facts leave out a group that is one listed device alone (its C(iommu_group) says it); they keep
              the groups of several devices and those with a device they leave out (a bridge).
          type: list
          elements: dict
          returned: in full and compact facts
          sample: [{number: 1, devices: [pci_0000_00_01_0, pci_0000_01_00_0, pci_0000_01_00_1]}]
        eligible:
          description: Sorted names of every device eligible for passthrough by its class and type.
          type: list
          elements: str
          returned: in full facts
        assignable:
          description: Sorted names of the devices that can be taken now, alone, for a new domain (no blockers).
          type: list
          elements: str
          returned: in full and compact facts
        domains:
          description: Every domain, with C(active) and the sorted names of the host devices it references.
          type: list
          elements: dict
          returned: in full and compact facts
        kinds:
          description:
            - The PCI devices that compact facts list, counted by kind, in this order, each kind only when the host
              has one; V(bmc_display) (the display controller of a baseboard management controller, such as
              ASPEED's, the Matrox G200 server variants or HiSilicon's iBMC), V(boot_vga) (the boot VGA device),
              V(gpu) (every other display controller), V(nic), V(nvme), V(storage), V(usb_controller),
              V(fibre_channel), V(audio), V(multimedia), V(accelerator).
            - Each kind has C(total) (devices), C(assignable) (how many can be taken now), C(held) (how many
              domains hold), C(blockers) (each blocker code of the devices that are not assignable, with how many
              devices it refuses) and C(models).
            - C(models) is for V(gpu) and V(accelerator) only (empty for the other kinds), sorted by ids. Each
              model has C(ids) (V(10de:24b0), or null when unknown), C(name) (the vendor and product names from
              C(pci.ids), or null), C(total), C(assignable) and C(blockers), counted the same way.
          type: dict
          returned: in full and summary facts
          sample: {gpu: {total: 2, assignable: 1, held: 0, blockers: {group_not_viable: 1},
                         models: [{ids: "10de:24b0", name: "NVIDIA Corporation GA104GL [RTX A4000]", total: 1,
                                   assignable: 0, blockers: {group_not_viable: 1}},
                                  {ids: "8086:4680", name: "Intel Corporation AlderLake-S GT1", total: 1,
                                   assignable: 1, blockers: {}}]},
                   nic: {total: 3, assignable: 0, held: 1, blockers: {assigned_elsewhere: 1, group_not_viable: 2},
                         models: []}}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virt.hostdev.plugins.module_utils.argspec import host_source_argument_spec
from ansible_collections.virt.hostdev.plugins.module_utils.errors import reported_to
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import Commands
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import FACTS_MODES
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import host_facts
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import NODEDEV_CAPABILITIES
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host_source_argument_spec(),
            cap=dict(type='str', choices=list(NODEDEV_CAPABILITIES)),
            passthrough=dict(type='bool'),
            affected_by=dict(type='str'),
            facts=dict(type='str', choices=list(FACTS_MODES), default='full'),
        ),
        mutually_exclusive=[('affected_by', 'cap'), ('affected_by', 'passthrough')],
        supports_check_mode=True,
    )
    params = module.params
    with reported_to(module):
        model, used, warnings = read_host(params['source'], params['uri'], params['sysfs_root'],
                                          timeout=params['timeout'], run=Commands.of(module).run)
        if params['affected_by'] is not None:
            # Every reference form, resolved as domain_hostdev resolves them.
            names = model.affected_by(model.resolve_reference(params['affected_by']))
        elif params['cap'] is None and not params['passthrough'] and params['facts'] == 'summary':
            names = []  # summary facts name no device, and a fleet's controller keeps every result
        else:
            names = model.filter_names(cap=params['cap'], passthrough=params['passthrough'])
        facts = host_facts(model, used, params['facts'])
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, devices=names, ansible_facts={'hostdev': facts})


if __name__ == '__main__':
    main()
