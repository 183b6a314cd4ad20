#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: mdevs
short_description: Create, keep and remove mediated devices (mdevs, vGPUs) of a type on a host
version_added: 0.1.0
description:
  - Gives a host a set of mediated devices (mdevs) of one type (an NVIDIA vGPU profile such as C(nvidia-35), an
    Intel GVT-g type, C(mtty-2) of the mtty sample driver, ...), O(count) of them named by O(name), whose UUIDs are
    derived from the name (the same on every run and every host), or the O(uuids) given.
  - An mdev of the set that exists keeps its parent; a missing one is placed on O(parent), or on any device of the
    host offering the type with available instances, by O(placement). With a O(name), derived UUIDs at an index at or
    above O(count) are removed (lowering O(count) removes the last ones); O(state=absent) removes them all.
  - O(persistent=true) defines each mdev (it is kept across reboots, and started with its parent when O(autostart))
    through libvirt's node device driver (C(virsh nodedev-define), C(nodedev-start), C(nodedev-autostart)) where
    the host is read through libvirt 7.3 or later and mdevctl is installed, and through C(mdevctl) otherwise.
    O(persistent=false) makes transient mdevs (gone at the next reboot), through libvirt or C(mdevctl) when there,
    else by writing the UUID to the parent's C(mdev_supported_types/<type>/create) in sysfs. RV(method) says which.
  - After each start or stop, the module waits (at most O(wait_timeout) seconds) until the mdev appears in, or
    leaves, C(/sys/bus/mdev/devices).
  - Before anything changes, the host is read once and every problem is reported at once with its code
    (RV(problems)). Refused are a O(parent) that is not on the host, or an mdev of the set whose parent is gone
    (C(mdev_parent_gone)), a O(parent) that makes no mdevs (C(not_mdev_parent)), a type no parent in question offers
    (C(type_not_offered)), fewer available instances than the run needs (C(not_enough_instances), naming how many
    each parent has), a parent whose other type already has instances and offers this one with 0 available
    (C(type_conflict), since vendor drivers take one type per GPU at a time), an mdev of the set that exists with another
    type or on another parent than O(parent) (C(uuid_type_mismatch)), removing or changing an mdev a domain holds,
    defined or running (C(mdev_held), naming it), a run that needs to define, start, autostart or undefine an mdev
    where neither libvirt's node device driver nor mdevctl is there (C(no_persistence)), and an action that depends
    on a state of an mdev its reader could not tell and the host does not tell either (C(mdev_state_unknown); the
    module reads C(/sys/bus/mdev/devices) and mdevctl's definitions first, and never guesses).
  - When the run leaves an mdev of the set with autostart, the udev rule C(60-mdevctl.rules) that starts it at boot is
    checked (the one udev uses, C(/etc/udev/rules.d) first, then C(/run/udev/rules.d), C(/usr/local/lib/udev/rules.d),
    C(/usr/lib/udev/rules.d) and C(/lib/udev/rules.d), under O(root)). Where its C(RUN+=) lines run an mdevctl that is
    not there (Debian 12's mdevctl 1.2.0 installs C(/usr/bin/mdevctl) and runs C(/usr/sbin/mdevctl)), the module writes
    C(/etc/udev/rules.d/60-mdevctl.rules), which masks it, with the packaged text and the path found, then runs
    C(udevadm control --reload) (RV(udev_rule_repaired)). No such rule, a rule naming no mdevctl path, an override of
    someone else naming a missing one, a rule masked with a symbolic link to C(/dev/null) (left as it is), or no
    mdevctl at all is refused (C(autostart_broken)).
author:
  - virt.hostdev developers (@virt-hostdev)
attributes:
  check_mode:
    support: full
    description: Reads, validates and plans exactly like a real run and returns the same RV(mdevs), RV(actions),
      RV(commands) and RV(diff); nothing is changed.
  diff_mode:
    support: full
    description: RV(diff) lists the set's mdevs before and after, one line each (type, parent, active, defined,
      autostart).
extends_documentation_fragment:
  - virt.hostdev.host_source
  - virt.hostdev.host_files
  - virt.hostdev.host_lock
options:
  name:
    description:
      - The set's name. Its mdevs' UUIDs are derived from it (a UUID version 5 of C(<name>/<index>), index 0 to
        O(count) - 1), so a rerun, or another host, finds the same ones.
      - Exactly one of O(name) and O(uuids).
    type: str
  uuids:
    description:
      - The set's mdevs by UUID, in order. O(count) is their number.
    type: list
    elements: str
  type:
    description:
      - The mdev type id, as the parent's C(mdev_supported_types) lists it (C(nvidia-35), C(i915-GVTg_V5_4),
        C(mtty-2)). Required with O(state=present); ignored with O(state=absent).
    type: str
  count:
    description:
      - How many mdevs the named set has, 0 or more; 1 when unset. With O(uuids), their number (leave it out).
      - Ignored with O(state=absent), which removes every mdev of the name.
    type: int
  parent:
    description:
      - The device that makes the new mdevs, as a node device name (V(mtty_mtty), V(pci_0000_41_00_0)), a PCI
        address (V(0000:41:00.0)) or its sysfs name (V(mtty)). Unset, any device of the host offering O(type).
      - An mdev of the set on another parent is refused (C(uuid_type_mismatch)), never moved.
    type: str
  placement:
    description:
      - Where missing mdevs go when O(parent) is unset, among the parents offering O(type) with available instances.
        V(fill) fills the first parent (in node device name order) before the next one; V(spread) puts each on the
        parent with the fewest mdevs of the set (one per parent, round robin).
    type: str
    choices: [fill, spread]
    default: fill
  persistent:
    description:
      - V(true) defines each mdev, so it is kept across reboots (libvirt or mdevctl). V(false) leaves them transient,
        and undefines an mdev of the set that was defined (it stays active until the next reboot).
    type: bool
    default: true
  autostart:
    description:
      - Start each mdev when its parent appears (at boot). Needs O(persistent=true). Unset follows O(persistent).
    type: bool
  state:
    description:
      - V(present) gives the set its mdevs, active; V(absent) stops and undefines every mdev of the set (of the name
        at any index, or the O(uuids)).
    type: str
    choices: [present, absent]
    default: present
  wait_timeout:
    description:
      - The longest the module waits for each mdev started to appear, or stopped to go, in seconds; above 0.
    type: int
    default: 30
  command_timeout:
    description: The longest each C(mdevctl) command may run, in seconds; above 0.
    type: int
    default: 60
