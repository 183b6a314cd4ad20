#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: vfio_reserve
short_description: Reserve PCI devices for guests, bound to vfio-pci by address from the next boot
version_added: 0.1.0
description:
  - Makes the host's reservation exactly O(devices) (O(state=present)), or removes it (O(state=absent)).
    The reserved PCI devices are bound to C(vfio-pci) at every boot, by address, so an identical card the
    host keeps stays on its own driver. The VFIO modules are loaded at boot and, when missing, now.
  - Before anything changes, the host is read and the reservation is validated with the checks of
    virt.hostdev.domain_hostdev, and every problem is reported at once with its code. Refused are unknown
    or ambiguous references (C(unresolved_reference)), devices that are not PCI (C(not_pci)), devices not
    eligible for passthrough (C(not_eligible); the boot VGA device only unless O(force)), a PCI device
    whose IOMMU group cannot be read (C(iommu_group_unknown)), a device the host runs on or whose
    reservation takes one from the host, such as the controller of a mounted disk or swap or the interface
    of the default route (C(host_in_use), whatever O(force) says), any device while what the host runs on
    cannot be read (C(host_use_unknown), no C(proc/mounts) or route table beside the sysfs tree, whatever
    O(force) says), and an IOMMU group that is not reserved
    whole (C(group_not_viable)), since after the reboot a member left out is bound to its host driver.
  - An IOMMU that is off is no refusal (preparing a host is how it gets turned on; see
    virt.hostdev.kernel_cmdline), nor is a device another domain holds. While the IOMMU is off the groups
    are unknown, so a warning says which functions of the same card are left out.
  - Early binding writes C(vfio-pci) into each device's C(driver_override) in the initramfs before udev
    loads any driver (an initramfs-tools C(init-top) script, or a dracut C(pre-udev) hook), so no host
    driver claims it first, not even one loaded for an identical card. The override survives the switch to
    the real root, where a udev rule sets it again for a device added later (hot-plug, a PCI rescan).
  - The initramfs is regenerated (C(update-initramfs -u -k all) or C(dracut -f --regenerate-all)) only
    when its inputs differ from those of the last successful regeneration, whose hash is kept in
    C(/var/lib/virt-hostdev/vfio-initramfs.sha256), or when a regeneration did not finish (then
    C(/var/lib/virt-hostdev/vfio-initramfs.regenerating) exists).
  - Devices change drivers at the next boot; RV(reboot_required) says whether one is not where the
    reservation puts it yet. With O(bind_now), they change drivers now as well (see there), and no reboot is
    needed for them.
  - A VF may be reserved before its PF creates it, by the address the PF gives it (the PF's C(sriov_offset) and
    C(sriov_stride) tell which addresses those are; any other address the host has no device at is refused as
    C(unresolved_reference)). A VF's udev rule moves it to vfio-pci when its PF creates it (at every boot, and
    whenever the count is set again, see virt.hostdev.sriov_vfs), since the kernel probes a new VF's driver
    before udev sees it.
author:
  - virt.hostdev developers (@virt-hostdev)
attributes:
  check_mode:
    support: full
    description: Reads, validates and plans exactly like a real run and returns the same RV(diff) and RV(commands); nothing is written or run.
  diff_mode:
    support: full
    description: RV(diff) holds every file written or removed, before and after.
extends_documentation_fragment:
  - virt.hostdev.host_source
  - virt.hostdev.host_files
  - virt.hostdev.host_lock
