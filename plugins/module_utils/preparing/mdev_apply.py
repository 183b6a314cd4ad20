# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: give a set of mediated devices its state (mdevs module), in one of three ways.

``ensure_mdevs()`` plans everything first (mdev_plan.plan_mdevs: the actions, the way and every
refusal), then, outside check mode, takes the actions in order, each checked after it (the mdev
appears in /sys/bus/mdev/devices, or is gone, within a bound). The ways, best first:

- libvirt (the host read through libvirt 7.3 or later, with mdevctl on the host, which libvirt's
  node device driver runs): virNodeDeviceDefineXML, create, setAutostart, destroy, undefine;
- mdevctl: ``mdevctl define|start|modify|stop|undefine``, each under a time limit;
- sysfs (transient mdevs only): the UUID written to the parent's
  ``mdev_supported_types/<type>/create``, ``1`` to ``/sys/bus/mdev/devices/<uuid>/remove``, never
  through a link (vfio_bind.PciBus.write).

With any mdev of the set left with autostart, the udev rule that starts it at boot is checked
first (mdev_autostart): where it runs an mdevctl that is not there, /etc/udev/rules.d's override
is written (HostFiles: atomic, never through a link) and udev reloaded, before any mdev changes.
Removals run first, then each member in index order: a failure half-way leaves every member done
so far as asked, and the rest as it was (a defined mdev not yet started is started by the next run).
The caller holds the host lock from its read to the last action.
"""

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import Commands, FileChange, HostFiles
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import (
    HAS_LIBVIRT,
    DeadlineExceeded,
    connection,
    ensure_not_cancelled,
    libvirt_call,
    translated,
    within_deadline,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import mdev_name
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import problems_message
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.mdev_autostart import (
    MASK_TARGET,
    OVERRIDE,
    RULE_DIRS,
    RULE_NAME,
    RulePlan,
    plan_rule,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.mdev_known import filed_unknown, known_states
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.mdev_plan import (
    MdevAction,
    MdevPlan,
    MdevRequest,
    plan_mdevs,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_bind import PciBus
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_boot import reservation_sysfs_root
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host, uri_is_local_hypervisor
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

DEFAULT_COMMAND_TIMEOUT = 60
DEFAULT_WAIT_TIMEOUT = 30
# libvirt's node device driver defines, starts and autostarts mdevs (through mdevctl) since 7.3.
LIBVIRT_DEFINE_SINCE = 7003000
PUBLIC_KEYS = ('uuid', 'name', 'parent', 'type', 'active', 'persistent', 'autostart')


@dataclass
class MdevOutcome:
    """What ensure_mdevs found and did (or would do, in check mode)."""

    plan: MdevPlan
    commands: List[List[str]] = field(default_factory=list)
    rule: RulePlan = field(default_factory=RulePlan)
    rule_change: Optional[FileChange] = None

    @property
    def changed(self) -> bool:
        return bool(self.plan.actions) or bool(self.rule_change and self.rule_change.changed)

    def result(self) -> Dict[str, Any]:
        plan = self.plan
        diff = ([mdevs_diff(plan)] if plan.actions else []) + (
            [self.rule_change.diff()] if self.rule_change and self.rule_change.changed else [])
        return dict(mdevs=[_public(item) for item in plan.mdevs], removed=[_public(item) for item in plan.removed],
                    actions=[action.result() for action in plan.actions], method=plan.method,
                    commands=self.commands, diff=diff, udev_rule_repaired=self.rule.repaired)


def _public(entry: Dict[str, Any]) -> Dict[str, Any]:
    return dict((key, entry.get(key)) for key in PUBLIC_KEYS)


def available_methods(commands: Commands, conn: Any = None, library_version: Optional[int] = None) -> List[str]:
    """The ways this host has, best first: libvirt (a connection to libvirt 7.3 or later, and mdevctl, which
    its node device driver runs), mdevctl, sysfs (always: the kernel's own files)."""
    methods = []
    mdevctl = commands.find('mdevctl')
    if conn is not None and mdevctl:
        if library_version is None:
            with translated('cannot ask libvirt its version'):
                library_version = conn.getLibVersion()
        if library_version >= LIBVIRT_DEFINE_SINCE:
            methods.append('libvirt')
    if mdevctl:
        methods.append('mdevctl')
    return methods + ['sysfs']


def local_sysfs(uri: str, source: str, root: str, sysfs_root: Optional[str]) -> str:
    """The sysfs tree whose mdevs change: this machine's (sysfs_root, else the sys directory under a root other
    than /, else /sys). A URI of another machine (or the test driver) is refused: mdevctl and the kernel's files
    here change this machine's mdevs, not the ones that URI describes."""
    if source != 'sysfs' and not uri_is_local_hypervisor(uri):
        raise HostdevError('mdevs changes the mediated devices of this machine, which %s does not describe: run it '
                           'on the host itself (its default uri), or with source: sysfs' % uri)
    return reservation_sysfs_root(root, sysfs_root) or '/sys'


def run_mdevs(request: MdevRequest, uri: str, source: str, sysfs_root: str, commands: Commands, files: HostFiles,
              check_mode: bool = False, timeout: float = 120, command_timeout: int = DEFAULT_COMMAND_TIMEOUT,
              wait_timeout: float = DEFAULT_WAIT_TIMEOUT) -> Tuple[MdevOutcome, str, List[str]]:
    """One run: the host read once (through one libvirt connection, kept for the libvirt way), the ways it has,
    then ensure_mdevs. (outcome, the source the devices came from, warnings)."""
    steps: List[Tuple[Optional[str], str]] = []  # (way, step) of each change begun, for a message at the deadline

    def session(conn: Any, fallback: Optional[str] = None) -> Tuple[MdevOutcome, str, List[str]]:
        if fallback:  # libvirt did not answer already: asking it again would wait a second timeout
            model, used, warnings = read_host('sysfs', uri, sysfs_root)
            warnings = ['%s; read devices from sysfs instead' % fallback] + warnings
        else:
            model, used, warnings = read_host(source, uri, sysfs_root, conn=conn, timeout=timeout)
        methods = available_methods(commands, conn if used == 'libvirt' else None)
        outcome = ensure_mdevs(model, request, SysfsTree(sysfs_root), commands, methods, conn=conn, files=files,
                               check_mode=check_mode, timeout=command_timeout, wait_timeout=wait_timeout,
                               steps=steps)
        return outcome, used, warnings

    if source == 'sysfs' or (source == 'auto' and not HAS_LIBVIRT):
        return session(None)
    connected = []

    def through_libvirt() -> Tuple[MdevOutcome, str, List[str]]:
        with connection(uri) as conn:
            connected.append(conn)
            return session(conn)
    try:
        return within_deadline(through_libvirt, uri, timeout)
    except DeadlineExceeded as error:
        if source != 'auto' or connected:
            raise late(error, steps, uri, timeout) from None
        reason = error.message
    except HostdevError as error:
        if source != 'auto' or connected:
            raise
        reason = error.message
    # auto, and libvirt does not answer here: the devices come from sysfs, saying why
    return session(None, fallback=reason)


def late(error: DeadlineExceeded, steps: List[Tuple[Optional[str], str]], uri: str,
         timeout: float) -> DeadlineExceeded:
    """The deadline's message with what the run was doing: the session takes no further step (ensure_mdevs)."""
    if not steps:
        return DeadlineExceeded('%s; it was reading the host, and nothing was changed' % error.message, **error.result)
    way, step = steps[-1]
    step = step if way is None else '%s, the %s way' % (step, way)
    done = ', '.join(item for _way, item in steps[:-1]) or 'nothing'
    if way == 'libvirt':
        return DeadlineExceeded('%s; it stopped answering during %s (done before it: %s): that may still '
                                'take effect when it resumes, and no further action is taken: run the task again once '
                                'it answers' % (error.message, step, done), **error.result)
    return DeadlineExceeded('the run did not finish within its timeout of %g s, which bounds the whole run when the '
                            'devices are read through libvirt (%s): %s, was under way (done before it: %s); it may still '
                            'complete, and no further action is taken: run the task again, with a larger timeout if '
                            'the host is only slow' % (timeout, uri, step, done), **error.result)


def ensure_mdevs(model: HostModel, request: MdevRequest, tree: SysfsTree, commands: Commands,
                 methods: List[str], conn: Any = None, *, files: HostFiles, check_mode: bool = False,
                 timeout: int = DEFAULT_COMMAND_TIMEOUT, wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
                 steps: Optional[List[Tuple[Optional[str], str]]] = None) -> MdevOutcome:
    """Give the set request names its state; refuse first, change after. steps: each change begun is added, as
    (way, what); in a session past its deadline (libvirt_errors.within_deadline) none begins."""
    steps = [] if steps is None else steps
    plan = plan_mdevs(model, request, methods, known_states(model, tree, 'mdevctl' in methods))
    rule = RulePlan()
    # no_persistence already says mdevctl is missing: the rule's check would say it again
    if any(item.get('autostart') for item in plan.mdevs) and 'no_persistence' not in [
            item['code'] for item in plan.problems]:
        mdevctl = commands.find('mdevctl')
        rule = plan_rule(mdevctl_rules(files), lambda path: path == mdevctl or _runnable(files, path), mdevctl)
    problems = plan.problems + rule.problems + filed_unknown(model, plan, tree)
    if problems:
        raise HostdevError(problems_message(problems), problems=problems)
    way = _way(plan.method, tree, commands, conn, timeout, wait_timeout)
    outcome = MdevOutcome(plan=plan, commands=[way.argv(action) for action in plan.actions] if way else [],
                          rule=rule, rule_change=files.plan(OVERRIDE, rule.write) if rule.write else None)
    udevadm = commands.find('udevadm') if outcome.rule_change else None
    reload = [[udevadm, 'control', '--reload']] if udevadm else []
    outcome.commands = reload + outcome.commands
    if check_mode:
        return outcome
    if outcome.rule_change:
        ensure_not_cancelled('write %s' % OVERRIDE)
        steps.append((None, 'write %s' % OVERRIDE))
        files.apply(outcome.rule_change)
        for argv in reload:
            commands.run(argv, timeout)
    if way is None:
        return outcome
    for number, action in enumerate(plan.actions):
        ensure_not_cancelled('%s %s' % (action.action, action.uuid))
        steps.append((str(plan.method), '%s %s' % (action.action, action.uuid)))
        try:
            way.take(action)
        except HostdevError as error:
            done = ', '.join('%s %s' % (item.action, item.uuid) for item in plan.actions[:number])
            raise HostdevError('%s %s failed (%s way): %s; done before it: %s' % (
                action.action, action.uuid, plan.method, error.message, done or 'nothing'))
    return outcome


def mdevctl_rules(files: HostFiles) -> List[Tuple[str, Optional[str]]]:
    """(path, text) of every 60-mdevctl.rules under the run's root, in udev's precedence; a mask (a link to
    /dev/null) is (path, None) and ends the list, since udev reads no file of the name below it."""
    found: List[Tuple[str, Optional[str]]] = []
    for directory in RULE_DIRS:
        if directory.startswith('/lib/') and os.path.islink(files.real('/lib')):
            continue  # merged /usr: /lib is /usr/lib, read already (HostFiles refuses a linked directory)
        path = '%s/%s' % (directory, RULE_NAME)
        try:
            text = files.read(path)
        except HostdevError:
            if not is_mask(files, path):
                raise  # any other link, or a linked directory, stays HostFiles' refusal
            found.append((path, None))
            break
        if text is not None:
            found.append((path, text))
    return found


def is_mask(files: HostFiles, path: str) -> bool:
    """Whether path is a symbolic link to /dev/null in a directory reached through no link below the root."""
    real = files.real(path)
    directory = os.path.dirname(real)
    below = os.path.relpath(directory, files.root)
    return (os.path.islink(real) and os.path.normpath(os.readlink(real)) == MASK_TARGET
            and os.path.realpath(directory) == os.path.join(os.path.realpath(files.root), below))


def _runnable(files: HostFiles, path: str) -> bool:
    return os.path.isfile(files.real(path)) and os.access(files.real(path), os.X_OK)


def mdevs_diff(plan: MdevPlan) -> Dict[str, str]:
    """The set before and after, one line per mdev."""
    def lines(entries: List[Dict[str, Any]]) -> str:
        return ''.join('%s: type %s on %s, %s, %s, %s\n' % (
            item['uuid'], item['type'], item['parent'] or item['parent_address'],
            'active' if item['active'] else 'inactive', 'defined' if item['persistent'] else 'transient',
            'autostart' if item['autostart'] else 'no autostart') for item in entries)
    return {'before_header': 'mediated devices', 'after_header': 'mediated devices',
            'before': lines(plan.before), 'after': lines(plan.mdevs)}


class _Way:
    """One way of taking actions, each checked on sysfs after it (bounded by wait_timeout)."""

    def __init__(self, tree: SysfsTree, wait_timeout: float) -> None:
        self.tree = tree
        self.bus = PciBus(tree, timeout=wait_timeout)

    def argv(self, action: MdevAction) -> List[str]:
        raise NotImplementedError

    def run(self, action: MdevAction) -> None:
        raise NotImplementedError

    def exists(self, uuid: str) -> bool:
        return os.path.lexists(self.tree.path('bus', 'mdev', 'devices', uuid))

    def take(self, action: MdevAction) -> None:
        self.run(action)
        if action.action in ('create', 'start'):
            self._check(action, True, 'appear in')
        elif action.action == 'stop':
            self._check(action, False, 'leave')

    def _check(self, action: MdevAction, present: bool, verb: str) -> None:
        if not self.bus.wait(lambda: self.exists(action.uuid) == present):
            raise HostdevError('mediated device %s did not %s %s within %s s' % (
                action.uuid, verb, self.tree.path('bus', 'mdev', 'devices'), self.bus.timeout))


class _Sysfs(_Way):
    """The kernel's files: create and remove, nothing that outlives a reboot."""

    def _file(self, action: MdevAction) -> str:
        if action.action == 'create':
            return self.tree.path('class', 'mdev_bus', str(action.parent_address), 'mdev_supported_types',
                                  str(action.type), 'create')
        return self.tree.path('bus', 'mdev', 'devices', action.uuid, 'remove')

    def argv(self, action: MdevAction) -> List[str]:
        return ['write', self._file(action), action.uuid if action.action == 'create' else '1']

    def run(self, action: MdevAction) -> None:
        if action.action == 'create' and self.exists(action.uuid):
            raise HostdevError('%s already exists (made by something else since the host was read)' % action.uuid)
        self.bus.write(self._file(action), action.uuid if action.action == 'create' else '1')


class _Mdevctl(_Way):
    """mdevctl's commands under a time limit."""

    def __init__(self, tree: SysfsTree, wait_timeout: float, commands: Commands, path: str, timeout: int) -> None:
        super().__init__(tree, wait_timeout)
        self.commands = commands
        self.path = path
        self.timeout = timeout

    def argv(self, action: MdevAction) -> List[str]:
        uuid = ['--uuid', action.uuid]
        where = ['--parent', str(action.parent_address), '--type', str(action.type)]
        if action.action == 'create':
            return [self.path, 'start'] + uuid + where
        if action.action == 'define':
            return [self.path, 'define'] + uuid + where + (['--auto'] if action.autostart else [])
        if action.action == 'autostart':
            return [self.path, 'modify'] + uuid + ['--auto' if action.autostart else '--manual']
        if action.action == 'undefine' and action.parent_address:
            return [self.path, 'undefine'] + uuid + ['--parent', action.parent_address]
        return [self.path, action.action] + uuid

    def run(self, action: MdevAction) -> None:
        self.commands.run(self.argv(action), self.timeout)


class _Libvirt(_Way):
    """libvirt's node device calls (its node device driver runs mdevctl)."""

    def __init__(self, tree: SysfsTree, wait_timeout: float, conn: Any) -> None:
        super().__init__(tree, wait_timeout)
        self.conn = conn

    def argv(self, action: MdevAction) -> List[str]:
        calls = {'create': 'virNodeDeviceCreateXML', 'define': 'virNodeDeviceDefineXML', 'start': 'virNodeDeviceCreate',
                 'autostart': 'virNodeDeviceSetAutostart', 'stop': 'virNodeDeviceDestroy',
                 'undefine': 'virNodeDeviceUndefine'}
        return [calls[action.action], mdev_name(action.uuid, action.parent_address)]

    def run(self, action: MdevAction) -> None:
        with translated('libvirt could not %s mediated device %s' % (action.action, action.uuid)):
            if action.action == 'create':
                self.conn.nodeDeviceCreateXML(device_xml(action), 0)
            elif action.action == 'define':
                device = self.conn.nodeDeviceDefineXML(device_xml(action), 0)
                if action.autostart:
                    device.setAutostart(1)
            else:
                device = self._device(action)
                if action.action == 'start':
                    device.create(0)
                elif action.action == 'autostart':
                    device.setAutostart(1 if action.autostart else 0)
                elif action.action == 'stop':
                    device.destroy()
                else:
                    device.undefine(0)

    def _device(self, action: MdevAction) -> Any:
        """The mdev's node device: libvirt 7.6 and later name it mdev_<uuid>_<parent>, earlier ones mdev_<uuid>."""
        device = libvirt_call(lambda: self.conn.nodeDeviceLookupByName(mdev_name(action.uuid, action.parent_address)),
                              'libvirt could not look up mediated device %s' % action.uuid, missing='default')
        return device if device is not None else self.conn.nodeDeviceLookupByName(mdev_name(action.uuid, None))


def device_xml(action: MdevAction) -> str:
    """The node device XML libvirt defines or creates an mdev from: its parent's node device name, type and UUID."""
    device = ET.Element('device')
    ET.SubElement(device, 'parent').text = action.parent
    capability = ET.SubElement(device, 'capability', {'type': 'mdev'})
    ET.SubElement(capability, 'type', {'id': str(action.type)})
    ET.SubElement(capability, 'uuid').text = action.uuid
    return ET.tostring(device, encoding='unicode')


def _way(method: Optional[str], tree: SysfsTree, commands: Commands, conn: Any, timeout: int,
         wait_timeout: float) -> Optional[_Way]:
    if method is None:
        return None
    if method == 'libvirt':
        return _Libvirt(tree, wait_timeout, conn)
    if method == 'mdevctl':
        return _Mdevctl(tree, wait_timeout, commands, str(commands.find('mdevctl')), timeout)
    return _Sysfs(tree, wait_timeout)
