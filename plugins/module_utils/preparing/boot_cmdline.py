# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the kernel command line a host boots with, changed through its own mechanism.

``ensure_cmdline()`` detects how the host boots (or takes ``bootloader``), plans the
change with the pure rewriters of cmdline_args, and, outside check mode, applies it:

- ``grub``: /etc/default/grub and /etc/default/grub.d/*.cfg, then ``update-grub``
  (Debian, Ubuntu) or ``grub2-mkconfig``/``grub-mkconfig -o`` the existing grub.cfg.
  The configuration is regenerated only when a file changed, or when the generated
  grub.cfg's first entry does not carry the arguments (a run that stopped between the
  edit and the regeneration).
- ``grubby``: ``grubby --update-kernel=ALL --args ... --remove-args ...`` (RHEL, Fedora:
  boot entries in /boot/loader/entries), or one call per entry when entries need different
  changes, then every entry is read again and checked (when one is not as asked, every entry
  grubby changed gets its arguments of before back, and the run fails). Since grubby replaces
  an argument of the same key, an added one joins the options of one already there
  (grubby_tokens).
- ``kernel_install``: /etc/kernel/cmdline (systemd-boot, kernel-install), then
  ``kernel-install add`` for each installed kernel.

Paths are the host's, under ``HostFiles.root``; the commands act on the running system.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import (
    CmdlineSpec,
    changes,
    edit_grub_files,
    edit_value,
    effective_grub_cmdline,
    grubby_entries,
    grubby_tokens,
    grubby_updates,
    satisfied,
)
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import (
    Commands,
    FileChange,
    HostFiles,
    apply_all,
    diffs,
)

BOOTLOADERS = ('auto', 'grub', 'grubby', 'kernel_install')
DEFAULT_COMMAND_TIMEOUT = 300

GRUB_DEFAULTS = '/etc/default/grub'
GRUB_DEFAULTS_DIR = '/etc/default/grub.d'
# (generated configuration, the tool that writes it), most specific first.
GRUB_CONFIGS = (('/boot/grub2/grub.cfg', 'grub2-mkconfig'), ('/boot/grub/grub.cfg', 'grub-mkconfig'))
BLS_ENTRIES = '/boot/loader/entries'
KERNEL_CMDLINE = '/etc/kernel/cmdline'
# Tokens of /proc/cmdline that belong to the boot loader, not to /etc/kernel/cmdline.
LOADER_TOKENS = ('BOOT_IMAGE=', 'initrd=')


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
    commands: List[List[str]]


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
    if bootloader not in BOOTLOADERS:
        raise HostdevError('bootloader must be one of %s, not %r' % (', '.join(BOOTLOADERS), bootloader))
    if bootloader == 'auto':
        bootloader = detect_bootloader(files, commands)
    mechanism = {'grub': _Grub, 'grubby': _Grubby, 'kernel_install': _KernelInstall}[bootloader](
        files, commands, spec, timeout)
    plan = mechanism.plan()
    changed = bool(plan.files or plan.commands)
    warnings: List[str] = []
    if changed and not check_mode:
        apply_all(files, plan.files)
        warnings += mechanism.apply(plan)
    running = files.read('/proc/cmdline')
    added, removed = changes(plan.before.split(), plan.after.split())
    return CmdlineOutcome(
        bootloader=bootloader, changed=changed, added=added, removed=removed,
        cmdline=plan.after.strip(), running=None if running is None else running.strip(),
        reboot_required=not satisfied((running or '').split(), spec), commands=plan.commands,
        diff=mechanism.diff(plan), warnings=warnings)


class _Mechanism:
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

    def apply(self, plan: _Plan) -> List[str]:
        """Run the plan's commands (its files are written); the warnings."""
        for command in plan.commands:
            self.commands.run(command, self.timeout)
        return []

    def diff(self, plan: _Plan) -> List[Dict[str, str]]:
        return diffs(plan.files)


class _Grub(_Mechanism):
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

    def stale(self, config: str) -> bool:
        """Whether the first boot entry of the generated configuration lacks what the spec wants."""
        text = self.files.read(config)
        if text is None:
            return False
        for line in text.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ('linux', 'linuxefi', 'linux16'):
                return not satisfied(words[2:], self.spec)
        return False

    def plan(self) -> _Plan:
        paths = self.paths()
        texts = [self.files.read(path) or '' for path in paths]
        edited = edit_grub_files(texts, self.spec)
        changes_ = [FileChange(path, before, after) for path, before, after in zip(paths, texts, edited)
                    if before != after]
        config, command = self.generated()
        regenerate = bool(changes_) or self.stale(config)
        return _Plan(changes_, effective_grub_cmdline(texts), effective_grub_cmdline(edited),
                     [command] if regenerate else [])

    def apply(self, plan: _Plan) -> List[str]:
        super().apply(plan)
        config, _command = self.generated()
        if self.stale(config):
            return ['after %s, the first boot entry of %s still lacks what was asked (%s): a script '
                    'in /etc/grub.d may write its own command line'
                    % (' '.join(plan.commands[0]), config, ' '.join(self.spec.wanted) or 'the removals')]
        return []


class _Grubby(_Mechanism):
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
        return _Plan([], first, ' '.join(grubby_tokens(first.split(), self.spec)), commands)

    def apply(self, plan: _Plan) -> List[str]:
        super().apply(plan)
        after = self.entries()
        wrong = ['%s: %s' % (kernel, args) for kernel, args in after if not satisfied(args.split(), self.spec)]
        if wrong:
            raise HostdevError('after %s, these boot entries still do not have what was asked: %s; %s'
                               % ('; '.join(' '.join(command) for command in plan.commands), '; '.join(wrong),
                                  self.put_back(after)))
        return []

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
    def kernels(self) -> List[Tuple[str, str]]:
        """(version, image) of every installed kernel, as the host names them."""
        found = [(version, '/usr/lib/modules/%s/vmlinuz' % version)
                 for version in self.files.listdir('/usr/lib/modules')
                 if self.files.exists('/usr/lib/modules/%s/vmlinuz' % version)]
        if not found:
            found = [(name[len('vmlinuz-'):], '/boot/%s' % name) for name in self.files.listdir('/boot')
                     if name.startswith('vmlinuz-')]
        return found

    def plan(self) -> _Plan:
        before = self.files.read(KERNEL_CMDLINE)
        if before is None:
            # kernel-install falls back to the running command line: start from it.
            running = (self.files.read('/proc/cmdline') or '').split()
            current = ' '.join(token for token in running if not token.startswith(LOADER_TOKENS)) + '\n'
        else:
            current = before
        after = edit_value(current, self.spec)
        change = FileChange(KERNEL_CMDLINE, before, after)
        commands = []
        if change.changed:
            tool = self.tool('kernel-install')
            commands = [[tool, 'add', version, image] for version, image in self.kernels()]
        return _Plan([change] if change.changed else [], current, after, commands)

    def apply(self, plan: _Plan) -> List[str]:
        super().apply(plan)
        if plan.files and not plan.commands:
            return ['%s changed, but no installed kernel was found to run kernel-install for: the '
                    'boot entries keep their old command line until the next kernel is installed'
                    % KERNEL_CMDLINE]
        return []