options:
  devices:
    description:
      - The PCI devices to reserve, each as a node device name (V(pci_0000_01_00_0)) or a PCI address
        (V(0000:01:00.0) or V(01:00.0)); the reservation becomes exactly these (with O(include_group),
        also their groups), and a device reserved before but not listed now is released.
      - Empty with O(state=present) keeps only the loading of the VFIO modules. Must be empty with
        O(state=absent).
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) makes the reservation O(devices); V(absent) removes every file a reservation wrote (and
        regenerates the initramfs without it), so the devices are back on their drivers after the next boot.
        Modules already loaded stay loaded.
    type: str
    choices: [present, absent]
    default: present
  include_group:
    description: Also reserve the other endpoint devices of each device's IOMMU group (bridges never need it).
    type: bool
    default: false
  force:
    description:
      - Reserve the boot VGA device (the host console and the firmware framebuffer lose it).
      - Every other refusal stays, C(host_in_use) and C(host_use_unknown) included, since the host would lose
        that device at every boot.
    type: bool
    default: false
  initramfs:
    description:
      - How the initramfs is built. V(auto) picks V(initramfs-tools) when C(/etc/initramfs-tools) exists,
        else V(dracut) when C(/etc/dracut.conf.d) or C(/etc/dracut.conf) exists, else V(none).
      - With V(none) the devices are bound by the udev rule of the real root only, so a host driver already
        loaded may claim them first; a warning says so.
    type: str
    choices: [auto, initramfs-tools, dracut, none]
    default: auto
  bind_now:
    description:
      - Also move the devices now, without a reboot. Each reserved device not on vfio-pci gets C(vfio-pci) in its
        C(driver_override), is unbound from its driver and probed (C(/sys/bus/pci/drivers_probe)), and is
        checked to be on vfio-pci within 10 seconds; a device released (O(state=absent), or no longer in
        O(devices)) gets its override cleared, is unbound from vfio-pci and probed, and is checked to be on
        another driver (or on none when no loaded driver claims it, with a warning saying so).
      - Refused before any change, besides the reservation's refusals, while the host uses a device now (a
        network interface of it that is up with addresses or routes, or a port of a bridge or bond,
        C(host_in_use)) or a running domain holds it (C(held_by_running_domain)).
      - When a device does not arrive, the devices this run moved are put back on their drivers, and the
        module fails naming the device and the driver it is on; the boot files stay written.
      - A device already on vfio-pci with the override is left alone, so a second run writes nothing.
    type: bool
    default: false
  command_timeout:
    description:
      - The longest each command (C(update-initramfs), C(dracut), C(modprobe)) may run, in seconds; above 0.
    type: int
    default: 600
notes:
  - The module holds the host lock that every virt.hostdev change takes (C(/run/virt-hostdev/lock), the same path
    under O(root) when it is not V(/)) from its first read to its last write, in check mode too, so two changes of
    one host never interleave.
  - O(sysfs_root) defaults to the C(sys) directory under O(root) when O(root) is not V(/), and must be under
    it, so that the devices are checked on the machine whose files are written.
  - "The files, on a Debian host: C(/etc/virt-hostdev/vfio-pci.conf) (the addresses),
    C(/etc/modules-load.d/virt-hostdev-vfio.conf), C(/etc/udev/rules.d/60-virt-hostdev-vfio.rules),
    C(/etc/initramfs-tools/hooks/virt-hostdev-vfio) and C(/etc/initramfs-tools/scripts/init-top/00-virt-hostdev-vfio);
    with dracut, C(/etc/dracut.conf.d/virt-hostdev-vfio.conf) and the module
    C(/usr/lib/dracut/modules.d/90virt-hostdev-vfio/) instead of the initramfs-tools ones."
seealso:
  - module: virt.hostdev.kernel_cmdline
  - module: virt.hostdev.domain_hostdev
  - name: The kernel's driver_override
    description: How a PCI device is given one driver by address.
    link: https://docs.kernel.org/ABI/testing/sysfs-bus-pci.html
'''

EXAMPLES = r'''
- name: Reserve one of two identical NICs for guests
  virt.hostdev.vfio_reserve:
    devices: ['0000:07:00.0']
  register: reservation

- name: Reserve a GPU with its audio function (its whole IOMMU group)
  virt.hostdev.vfio_reserve:
    devices: [pci_0000_01_00_0]
    include_group: true

- name: Preview what would be written
  virt.hostdev.vfio_reserve:
    devices: ['01:00.0', '01:00.1']
  check_mode: true
  diff: true

- name: Release every reserved device (back on their drivers after the next boot)
  virt.hostdev.vfio_reserve:
    state: absent

- name: Reserve a VF and move it to vfio-pci now, without a reboot
  virt.hostdev.vfio_reserve:
    devices: ['0000:03:10.0']
    bind_now: true
'''

RETURN = r'''
addresses:
  description: The sorted PCI addresses of the reservation, as the boot files name the devices (VFs not created yet included).
  returned: always
  type: list
  elements: str
  sample: ['0000:07:00.0']
devices:
  description: The node device names of the reservation, O(devices) first, then the group members O(include_group) added.
  returned: always
  type: list
  elements: str
  sample: [pci_0000_07_00_0]
