# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: give a PF its virtual functions now (sysfs) and at every boot (a udev rule).

``ensure_vfs()`` plans everything first (sriov_count.plan_vfs: the writes and every refusal;
sriov_persist: the rule file, parsed back and, where udevadm has ``verify``, checked by it), then,
outside check mode, writes the PF's attributes, waiting (bounded) after each count written until
the PF lists that many VFs, writes the rule file through HostFiles (atomic, never through a link)
and asks udev to reload its rules. The caller holds the host lock from its read to the last write.
"""

import errno
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import Commands, FileChange, HostFiles
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import pci_address_of_name
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import problems_message
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.sriov_count import (
    AUTOPROBE,
    NUMVFS,
    VfPlan,
    VfRequest,
    plan_vfs,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.sriov_persist import (
    RULES,
    PfRule,
    parse_rules,
    render_rules,
    wanted_rules,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_boot import reservation_sysfs_root
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import uri_is_local_hypervisor
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_reader import SysfsReader
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

DEFAULT_COMMAND_TIMEOUT = 60
DEFAULT_WAIT_TIMEOUT = 120
# The first systemd whose udevadm has `verify` (Debian 12 has 252: the rules are only parsed back there).
UDEVADM_VERIFY_SINCE = 253
POLL = 0.05

# write(path, text, timeout): one sysfs attribute written (tests pass a simulated kernel).
Writer = Callable[[str, str, float], None]


@dataclass
class VfOutcome:
    """What ensure_vfs found and did (or would do, in check mode)."""

    plan: VfPlan
    changed: bool
    virtual_functions: Optional[List[str]]
    files: List[str]
    commands: List[List[str]]
    diff: List[Dict[str, str]]
    warnings: List[str] = field(default_factory=list)

    def result(self) -> Dict[str, Any]:
        plan = self.plan
        return dict(device=plan.device, pf=plan.address, before=plan.before, after=plan.after,
                    through_zero=plan.through_zero, drivers_autoprobe=plan.autoprobe,
                    writes=[{'attribute': attribute, 'value': value} for attribute, value in plan.writes],
                    virtual_functions=self.virtual_functions, files=self.files, commands=self.commands,
                    diff=self.diff)


def local_sysfs(uri: str, source: str, root: str, sysfs_root: Optional[str]) -> str:
    """The sysfs tree whose PF is changed: this machine's (sysfs_root, else the sys directory under a root
    other than /, else /sys). A URI of another machine (or the test driver) is refused: its devices are not
    the ones this machine's sysfs changes."""
    if source != 'sysfs' and not uri_is_local_hypervisor(uri):
        raise HostdevError('sriov_vfs changes the virtual functions of this machine, which %s does not describe: '
                           'run it on the host itself (its default uri), or with source: sysfs' % uri)
    return reservation_sysfs_root(root, sysfs_root) or '/sys'


