# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the kernel command line a host boots with, changed through its own mechanism.

``ensure_cmdline()`` detects how the host boots (or takes ``bootloader``), plans the change with
the pure rewriters (cmdline_args, kernel_words, grub_defaults), and, outside check mode, applies it
through one mechanism:

- ``grub`` (boot_grub): /etc/default/grub and /etc/default/grub.d/*.cfg, read as /bin/sh reads
  them, then ``update-grub`` or ``grub2-mkconfig``/``grub-mkconfig -o`` the existing grub.cfg.
- ``grubby`` (boot_grubby): ``grubby --update-kernel=ALL``, or one call per entry when entries
  need different changes; every entry grubby changed is put back when a call or the check fails.
- ``kernel_install`` (boot_kernel_install): /etc/kernel/cmdline, then ``kernel-install add`` for
  each installed kernel.

For grub and kernel_install, the marker PENDING (boot_mechanism) holds the backups until every
regeneration succeeded: while it exists, the next run regenerates again.

Paths are the host's, under ``HostFiles.root``; the commands act on the running system.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import (
    Commands,
    HostFiles,
    check_command_timeout,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_grub import GRUB_DEFAULTS, Grub
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_grubby import BLS_ENTRIES, Grubby
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_kernel_install import (
    KERNEL_CMDLINE,
    KernelInstall,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_mechanism import PENDING, Pending
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import (
    CmdlineSpec,
    changes,
    satisfied,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.kernel_words import (
    UnreadableBootFile,
    kernel_argument,
    kernel_arguments,
)

BOOTLOADERS = ('auto', 'grub', 'grubby', 'kernel_install')
DEFAULT_COMMAND_TIMEOUT = 300


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
    mechanism = {'grub': Grub, 'grubby': Grubby, 'kernel_install': KernelInstall}[bootloader](
        files, commands, spec, timeout)
    plan = mechanism.plan()
    warnings: List[str] = []
    pending = Pending.read(files) if mechanism.regenerates else None
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
