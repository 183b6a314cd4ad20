# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the kernel command line through GRUB's files and the configuration generated from them.

/etc/default/grub and /etc/default/grub.d/*.cfg are read as /bin/sh reads them (grub_defaults:
what cannot be read without running them is refused, naming the line), then ``update-grub``
(Debian, Ubuntu) or ``grub2-mkconfig``/``grub-mkconfig -o`` the existing grub.cfg regenerates the
configuration. Each file must pass ``sh -n`` as it is and as it would be written. The configuration
is regenerated when a file changed, when the generated grub.cfg's first entry does not carry the
arguments or does not exist, or while an earlier regeneration is pending (boot_mechanism).
"""

from typing import List, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import FileChange
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_mechanism import BootPlan, Mechanism
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import satisfied
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.grub_defaults import (
    edit_grub_files,
    effective_grub_arguments,
    effective_grub_cmdline,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.grub_words import grub_cfg_words
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.kernel_words import (
    UnreadableBootFile,
    kernel_argument,
)

GRUB_DEFAULTS = '/etc/default/grub'
GRUB_DEFAULTS_DIR = '/etc/default/grub.d'
# The scripts update-grub runs: a FIFO or a device there is refused before it runs.
GRUB_SCRIPTS = '/etc/grub.d'
# (generated configuration, the tool that writes it), most specific first.
GRUB_CONFIGS = (('/boot/grub2/grub.cfg', 'grub2-mkconfig'), ('/boot/grub/grub.cfg', 'grub-mkconfig'))


class Grub(Mechanism):
    """GRUB: its files under /etc/default edited, then its configuration regenerated."""

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
            words = grub_cfg_words(line)
            if len(words) >= 2 and words[0] in ('linux', 'linuxefi', 'linux16'):
                return not satisfied([kernel_argument(word) for word in words[2:]], self.spec)
        return False

    def real_paths(self, paths: List[str]) -> List[str]:
        return [self.files.real(path) for path in paths]

    def arguments(self, paths: List[str], texts: List[str]) -> List[str]:
        return effective_grub_arguments(texts, self.real_paths(paths))

    def read_paths(self, plan: BootPlan) -> List[str]:
        return self.paths()

    def plan(self) -> BootPlan:
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
        return BootPlan(changes_, effective_grub_cmdline(texts, reals), effective_grub_cmdline(edited, reals),
                        effective_grub_arguments(texts, reals), effective_grub_arguments(edited, reals),
                        [command] if regenerate else [])

    def after(self, plan: BootPlan) -> List[str]:
        config, _command = self.generated()
        tool = ' '.join(plan.commands[0])
        if not self.files.exists(config):
            return ['%s succeeded but wrote no %s: the next run regenerates again' % (tool, config)]
        if self.stale(config):
            return ['after %s, the first boot entry of %s still lacks what was asked (%s): a script '
                    'in /etc/grub.d may write its own command line'
                    % (tool, config, ' '.join(self.spec.wanted) or 'the removals')]
        return []

    def shell_check(self, path: str, text: str, edited: bool) -> None:
        """Refuse a file that /bin/sh cannot parse (sh -n), as it is or as it would be written."""
        shell = self.commands.find('sh')
        if not shell:
            return  # no shell to ask: the reading of grub_defaults is the only check
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