def write_attribute(path: str, text: str, timeout: float) -> None:
    """Write a sysfs attribute, never through a link; a driver that takes longer than timeout is a failure.

    The kernel runs the driver's work inside the write (making 64 VFs can take seconds), and a stuck
    driver never returns: the write runs in a thread of its own, so the wait is bounded."""
    failure: List[BaseException] = []

    def write() -> None:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                    raise OSError(errno.EINVAL, 'not an attribute file')
                os.write(descriptor, text.encode('ascii'))
            finally:
                os.close(descriptor)
        except OSError as error:
            failure.append(error)

    thread = threading.Thread(target=write, name='sysfs-write', daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise HostdevError('writing %s to %s did not finish within %s s: the driver is still at it (see the kernel '
                           'log, dmesg)' % (text.strip(), path, timeout))
    if failure:
        raise failure[0]


def ensure_vfs(files: HostFiles, commands: Commands, model: HostModel, tree: SysfsTree, request: VfRequest,
               check_mode: bool = False, timeout: int = DEFAULT_COMMAND_TIMEOUT,
               wait_timeout: int = DEFAULT_WAIT_TIMEOUT, writer: Writer = write_attribute) -> VfOutcome:
    """Give the PF request names its VFs now and (persistent) at every boot; refuse first, change after."""
    plan = plan_vfs(model, request)
    if plan.problems:
        raise HostdevError(problems_message(plan.problems), problems=plan.problems, device=plan.device)
    directory = tree.real_path(plan.path)
    if directory is None:
        raise HostdevError('the sysfs directory of %s (%s) is not under %s' % (plan.device, plan.path, tree.root))
    change = _rules_change(files, plan, request)
    verify = _verify_command(commands, timeout) if change.changed and not check_mode else []
    if verify:
        _verify(commands, verify, change, timeout)
    udevadm = commands.find('udevadm') if change.changed else None
    planned = verify + ([[udevadm, 'control', '--reload']] if udevadm else [])
    diff = ([_count_diff(plan)] if plan.writes else []) + ([change.diff()] if change.changed else [])
    functions = _functions(tree, directory, plan) if not plan.numvfs_writes() else None
    if not check_mode:
        for attribute, value in plan.writes:
            _write(writer, directory, plan, attribute, value, wait_timeout)
            if attribute == NUMVFS:
                functions = _wait_for(tree, directory, plan, value, wait_timeout)
        files.apply(change)
        if files.read(change.path) != change.after:
            raise HostdevError('%s does not hold what was written: another program changed it' % change.path)
        if udevadm:
            try:
                commands.run([udevadm, 'control', '--reload'], timeout)
            except HostdevError as error:
                raise HostdevError('%s has its %d virtual functions and %s is written, but %s; udev reads changed '
                                   'rules at its next event anyway' % (plan.address, plan.after, change.path,
                                                                       error.message))
    if request.drivers_autoprobe is not None:
        plan.autoprobe = request.drivers_autoprobe
    return VfOutcome(plan=plan, changed=bool(plan.writes) or change.changed, virtual_functions=functions,
                     files=[change.path] if change.changed else [], commands=planned, diff=diff,
                     warnings=list(plan.warnings))


def _rules_change(files: HostFiles, plan: VfPlan, request: VfRequest) -> FileChange:
    """The rule file with this PF's line as the request wants it: none for no VFs or persistent false."""
    current = parse_rules(files.read(RULES), files.real(RULES))
    keep = request.persistent and request.state == 'present' and plan.after > 0
    rule = PfRule(plan.after, request.drivers_autoprobe) if keep else None
    wanted = wanted_rules(current, str(plan.address), rule)
    after = render_rules(wanted)
    if parse_rules(after) != wanted:  # our own reader must read back what we write
        raise HostdevError('the rule written for %s would not read back as written: %r' % (plan.address, after))
    return files.plan(RULES, after, 0o644)


def _verify_command(commands: Commands, timeout: int) -> List[List[str]]:
    """[udevadm verify] when this host's udevadm has it (systemd 253 and later), else nothing."""
    udevadm = commands.find('udevadm')
    if not udevadm:
        return []
    version = re.match(r'\s*([0-9]+)', commands.run([udevadm, '--version'], timeout))
    if version is None or int(version.group(1)) < UDEVADM_VERIFY_SINCE:
        return []
    return [[udevadm, 'verify', '--no-style', RULES]]


def _verify(commands: Commands, verify: List[List[str]], change: FileChange, timeout: int) -> None:
    """udevadm verify the new rules before they are installed: a copy in a private directory."""
    directory = tempfile.mkdtemp(prefix='virt-hostdev-')
    try:
        copy = os.path.join(directory, os.path.basename(RULES))
        with open(copy, 'w', encoding='utf-8') as handle:
            handle.write(change.after or '')
        argv = verify[0][:-1] + [copy]
        try:
            commands.run(argv, timeout)
        except HostdevError as error:
            raise HostdevError('udevadm refuses the rules %s would hold, nothing was changed: %s'
                               % (RULES, error.message))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _count_diff(plan: VfPlan) -> Dict[str, str]:
    """The PF's attributes as a diff: what a change of the count does, through 0 when it must."""
    before = after = ''
    for attribute, value in plan.writes:
        if attribute == AUTOPROBE:
            before += '%s: %s\n' % (AUTOPROBE, 'unknown' if plan.autoprobe is None else int(plan.autoprobe))
            after += '%s: %d\n' % (AUTOPROBE, value)
    if plan.numvfs_writes():
        before += '%s: %s\n' % (NUMVFS, plan.before)
        after += '%s: %s\n' % (NUMVFS, ' -> '.join(str(value) for value in plan.numvfs_writes()))
    header = '%s/%s' % (plan.path, NUMVFS if plan.numvfs_writes() else AUTOPROBE)
    note = (' (through 0: the kernel refuses %d -> %d directly, so the %d VFs are removed first)'
            % (plan.before or 0, plan.after, plan.before or 0) if plan.through_zero else '')
    return {'before_header': header, 'after_header': header + note, 'before': before, 'after': after}


def _write(writer: Writer, directory: str, plan: VfPlan, attribute: str, value: int, timeout: float) -> None:
    path = os.path.join(directory, attribute)
    try:
        writer(path, '%d\n' % value, timeout)
    except OSError as error:
        done = ', '.join('%s=%d' % (name, number) for name, number in plan.writes[:plan.writes.index((attribute, value))])
        raise HostdevError('writing %d to %s failed: %s%s' % (
            value, path, error.strerror or error, '; written before it: %s' % done if done else ''))


def _functions(tree: SysfsTree, directory: str, plan: VfPlan) -> List[str]:
    """The PF's VF addresses as the reader lists them now (one read of the PF's directory)."""
    record = SysfsReader(tree).record_at(directory, str(plan.device), 'pci')
    listed = ((record.get('pci') or {}).get('sriov') or {}).get('virtual_functions') or []
    return [pci_address_of_name(item) or item for item in listed]


def _wait_for(tree: SysfsTree, directory: str, plan: VfPlan, count: int, timeout: float) -> List[str]:
    """Wait until the PF lists count VFs (its virtfnN links); a timeout names the PF and what was seen."""
    deadline = time.monotonic() + timeout
    while True:
        functions = _functions(tree, directory, plan)
        if len(functions) == count:
            return functions
        if time.monotonic() >= deadline:
            raise HostdevError('%s was given %d virtual functions, but after %s s it lists %d (%s): the driver did '
                               'not make them (see the kernel log, dmesg)'
                               % (plan.address, count, timeout, len(functions), ', '.join(functions) or 'none'))
        time.sleep(POLL)