released:
  description: The addresses reserved before this run that no longer are.
  returned: always
  type: list
  elements: str
  sample: []
initramfs:
  description: The initramfs generator used, V(initramfs-tools), V(dracut) or V(none).
  returned: always
  type: str
  sample: initramfs-tools
regenerated:
  description: Whether the initramfs was (in check mode, would be) regenerated.
  returned: always
  type: bool
loaded:
  description: The VFIO modules loaded now (to be loaded, in check mode).
  returned: always
  type: list
  elements: str
  sample: [vfio_pci]
pending:
  description:
    - The devices not yet where the reservation puts them, which the next boot moves; with O(state=present)
      reserved devices not on vfio-pci, with O(state=absent) released ones still on it.
  returned: always
  type: list
  elements: str
  sample: [pci_0000_01_00_0]
moves:
  description:
    - With O(bind_now), each device moved now (to be moved, in check mode) as C(device), C(address), C(driver) (its
      driver before), C(to) (V(vfio-pci), or V(host) for a released one) and C(driver_after) (the driver it is on
      after the move; null in check mode, or when no driver claimed a released device).
  returned: always
  type: list
  elements: dict
  sample: [{device: pci_0000_04_01_0, address: '0000:04:01.0', driver: e1000, to: vfio-pci, driver_after: vfio-pci}]
reboot_required:
  description: RV(pending) is not empty.
  returned: always
  type: bool
commands:
  description: The commands run (to be run, in check mode).
  returned: always
  type: list
  elements: list
  sample: [[/usr/sbin/update-initramfs, -u, -k, all], [/usr/sbin/modprobe, -a, vfio_pci]]
diff:
  description: Per file written or removed, C(before), C(after) and their headers; with O(bind_now), one more per device moved (its driver and driver_override).
  returned: always
  type: list
  elements: dict
source:
  description: The reader the devices came from, V(libvirt) or V(sysfs).
  returned: always
  type: str
  sample: sysfs
problems:
  description:
    - When the reservation is refused, each problem found (all of them, nothing was changed) as C(code), C(device)
      and C(message); the codes are those of virt.hostdev.domain_hostdev, C(not_pci), and with O(bind_now)
      C(held_by_running_domain).
  returned: failure
  type: list
  elements: dict
  sample: [{code: host_in_use, device: block_sdb_CT500MX500SSD1_2113E5901234, message: "..."}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virt.hostdev.plugins.module_utils.argspec import host_source_argument_spec
from ansible_collections.virt.hostdev.plugins.module_utils.errors import reported_to
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import (
    Commands,
    HostFiles,
    check_command_timeout,
    host_files_argument_spec,
)
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import host_lock
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_bind import PciBus
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_boot import (
    DEFAULT_COMMAND_TIMEOUT,
    ensure_reservation,
    reservation_sysfs_root,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_reservation import (
    INITRAMFS_KINDS,
    STATES,
    ReservationRequest,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host_source_argument_spec(),
            **host_files_argument_spec(DEFAULT_COMMAND_TIMEOUT),
            devices=dict(type='list', elements='str', default=[]),
            state=dict(type='str', default='present', choices=list(STATES)),
            include_group=dict(type='bool', default=False),
            force=dict(type='bool', default=False),
            initramfs=dict(type='str', default='auto', choices=['auto'] + list(INITRAMFS_KINDS)),
            bind_now=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    with reported_to(module):
        check_command_timeout(params['command_timeout'])
        sysfs_root = reservation_sysfs_root(params['root'], params['sysfs_root'])
    # One lock with every other virt.hostdev change, from the read to the last write.
    with reported_to(module), host_lock(root=params['root']):
        model, used, warnings = read_host(params['source'], params['uri'], sysfs_root, timeout=params['timeout'])
        tree = SysfsTree(sysfs_root or '/sys')
        outcome = ensure_reservation(
            HostFiles(params['root']), Commands.of(module), model,
            ReservationRequest(params['devices'], params['include_group'], params['force']),
            state=params['state'], initramfs=params['initramfs'], check_mode=module.check_mode,
            timeout=params['command_timeout'],
            bus=PciBus(tree) if params['bind_now'] else None)
    for warning in warnings + outcome.warnings:
        module.warn(warning)
    module.exit_json(changed=outcome.changed, source=used, **outcome.result())


if __name__ == '__main__':
    main()