notes:
  - The module holds the host lock that every virt.hostdev change takes (C(/run/virt-hostdev/lock), the same path
    under O(root) when it is not V(/)) from its read of the host to its last action, in check mode too, so two
    changes of one host never interleave.
  - A O(uri) of another machine or the test driver is refused unless O(source=sysfs), since the mdevs changed are this
    machine's. O(sysfs_root) defaults to the C(sys) directory under O(root) when O(root) is not V(/).
  - libvirt's node device driver runs mdevctl itself; on a host without mdevctl, libvirt can neither define nor create
    mdevs, so only transient ones are made, through sysfs.
  - With the devices read through libvirt, the whole run (the read and every action, with its waits) is bounded by
    O(timeout). When it passes, the task fails saying what was under way (reading the host, with nothing changed, or
    the action and the way, with the actions done before it) and the run takes no further action; the next run
    completes the set. With O(source=auto), a daemon that does not answer is waited for once, then the devices are
    read from sysfs.
  - A type change of an mdev is refused (C(uuid_type_mismatch)); remove it first (O(state=absent)), then create it.
  - Available instances are counted as the host reports them before the run; an instance freed by a removal in the
    same run is counted for the same type on the same parent only.
seealso:
  - module: virt.hostdev.hostdev_facts
  - module: virt.hostdev.domain_hostdev
  - name: The kernel's VFIO mediated device framework
    description: mdev_supported_types, create and remove.
    link: https://docs.kernel.org/driver-api/vfio-mediated-device.html
'''

EXAMPLES = r'''
- name: Two dual-port mtty mdevs, defined and started at every boot, wherever there is room
  virt.hostdev.mdevs:
    name: lab-serial
    type: mtty-2
    count: 2
  register: serial                      # serial.mdevs: their UUIDs, names and parents

- name: One vGPU per GPU across the host's GPUs, previewed
  virt.hostdev.mdevs:
    name: vgpu-a
    type: nvidia-35
    count: 4
    placement: spread
  check_mode: true
  diff: true

- name: Given UUIDs on one parent, transient (gone at the next reboot)
  virt.hostdev.mdevs:
    uuids: [4b20d080-1b54-4048-85b3-a6a62d165c01]
    type: mtty-1
    parent: mtty_mtty
    persistent: false

- name: Remove every mdev of the name
  virt.hostdev.mdevs:
    name: lab-serial
    state: absent
'''

RETURN = r'''
mdevs:
  description: The set's mdevs after the run (would be, in check mode), in index order; empty with O(state=absent).
  returned: always
  type: list
  elements: dict
  contains:
    uuid:
      description: The mdev's UUID.
      type: str
    name:
      description: Its node device name, as libvirt names it (C(mdev_<uuid>_<parent>), non-alphanumerics made C(_)).
      type: str
    parent:
      description: Its parent's node device name.
      type: str
    type:
      description: Its mdev type id.
      type: str
    active:
      description: Whether it exists on its parent now.
      type: bool
    persistent:
      description: Whether it is defined (kept across reboots).
      type: bool
    autostart:
      description: Whether it starts when its parent appears.
      type: bool
  sample: [{uuid: 5e3b9e2c-9c47-5d0b-8f8f-1c6f4a3f1a10, name: mdev_5e3b9e2c_9c47_5d0b_8f8f_1c6f4a3f1a10_mtty,
            parent: mtty_mtty, type: mtty-2, active: true, persistent: true, autostart: true}]
