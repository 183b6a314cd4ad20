# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the kernel command line through /etc/kernel/cmdline and kernel-install (systemd-boot).

/etc/kernel/cmdline is read as the kernel reads a command line (kernel_words), refused where
kernel-install would read it otherwise (``kernel_cmdline_refusals``), then ``kernel-install add``
runs for each installed kernel; the marker and the backups are boot_mechanism's.
"""

from typing import List, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.host_files import FileChange
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_mechanism import BootPlan, Mechanism
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import satisfied
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.kernel_words import (
    UnreadableBootFile,
    edit_value,
    kernel_argument,
    kernel_arguments,
    kernel_spans,
)

KERNEL_CMDLINE = '/etc/kernel/cmdline'
# Tokens of /proc/cmdline that belong to the boot loader, not to /etc/kernel/cmdline.
LOADER_TOKENS = ('BOOT_IMAGE=', 'initrd=')


def kernel_cmdline_refusals(text: str, path: str) -> None:
    """Refuse what /etc/kernel/cmdline cannot mean: kernel-install joins its lines with spaces
    (tr -s "$IFS" ' '), so a backslash at the end of a line is no continuation but an argument."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.rstrip(' \t').endswith('\\'):
            raise UnreadableBootFile(
                path, number, 'the line ends with a backslash, but this file is no shell file: kernel-install '
                'joins its lines with spaces, so the kernel would get a "\\" argument; remove the backslash')
    kernel_spans(text, path)


class KernelInstall(Mechanism):
    """kernel-install: /etc/kernel/cmdline edited, then the entry of each installed kernel written again."""

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

    def read_paths(self, plan: BootPlan) -> List[str]:
        return [KERNEL_CMDLINE]

    def plan(self) -> BootPlan:
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
        return BootPlan([change] if change.changed else [], current, after, kernel_arguments(current, real),
                        after_arguments, commands)

    def after(self, plan: BootPlan) -> List[str]:
        if plan.files and not plan.commands:
            return ['%s changed, but no installed kernel was found to run kernel-install for: the '
                    'boot entries keep their old command line until the next kernel is installed'
                    % KERNEL_CMDLINE]
        return []
