#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: sriov_vfs
short_description: Set the SR-IOV virtual functions of a physical function, now and at every boot
version_added: 0.1.0
description:
  - Gives an SR-IOV physical function (PF) O(count) virtual functions (VFs) now, through its C(sriov_numvfs)
    attribute, and at every boot through a udev rule; O(state=absent) leaves it with none and removes its rule.
  - The kernel refuses to change a count from N to M when both are above 0 (C(EBUSY)), so such a change goes
    through 0 (RV(through_zero), RV(writes) and RV(diff) say so), and every VF the PF had vanishes on the way.
  - After each count written, the module waits (at most O(wait_timeout) seconds) until the PF lists that many
    VFs (its C(virtfnN) links), and returns their addresses in RV(virtual_functions). A driver that does not
    make them in time fails the task naming the PF, the count and the VFs it lists.
  - Before anything changes, the host is read once and every problem is reported at once with its code
    (RV(problems)). Refused are a reference that names no device (C(unresolved_reference), also a device
    mapping that drifted or does not map this host), a device that is not PCI (C(not_pci)), one that is not an
    SR-IOV PF (C(not_sriov_pf), a VF included), a count above the PF's C(sriov_totalvfs)
    (C(count_above_total)), a count change on a PF with no driver bound (C(no_pf_driver)), since its driver
    makes the VFs; a count change while a VF that vanishes is held by a domain or a running libvirt hostdev
    network (C(vf_assigned), naming it) or used by the host (C(vf_host_in_use)); and, unless
    O(allow_host_device), a PF the host itself runs on (its network interface carries the default route, or a
    disk below it is mounted; C(host_in_use)), or any PF while what the host runs on cannot be read
    (C(host_use_unknown)).
  - "Persistence is a udev rule in C(/etc/udev/rules.d/70-virt-hostdev-sriov.rules), one line per PF:
    C(ACTION==\"add|bind\", SUBSYSTEM==\"pci\", KERNEL==\"0000:02:00.0\", DRIVER==\"?*\",
    ATTR{sriov_drivers_autoprobe}=\"0\", ATTR{sriov_numvfs}=\"4\"). The VFs are made by the PF's driver, so
    the count can only be written once it is bound: udev does it when the driver binds, at boot and at any
    later bind (a driver reloaded), which a one-shot unit at boot would miss."
  - The rule file is the module's own; it is parsed back before it is replaced, and a line the module would not
    write is refused, naming it. It is written atomically, never through a symbolic link, with mode 0644, then
    C(udevadm control --reload) runs when udevadm exists; where udevadm has C(verify) (systemd 253 and later),
    the new rules are verified by it first.
author:
  - virt.hostdev developers (@virt-hostdev)
attributes:
  check_mode:
    support: full
    description: Reads, validates and plans exactly like a real run and returns the same RV(diff), RV(writes) and
      RV(commands); nothing is written or run.
  diff_mode:
    support: full
    description: RV(diff) holds the PF's attributes (the count, through 0 when it must) and the rule file, before
      and after.
extends_documentation_fragment:
  - virt.hostdev.host_source
  - virt.hostdev.host_files
  - virt.hostdev.host_lock
options:
  device:
    description:
      - The PF, as a PCI address (V(0000:02:00.0) or V(02:00.0)), a node device name (V(pci_0000_02_00_0)) or
        the name of its network interface (V(enp2s0)).
      - Exactly one of O(device) and O(mapping).
    type: str
  mapping:
    description:
      - The PF as a device mapping (see the device mappings guide), resolved on this host against the host as
        it is read now. A host the mapping does not cover, or a mapped device that drifted, is refused
        (C(unresolved_reference)) with every drift named.
      - A mapping whose entry for this host names mdevs (C(mdev_type)) is refused too (C(unresolved_reference)),
        since sriov_vfs manages no mdevs; M(virt.hostdev.mdevs) makes them.
    type: dict
    suboptions:
      name:
        description: The mapping's name.
        type: str
        required: true
      mappings:
        description: The mapping table, usually V({{ hostdev_mappings }}).
        type: dict
        required: true
      host:
        description: This host's name in the table, usually V({{ inventory_hostname }}).
        type: str
        required: true
  count:
    description:
      - How many VFs the PF has, from 0 to its C(sriov_totalvfs). Required with O(state=present); leave it out
        with O(state=absent).
    type: int
  state:
    description:
      - V(present) gives the PF O(count) VFs now and (with O(persistent)) at every boot; V(absent) leaves it
        with none, now and at boot, and removes its rule (the file too when it was the last).
    type: str
    choices: [present, absent]
    default: present
  drivers_autoprobe:
    description:
      - The PF's C(sriov_drivers_autoprobe), written before the VFs are made. V(false) leaves new VFs without a
        driver (to bind them to vfio-pci), V(true) lets their own driver (C(igbvf), C(iavf), ...) take them.
      - It applies to VFs made afterwards; VFs the PF already has keep their drivers (a warning says so).
      - Unset leaves the attribute as it is (the kernel's default is V(true)) and out of the rule.
    type: bool
  persistent:
    description:
      - Keep the count at every boot with the udev rule. V(false) sets it now only and removes the PF's rule,
        so the PF comes up with no VFs after the next boot.
    type: bool
    default: true
  allow_host_device:
    description:
      - Change a PF the host itself runs on (its interface carries the default route, a disk below it is mounted),
        or any PF while that cannot be read. Many drivers reset the PF when its VFs change, so the host loses it
        for a moment (its network connection, say).
    type: bool
    default: false
  wait_timeout:
    description:
      - The longest the module waits for each count written to take effect (the write itself, and the VFs to
        be listed), in seconds; above 0.
    type: int
    default: 120
  command_timeout:
    description: The longest C(udevadm) may run, in seconds; above 0.
    type: int
    default: 60
notes:
  - The module holds the host lock that every virt.hostdev change takes (C(/run/virt-hostdev/lock), the same path
    under O(root) when it is not V(/)) from its read of the host to its last write, in check mode too, so two
    changes of one host never interleave.
  - O(sysfs_root) defaults to the C(sys) directory under O(root) when O(root) is not V(/), and must be under it.
    A O(uri) of another machine or the test driver is refused unless O(source=sysfs), since the VFs changed are this
    machine's.
  - "Limits of the udev rule: a PF whose driver is not bound at boot gets no VFs (the rule waits for the bind);
    a driver that resets its VFs without unbinding (some do on a firmware reset) loses them until the next bind;
    and a count changed by hand is set back at the next bind."
seealso:
  - module: virt.hostdev.hostdev_facts
  - module: virt.hostdev.vfio_reserve
  - name: The kernel's SR-IOV attributes
    description: sriov_numvfs, sriov_totalvfs and sriov_drivers_autoprobe.
    link: https://docs.kernel.org/ABI/testing/sysfs-bus-pci.html
'''

EXAMPLES = r'''
- name: Give the X710 four VFs, now and at every boot, left without a driver for vfio-pci
  virt.hostdev.sriov_vfs:
    device: '0000:41:00.0'
    count: 4
    drivers_autoprobe: false
  register: vfs                          # vfs.virtual_functions: their addresses

- name: The same PF by its network interface, previewed
  virt.hostdev.sriov_vfs:
    device: enp65s0f0
    count: 8
  check_mode: true
  diff: true

- name: A PF named by a device mapping
  virt.hostdev.sriov_vfs:
    mapping:
      name: nic-x710
      mappings: "{{ hostdev_mappings }}"
      host: "{{ inventory_hostname }}"
    count: 4

- name: No VFs, now and at boot
  virt.hostdev.sriov_vfs:
    device: '0000:41:00.0'
    state: absent
'''

RETURN = r'''
device:
  description: The PF's node device name.
  returned: always
  type: str
  sample: pci_0000_41_00_0
pf:
  description: The PF's PCI address.
  returned: always
  type: str
  sample: '0000:41:00.0'
before:
  description: How many VFs the PF had.
  returned: always
  type: int
  sample: 2
after:
  description: How many VFs the PF has now (would have, in check mode).
  returned: always
  type: int
  sample: 4
through_zero:
  description: The count changed from one above 0 to another, so it went through 0 and every VF was made again.
  returned: always
  type: bool
drivers_autoprobe:
  description: The PF's C(sriov_drivers_autoprobe) after the run; null when it was not read and not set.
  returned: always
  type: bool
writes:
  description: The attributes of the PF written (to be written, in check mode), in order, as C(attribute) and C(value).
  returned: always
  type: list
  elements: dict
  sample: [{attribute: sriov_numvfs, value: 0}, {attribute: sriov_numvfs, value: 4}]
virtual_functions:
  description: The PF's VF addresses after the run; null in check mode when the count would change.
  returned: always
  type: list
  elements: str
  sample: ['0000:41:02.0', '0000:41:02.1']
files:
  description: The files written or removed (to be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/udev/rules.d/70-virt-hostdev-sriov.rules]
commands:
  description: The commands run (to be run, in check mode) besides C(udevadm --version).
  returned: always
  type: list
  elements: list
  sample: [[/usr/bin/udevadm, control, --reload]]
diff:
  description: The PF's attributes and each file changed, C(before), C(after) and their headers.
  returned: always
  type: list
  elements: dict
source:
  description: The reader the devices came from, V(libvirt) or V(sysfs).
  returned: always
  type: str
  sample: sysfs
problems:
  description: When the run is refused, each problem found (all of them; nothing was changed) as C(code), C(device)
    and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{code: vf_assigned, device: pci_0000_41_02_0, message: "..."}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virt.hostdev.plugins.module_utils.argspec import host_source_argument_spec
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, reported_to
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import (
    Commands,
    HostFiles,
    check_command_timeout,
    host_files_argument_spec,
)
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import host_lock
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.sriov_apply import (
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    ensure_vfs,
    local_sysfs,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.sriov_count import (
    STATES,
    VfRequest,
    check_request,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host_source_argument_spec(),
            **host_files_argument_spec(DEFAULT_COMMAND_TIMEOUT),
            device=dict(type='str'),
            mapping=dict(type='dict', options=dict(
                name=dict(type='str', required=True),
                mappings=dict(type='dict', required=True),
                host=dict(type='str', required=True),
            )),
            count=dict(type='int'),
            state=dict(type='str', default='present', choices=list(STATES)),
            drivers_autoprobe=dict(type='bool'),
            persistent=dict(type='bool', default=True),
            allow_host_device=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=DEFAULT_WAIT_TIMEOUT),
        ),
        mutually_exclusive=[('device', 'mapping')],
        required_one_of=[('device', 'mapping')],
        required_if=[('state', 'present', ('count',))],
        supports_check_mode=True,
    )
    params = module.params
    request = VfRequest(device=params['device'], count=params['count'], state=params['state'],
                        drivers_autoprobe=params['drivers_autoprobe'], persistent=params['persistent'],
                        allow_host_device=params['allow_host_device'], mapping=params['mapping'])
    with reported_to(module):
        check_command_timeout(params['command_timeout'])
        if params['wait_timeout'] <= 0:
            raise HostdevError('wait_timeout must be a number of seconds above 0, not %d' % params['wait_timeout'])
        check_request(request)
        sysfs_root = local_sysfs(params['uri'], params['source'], params['root'], params['sysfs_root'])
    # One lock with every other virt.hostdev change, from the read to the last write.
    with reported_to(module), host_lock(root=params['root']):
        model, used, warnings = read_host(params['source'], params['uri'], sysfs_root, timeout=params['timeout'])
        outcome = ensure_vfs(HostFiles(params['root']), Commands.of(module), model, SysfsTree(sysfs_root), request,
                             check_mode=module.check_mode, timeout=params['command_timeout'],
                             wait_timeout=params['wait_timeout'])
    for warning in warnings + outcome.warnings:
        module.warn(warning)
    module.exit_json(changed=outcome.changed, source=used, **outcome.result())


if __name__ == '__main__':
    main()
