# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the kernel command line a host boots with, changed through its own mechanism.

``ensure_cmdline()`` detects how the host boots (or takes ``bootloader``), plans the
change with the pure rewriters of cmdline_args, and, outside check mode, applies it:

- ``grub``: /etc/default/grub and /etc/default/grub.d/*.cfg, read as /bin/sh reads them (what
  cannot be read without running them is refused, naming the line), then ``update-grub``
  (Debian, Ubuntu) or ``grub2-mkconfig``/``grub-mkconfig -o`` the existing grub.cfg. Each file
  must pass ``sh -n`` as it is and as it would be written. The configuration is regenerated
  when a file changed, when the generated grub.cfg's first entry does not carry the arguments
  or does not exist, or while an earlier regeneration is pending (below).
- ``grubby``: ``grubby --update-kernel=ALL --args ... --remove-args ...`` (RHEL, Fedora: boot
  entries in /boot/loader/entries), or one call per entry when entries need different changes,
  then every entry is read again and checked. When a call fails or an entry is not as asked,
  every entry grubby changed gets its arguments of before back, and the run fails saying so.
  Since grubby replaces an argument of the same key, an added one joins the options of one
  already there (grubby_tokens).
- ``kernel_install``: /etc/kernel/cmdline (read as the kernel reads a command line), then
  ``kernel-install add`` for each installed kernel.

For grub and kernel_install, the marker PENDING is written (with the backup of every file the
change rewrites) before the files, and removed only once every regeneration command succeeded:
while it exists, the next run regenerates again. After the files are written they are read
again and must give the planned arguments; when that or a regeneration fails, the backups are
put back (and the commands that had succeeded run again with them), and the failure says so.

Paths are the host's, under ``HostFiles.root``; the commands act on the running system.
"""

import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import (
    CmdlineSpec,
    UnreadableBootFile,
    changes,
    edit_grub_files,
    edit_value,
    effective_grub_arguments,
    effective_grub_cmdline,
    grubby_entries,
    grubby_tokens,
    grubby_updates,
    kernel_argument,
    kernel_arguments,
    kernel_cmdline_refusals,
    kernel_spans,
    satisfied,
    vendor_from_acpi_tables,
    vendor_from_cpuinfo,
    vendor_from_iommu_units,
)
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import (
    Commands,
    FileChange,
    HostFiles,
    apply_all,
    check_command_timeout,
    diffs,
)

BOOTLOADERS = ('auto', 'grub', 'grubby', 'kernel_install')
DEFAULT_COMMAND_TIMEOUT = 300

GRUB_DEFAULTS = '/etc/default/grub'
GRUB_DEFAULTS_DIR = '/etc/default/grub.d'
# The scripts update-grub runs: a FIFO or a device there is refused before it runs.
GRUB_SCRIPTS = '/etc/grub.d'
# (generated configuration, the tool that writes it), most specific first.
GRUB_CONFIGS = (('/boot/grub2/grub.cfg', 'grub2-mkconfig'), ('/boot/grub/grub.cfg', 'grub-mkconfig'))
BLS_ENTRIES = '/boot/loader/entries'
KERNEL_CMDLINE = '/etc/kernel/cmdline'
# Tokens of /proc/cmdline that belong to the boot loader, not to /etc/kernel/cmdline.
LOADER_TOKENS = ('BOOT_IMAGE=', 'initrd=')
# Written before the boot configuration is regenerated and removed once that succeeded: while it
# exists, every run regenerates again. It holds the backup of every file the change rewrote.
PENDING = '/var/lib/virt-hostdev/kernel-cmdline.pending'
# Where the vendor of the IOMMU is read, in this order.
ACPI_TABLES = '/sys/firmware/acpi/tables'
IOMMU_UNITS = '/sys/class/iommu'
CPUINFO = '/proc/cpuinfo'


@dataclass
class CmdlineOutcome:
    """What ensure_cmdline found and did (or would do in check mode)."""

    bootloader: str
    changed: bool
    added: List[str]
    removed: List[str]
    cmdline: str
    running: Optional[str]
    reboot_required: bool
    commands: List[List[str]]
    diff: List[Dict[str, str]]
    warnings: List[str] = field(default_factory=list)

    def result(self) -> Dict[str, Any]:
        return dict(bootloader=self.bootloader, added=self.added, removed=self.removed, cmdline=self.cmdline,
                    running_cmdline=self.running, reboot_required=self.reboot_required,
                    commands=self.commands, diff=self.diff)


@dataclass
class _Plan:
    files: List[FileChange]
    before: str
    after: str
    before_arguments: List[str]
    after_arguments: List[str]
    commands: List[List[str]]


def detect_vendor(files: HostFiles) -> Tuple[Optional[str], List[str]]:
    """(intel, amd or None; when None, what each source said). The IOMMU the firmware describes (its
    ACPI table), else the running IOMMU's units, else the CPU's vendor: a virtual machine's virtual
    IOMMU need not match its CPU."""
    said = []
    for path, vendor_from, missing in (
            (ACPI_TABLES, vendor_from_acpi_tables, 'no DMAR or IVRS table (or both) in %s' % ACPI_TABLES),
            (IOMMU_UNITS, vendor_from_iommu_units, 'no dmar* or ivhd* unit in %s (the IOMMU is off)' % IOMMU_UNITS)):
        if not files.exists(path):
            said.append('%s is missing' % path)
            continue
        vendor = vendor_from(files.listdir(path))
        if vendor:
            return vendor, []
        said.append(missing)
    cpuinfo = files.read(CPUINFO)
    vendor = vendor_from_cpuinfo(cpuinfo)
    if vendor:
        return vendor, []
    said.append('%s is missing' % CPUINFO if cpuinfo is None
                else 'the CPU vendor in %s is neither Intel nor AMD' % CPUINFO)
    return None, said


def detect_bootloader(files: HostFiles, commands: Commands) -> str:
    """grubby (with boot entries), grub (/etc/default/grub) or kernel_install (/etc/kernel/cmdline)."""
    if commands.find('grubby') and any(name.endswith('.conf') for name in files.listdir(BLS_ENTRIES)):
        return 'grubby'
    if files.exists(GRUB_DEFAULTS):
        return 'grub'
    if files.exists(KERNEL_CMDLINE):
        return 'kernel_install'
    raise HostdevError(
        'cannot tell how this host boots: it has no %s, no %s and no grubby with boot entries in %s '
        '(under %s); set bootloader' % (GRUB_DEFAULTS, KERNEL_CMDLINE, BLS_ENTRIES, files.root))


def ensure_cmdline(files: HostFiles, commands: Commands, spec: CmdlineSpec, bootloader: str = 'auto',
                   check_mode: bool = False, timeout: int = DEFAULT_COMMAND_TIMEOUT) -> CmdlineOutcome:
    """Make the configured kernel command line what spec wants (see the module docstring)."""
    check_command_timeout(timeout)
    if bootloader not in BOOTLOADERS:
        raise HostdevError('bootloader must be one of %s, not %r' % (', '.join(BOOTLOADERS), bootloader))
    if bootloader == 'auto':
        bootloader = detect_bootloader(files, commands)
    mechanism = {'grub': _Grub, 'grubby': _Grubby, 'kernel_install': _KernelInstall}[bootloader](
        files, commands, spec, timeout)
    plan = mechanism.plan()
    warnings: List[str] = []
    pending = _Pending.read(files) if mechanism.regenerates else None
    if pending is not None:
        if pending.bootloader != bootloader:
            raise HostdevError('%s says a change through %s was not finished (its boot configuration was never '
                               'regenerated), but this run uses %s: run with bootloader %s to finish it, or remove '
                               'that file once the boot configuration is right' % (
                                   files.real(PENDING), pending.bootloader, bootloader, pending.bootloader))
        if not plan.commands:
            plan.commands = mechanism.regeneration()
            warnings.append('an earlier run changed the boot files but the boot configuration was never regenerated '
                            '(%s says so): it is regenerated now' % files.real(PENDING))
    changed = bool(plan.files or plan.commands or pending)
    if changed and not check_mode:
        warnings += mechanism.apply(plan, pending)
    running = files.read('/proc/cmdline')
    added, removed = changes(plan.before_arguments, plan.after_arguments)
    return CmdlineOutcome(
        bootloader=bootloader, changed=changed, added=added, removed=removed,
        cmdline=plan.after.strip(), running=None if running is None else running.strip(),
        reboot_required=not satisfied(_running_arguments(running), spec), commands=plan.commands,
        diff=mechanism.diff(plan), warnings=warnings)


def _running_arguments(text: Optional[str]) -> List[str]:
    try:
        return kernel_arguments(text or '', '/proc/cmdline')
    except UnreadableBootFile:
        return [kernel_argument(word) for word in (text or '').split()]


@dataclass
class _Pending:
    """The marker of a change whose boot configuration is not regenerated yet (see PENDING)."""

    bootloader: str
    backups: List[Dict[str, Optional[str]]]  # path, before (the file before the change), after (as written)

    @classmethod
    def read(cls, files: HostFiles) -> Optional['_Pending']:
        text = files.read(PENDING)
        if text is None:
            return None
        try:
            data = json.loads(text)
            backups = [dict(path=str(item['path']), before=item['before'], after=item['after'])
                       for item in data['files']]
            if not all(isinstance(item[key], (str, type(None))) for item in backups for key in ('before', 'after')):
                raise ValueError('a backup is not text')
            return cls(str(data['bootloader']), backups)
        except (ValueError, KeyError, TypeError) as error:
            raise HostdevError('cannot read %s (%s): it marks a change whose boot configuration was not regenerated '
                               'and holds the backups of the files it rewrote; check the boot files, then remove it'
                               % (files.real(PENDING), error))

    def text(self) -> str:
        return json.dumps(dict(bootloader=self.bootloader, files=self.backups), indent=1, sort_keys=True) + '\n'


class _Mechanism:
    bootloader_name = ''
    # Whether the mechanism writes files and then regenerates the boot configuration from them.
    regenerates = True

    def __init__(self, files: HostFiles, commands: Commands, spec: CmdlineSpec, timeout: int) -> None:
        self.files = files
        self.commands = commands
        self.spec = spec
        self.timeout = timeout

    def tool(self, *names: str) -> str:
        for name in names:
            path = self.commands.find(name)
            if path:
                return path
        raise HostdevError('%s not found on this host (searched PATH and the sbin directories)'
                           % ' or '.join(names))

    def plan(self) -> _Plan:
        raise NotImplementedError

    def regeneration(self) -> List[List[str]]:
        """The commands that regenerate the boot configuration from the files."""
        raise NotImplementedError

    def arguments(self, paths: List[str], texts: List[str]) -> List[str]:
        """The arguments the files give (what check_written compares)."""
        raise NotImplementedError

    def apply(self, plan: _Plan, pending: Optional[_Pending]) -> List[str]:
        """Write the plan's files and run its commands, the marker (with the backups) written first and
        removed once every command succeeded; on a failure, the backups are put back. The warnings."""
        marker = _Pending(self.bootloader_name, _backups(pending, plan.files))
        written = FileChange(PENDING, None if pending is None else pending.text(), marker.text())
        self.files.apply(written)
        done: List[List[str]] = []
        try:
            apply_all(self.files, plan.files)
            self.check_written(plan)
            for command in plan.commands:
                self.commands.run(command, self.timeout)
                done.append(command)
        except HostdevError as error:
            raise HostdevError('%s; %s' % (error.message, self.restore(marker, done)))
        self.files.apply(FileChange(PENDING, written.after, None))
        return self.after(plan)

    def after(self, plan: _Plan) -> List[str]:
        """The warnings once the boot configuration was regenerated."""
        return []

    def check_written(self, plan: _Plan) -> None:
        """Read the written files again: each must hold what was planned and give the arguments planned."""
        paths = self.read_paths(plan)
        texts = [self.files.read(path) for path in paths]
        for change in plan.files:
            if texts[paths.index(change.path)] != change.after:
                raise HostdevError('%s does not hold what was written to it (was it changed meanwhile?)'
                                   % self.files.real(change.path))
        arguments = self.arguments(paths, [text or '' for text in texts])
        if arguments != plan.after_arguments:
            raise HostdevError('after the edit, the files give the command line %s, not %s as planned'
                               % (' '.join(arguments), ' '.join(plan.after_arguments)))

    def read_paths(self, plan: _Plan) -> List[str]:
        return [change.path for change in plan.files]

    def restore(self, marker: _Pending, done: List[List[str]]) -> str:
        """Put back every file the change rewrote (unless it changed since), and run again the commands
        that had succeeded with the new files; what happened, for the failure's message."""
        restored, left, failures = [], [], []
        for backup in marker.backups:
            path = str(backup['path'])
            try:
                current = self.files.read(path)
                if current != backup['after']:
                    left.append('%s changed since it was written, so it was left as it is' % self.files.real(path))
                    continue
                self.files.apply(FileChange(path, current, backup['before']))
                restored.append(self.files.real(path))
            except HostdevError as error:
                failures.append(error.message)
        if restored:
            for command in done:
                try:
                    self.commands.run(command, self.timeout)
                except HostdevError as error:
                    failures.append(error.message)
        said = 'the boot configuration was not regenerated'
        if restored:
            said += ', so %s %s put back as %s before the change (from the backup%s)' % (
                ' and '.join(restored), 'was' if len(restored) == 1 else 'were',
                'it was' if len(restored) == 1 else 'they were', '' if len(restored) == 1 else 's')
            if done:
                ran = '; '.join(' '.join(command) for command in done)
                said += ' and %s ran again with %s' % (ran, 'it' if len(restored) == 1 else 'them')
        if failures or left:
            return '%s; %s: the backups stay in %s, and the next run regenerates again' % (
                said, '; '.join(['putting back failed: %s' % failure for failure in failures] + left),
                self.files.real(PENDING))
        try:
            self.files.apply(FileChange(PENDING, marker.text(), None))
        except HostdevError as error:
            return '%s; %s' % (said, error.message)
        return '%s: nothing changed; fix the cause and run again' % said

    def diff(self, plan: _Plan) -> List[Dict[str, str]]:
        return diffs(plan.files)

    def shell_check(self, path: str, text: str, edited: bool) -> None:
        """Refuse a file that /bin/sh cannot parse (sh -n), as it is or as it would be written."""
        shell = self.commands.find('sh')
        if not shell:
            return  # no shell to ask: the reading of cmdline_args is the only check
        rc, out, err, timed_out = self.commands.outcome([shell, '-n'], self.timeout, data=text)
        if rc == 0 and not timed_out:
            return
        detail = 'it did not finish within %d s' % self.timeout if timed_out else \
            ' / '.join((err or out or '').strip().splitlines()[-3:]) or 'exit code %d' % rc
        if edited:
            raise UnreadableBootFile(self.files.real(path), None, 'the edited file would not parse as a shell file '
                                     '(sh -n: %s), so it is not written' % detail)
        raise UnreadableBootFile(self.files.real(path), None, 'the shell cannot parse it as it is (sh -n: %s), so '
                                 'update-grub would fail too: fix it first' % detail)


def _backups(pending: Optional[_Pending], changes_: List[FileChange]) -> List[Dict[str, Optional[str]]]:
    """The backups of an earlier unfinished change, with this change's files: a file keeps its backup of
    before the first change while it still holds what that change wrote."""
    backups = [dict(item) for item in (pending.backups if pending else [])]
    for change in changes_:
        earlier = [item for item in backups if item['path'] == change.path]
        if earlier and earlier[0]['after'] == change.before:
            earlier[0]['after'] = change.after
            continue
        backups = [item for item in backups if item['path'] != change.path]
        backups.append(dict(path=change.path, before=change.before, after=change.after))
    return backups


class _Grub(_Mechanism):
    bootloader_name = 'grub'

    def paths(self) -> List[str]:
        if not self.files.exists(GRUB_DEFAULTS):
            raise HostdevError('%s does not exist under %s: this host does not boot through GRUB '
                               '(set bootloader, or leave it at auto)' % (GRUB_DEFAULTS, self.files.root))
        extra = [name for name in self.files.listdir(GRUB_DEFAULTS_DIR) if name.endswith('.cfg')]
        return [GRUB_DEFAULTS] + ['%s/%s' % (GRUB_DEFAULTS_DIR, name) for name in extra]

    def generated(self) -> Tuple[str, List[str]]:
        """(grub.cfg path, the command that regenerates it)."""
        update_grub = self.commands.find('update-grub')
        existing = [(path, tool) for path, tool in GRUB_CONFIGS if self.files.exists(path)]
        if update_grub:
            return (existing[0][0] if existing else GRUB_CONFIGS[1][0]), [update_grub]
        for path, tool in existing or list(GRUB_CONFIGS):
            found = self.commands.find(tool)
            if found:
                return path, [found, '-o', path]
        raise HostdevError('none of update-grub, grub2-mkconfig and grub-mkconfig was found on this host: '
                           'the GRUB configuration cannot be regenerated')

    def regeneration(self) -> List[List[str]]:
        return [self.generated()[1]]

    def stale(self, config: str) -> bool:
        """Whether the first boot entry of the generated configuration lacks what the spec wants, or
        there is no generated configuration at all."""
        text = self.files.read(config)
        if text is None:
            return True
        for line in text.splitlines():
            words = _grub_cfg_words(line)
            if len(words) >= 2 and words[0] in ('linux', 'linuxefi', 'linux16'):
                return not satisfied([kernel_argument(word) for word in words[2:]], self.spec)
        return False

    def real_paths(self, paths: List[str]) -> List[str]:
        return [self.files.real(path) for path in paths]

    def arguments(self, paths: List[str], texts: List[str]) -> List[str]:
        return effective_grub_arguments(texts, self.real_paths(paths))

    def read_paths(self, plan: _Plan) -> List[str]:
        return self.paths()

    def plan(self) -> _Plan:
        paths = self.paths()
        self.files.refuse_special_entries(GRUB_SCRIPTS)
        texts = [self.files.read(path) or '' for path in paths]
        reals = self.real_paths(paths)
        edited = edit_grub_files(texts, self.spec, reals)
        for path, text in zip(paths, texts):
            self.shell_check(path, text, edited=False)
        changes_ = [FileChange(path, before, after) for path, before, after in zip(paths, texts, edited)
                    if before != after]
        for change in changes_:
            self.shell_check(change.path, str(change.after), edited=True)
        config, command = self.generated()
        regenerate = bool(changes_) or self.stale(config)
        return _Plan(changes_, effective_grub_cmdline(texts, reals), effective_grub_cmdline(edited, reals),
                     effective_grub_arguments(texts, reals), effective_grub_arguments(edited, reals),
                     [command] if regenerate else [])

    def after(self, plan: _Plan) -> List[str]:
        config, _command = self.generated()
        tool = ' '.join(plan.commands[0])
        if not self.files.exists(config):
            return ['%s succeeded but wrote no %s: the next run regenerates again' % (tool, config)]
        if self.stale(config):
            return ['after %s, the first boot entry of %s still lacks what was asked (%s): a script '
                    'in /etc/grub.d may write its own command line'
                    % (tool, config, ' '.join(self.spec.wanted) or 'the removals')]
        return []


def _grub_cfg_words(line: str) -> List[str]:
    """The words of a line of grub.cfg, as GRUB's parser splits them (its $variables kept as written)."""
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


class _Grubby(_Mechanism):
    bootloader_name = 'grubby'
    regenerates = False  # grubby edits the boot entries themselves

    def entries(self) -> List[Tuple[str, str]]:
        info = self.commands.run([self.tool('grubby'), '--info=ALL'], self.timeout)
        entries = grubby_entries(info)
        if not entries:
            raise HostdevError('grubby --info=ALL listed no boot entry with kernel arguments')
        return entries

    def command(self, target: str, add: List[str], remove: List[str]) -> List[str]:
        """grubby --update-kernel=target with --args add and --remove-args remove."""
        command = [self.tool('grubby'), '--update-kernel=%s' % target]
        if add:
            command.append('--args=%s' % ' '.join(add))
        if remove:
            command.append('--remove-args=%s' % ' '.join(remove))
        return command

    def plan(self) -> _Plan:
        self.current = self.entries()
        commands = [self.command(target, add, remove) for target, add, remove in grubby_updates(self.current, self.spec)]
        first = self.current[0][1]
        after = grubby_tokens(first.split(), self.spec)
        return _Plan([], first, ' '.join(after), first.split(), after, commands)

    def apply(self, plan: _Plan, pending: Optional[_Pending]) -> List[str]:
        done: List[List[str]] = []
        for command in plan.commands:
            try:
                self.commands.run(command, self.timeout)
            except HostdevError as error:
                # an earlier call (one per entry) may have changed its entry: none stays half-edited
                earlier = ('; before it, %s succeeded' % '; '.join(' '.join(item) for item in done)) if done else ''
                raise HostdevError('%s%s; %s' % (error.message, earlier, self.put_back_now()))
            done.append(command)
        after = self.entries()
        wrong = ['%s: %s' % (kernel, args) for kernel, args in after if not satisfied(args.split(), self.spec)]
        if wrong:
            raise HostdevError('after %s, these boot entries still do not have what was asked: %s; %s'
                               % ('; '.join(' '.join(command) for command in plan.commands), '; '.join(wrong),
                                  self.put_back(after)))
        return []

    def put_back_now(self) -> str:
        """put_back after a failed call: the entries as grubby has them now."""
        try:
            after = self.entries()
        except HostdevError as error:
            return ('the entries cannot be read again to put them back (%s), so check them (grubby --info=ALL); '
                    'before this run they were: %s' % (error.message, '; '.join(
                        '%s: %s' % (kernel, args) for kernel, args in self.current)))
        return self.put_back(after)

    def put_back(self, after: List[Tuple[str, str]]) -> str:
        """Give every entry grubby changed its arguments of before this run again (a grubby that edits
        otherwise than asked must not leave the host booting with half an edit); what happened."""
        before = dict(self.current)

        def same(args: str, kernel: str) -> bool:
            # grubby appends what it adds: the order of an entry's arguments may change
            return sorted(args.split()) == sorted(before[kernel].split())
        changed = [(kernel, args) for kernel, args in after if kernel in before and not same(args, kernel)]
        if not changed:
            return 'grubby changed none of them'
        failures = []
        for kernel, args in changed:
            remove, add = changes(before[kernel].split(), args.split())
            try:
                self.commands.run(self.command(kernel, add, remove), self.timeout)
            except HostdevError as error:
                failures.append(error.message)
        again = dict(self.entries())
        left = ['%s (was: %s)' % (kernel, before[kernel]) for kernel, _args in changed
                if not same(again.get(kernel, ''), kernel)]
        if not left:
            if len(changed) == 1:
                return 'the entry grubby changed (%s) was put back as it was' % changed[0][0]
            return 'the %d entries grubby changed were put back as they were' % len(changed)
        return ('putting back the entries grubby changed failed too (%s), so set these back by hand: %s'
                % ('; '.join(failures) or 'grubby edited them otherwise again', '; '.join(left)))

    def diff(self, plan: _Plan) -> List[Dict[str, str]]:
        if not plan.commands:
            return []
        before = ''.join('%s: %s\n' % (kernel, args) for kernel, args in self.current)
        after = ''.join('%s: %s\n' % (kernel, ' '.join(grubby_tokens(args.split(), self.spec)))
                        for kernel, args in self.current)
        return [{'before_header': 'grubby --info=ALL (kernel: args)', 'after_header': 'grubby (predicted)',
                 'before': before, 'after': after}]


class _KernelInstall(_Mechanism):
    bootloader_name = 'kernel_install'

    def kernels(self) -> List[Tuple[str, str]]:
        """(version, image) of every installed kernel, as the host names them."""
        found = [(version, '/usr/lib/modules/%s/vmlinuz' % version)
                 for version in self.files.listdir('/usr/lib/modules')
                 if self.files.exists('/usr/lib/modules/%s/vmlinuz' % version)]
        if not found:
            found = [(name[len('vmlinuz-'):], '/boot/%s' % name) for name in self.files.listdir('/boot')
                     if name.startswith('vmlinuz-')]
        return found

    def regeneration(self) -> List[List[str]]:
        tool = self.tool('kernel-install')
        return [[tool, 'add', version, image] for version, image in self.kernels()]

    def arguments(self, paths: List[str], texts: List[str]) -> List[str]:
        return kernel_arguments(texts[0], self.files.real(KERNEL_CMDLINE))

    def read_paths(self, plan: _Plan) -> List[str]:
        return [KERNEL_CMDLINE]

    def plan(self) -> _Plan:
        real = self.files.real(KERNEL_CMDLINE)
        before = self.files.read(KERNEL_CMDLINE)
        if before is None:
            # kernel-install falls back to the running command line: start from it.
            running = self.files.read('/proc/cmdline') or ''
            words = [running[start:end] for start, end in kernel_spans(running, '/proc/cmdline')]
            current = ' '.join(word for word in words if not kernel_argument(word).startswith(LOADER_TOKENS)) + '\n'
        else:
            kernel_cmdline_refusals(before, real)
            current = before
        after = edit_value(current, self.spec, path=real)
        after_arguments = kernel_arguments(after, real)
        if not satisfied(after_arguments, self.spec):
            raise UnreadableBootFile(real, None, 'after the edit it would be %s, still not what was asked'
                                     % after.strip())
        change = FileChange(KERNEL_CMDLINE, before, after)
        commands = self.regeneration() if change.changed else []
        return _Plan([change] if change.changed else [], current, after, kernel_arguments(current, real),
                     after_arguments, commands)

    def after(self, plan: _Plan) -> List[str]:
        if plan.files and not plan.commands:
            return ['%s changed, but no installed kernel was found to run kernel-install for: the '
                    'boot entries keep their old command line until the next kernel is installed'
                    % KERNEL_CMDLINE]
        return []