udev_rule_repaired:
  description: The udev rule written (to be written, in check mode) so that autostart mdevs start at boot - C(path)
    (the override written), C(masks) (the rule it replaces) and C(replaced) (each missing mdevctl path and the one
    used instead); null when the rule needs nothing.
  returned: always
  type: dict
  sample: {path: /etc/udev/rules.d/60-mdevctl.rules, masks: /usr/lib/udev/rules.d/60-mdevctl.rules,
           replaced: {/usr/sbin/mdevctl: /usr/bin/mdevctl}}
removed:
  description: The mdevs removed (to be removed, in check mode), as they were, with the keys of RV(mdevs).
  returned: always
  type: list
  elements: dict
actions:
  description: The actions taken (to be taken, in check mode), in order, each with C(action) (V(create), V(define),
    V(autostart), V(start), V(stop), V(undefine)), C(uuid), C(parent), C(type) and C(autostart).
  returned: always
  type: list
  elements: dict
  sample: [{action: define, uuid: 5e3b9e2c-9c47-5d0b-8f8f-1c6f4a3f1a10, parent: mtty_mtty, type: mtty-2,
            autostart: true}]
method:
  description: The way the actions are taken, V(libvirt), V(mdevctl) or V(sysfs); null when nothing changes.
  returned: always
  type: str
  sample: mdevctl
commands:
  description: Each action as run (to be run, in check mode) - C(udevadm control --reload) after a udev rule is
    written, an C(mdevctl) command, a libvirt call and the node
    device name, or C(write), the sysfs file and the text.
  returned: always
  type: list
  elements: list
  sample: [[/usr/sbin/mdevctl, define, --uuid, 5e3b9e2c-9c47-5d0b-8f8f-1c6f4a3f1a10, --parent, mtty, --type, mtty-2,
            --auto]]
diff:
  description: The set's mdevs before and after, C(before), C(after) and their headers.
  returned: always
  type: list
  elements: dict
source:
  description: The reader the devices came from, V(libvirt) or V(sysfs).
  returned: always
  type: str
  sample: libvirt
problems:
  description: When the run is refused, each problem found (all of them; nothing was changed) as C(code), C(device)
    and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{code: not_enough_instances, device: mtty_mtty, message: "..."}]
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
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.mdev_apply import (
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    local_sysfs,
    run_mdevs,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.mdev_plan import (
    PLACEMENTS,
    STATES,
    MdevRequest,
    check_request,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host_source_argument_spec(),
            **host_files_argument_spec(DEFAULT_COMMAND_TIMEOUT),
            name=dict(type='str'),
            uuids=dict(type='list', elements='str'),
            type=dict(type='str'),
            count=dict(type='int'),
            parent=dict(type='str'),
            placement=dict(type='str', default='fill', choices=list(PLACEMENTS)),
            persistent=dict(type='bool', default=True),
            autostart=dict(type='bool'),
            state=dict(type='str', default='present', choices=list(STATES)),
            wait_timeout=dict(type='int', default=DEFAULT_WAIT_TIMEOUT),
        ),
        mutually_exclusive=[('name', 'uuids')],
        required_one_of=[('name', 'uuids')],
        required_if=[('state', 'present', ('type',))],
        supports_check_mode=True,
    )
    params = module.params
    request = MdevRequest(name=params['name'], uuids=params['uuids'], type=params['type'], count=params['count'],
                          parent=params['parent'], placement=params['placement'], persistent=params['persistent'],
                          autostart=params['autostart'], state=params['state'])
    with reported_to(module):
        check_command_timeout(params['command_timeout'])
        if params['wait_timeout'] <= 0:
            raise HostdevError('wait_timeout must be a number of seconds above 0, not %d' % params['wait_timeout'])
        check_request(request)
        sysfs_root = local_sysfs(params['uri'], params['source'], params['root'], params['sysfs_root'])
    # One lock with every other virt.hostdev change, from the read to the last action.
    with reported_to(module), host_lock(root=params['root']):
        outcome, used, warnings = run_mdevs(request, params['uri'], params['source'], sysfs_root,
                                            Commands.of(module), HostFiles(params['root']), check_mode=module.check_mode,
                                            timeout=params['timeout'], command_timeout=params['command_timeout'],
                                            wait_timeout=params['wait_timeout'])
    for warning in warnings + outcome.plan.warnings:
        module.warn(warning)
    module.exit_json(changed=outcome.changed, source=used, **outcome.result())


if __name__ == '__main__':
    main()
