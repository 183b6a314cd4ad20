# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: what every boot mechanism shares, and how a change to boot files is applied.

A ``Mechanism`` plans a change (a ``BootPlan``: the files it rewrites, the arguments before and
after, the commands that regenerate the boot configuration) and applies it. For the mechanisms that
write files and regenerate from them (boot_grub, boot_kernel_install), the marker PENDING is written
(with the backup of every file the change rewrites) before the files, and removed only once every
regeneration command succeeded: while it exists, the next run regenerates again. After the files
are written they are read again and must give the planned arguments; when that or a regeneration
fails, the backups are put back (and the commands that had succeeded run again with them), and the
failure says so. boot_grubby edits the boot entries themselves and applies otherwise.
"""

import json
from dataclasses import dataclass
from typing import Dict, List, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import (
    Commands,
    FileChange,
    HostFiles,
    apply_all,
    diffs,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import CmdlineSpec

# Written before the boot configuration is regenerated and removed once that succeeded: while it
# exists, every run regenerates again. It holds the backup of every file the change rewrote.
PENDING = '/var/lib/virt-hostdev/kernel-cmdline.pending'


@dataclass
class BootPlan:
    """What a mechanism changes: the files it rewrites, the command line before and after (as it is
    written and as the kernel takes it), the commands that regenerate the boot configuration."""

    files: List[FileChange]
    before: str
    after: str
    before_arguments: List[str]
    after_arguments: List[str]
    commands: List[List[str]]


@dataclass
class Pending:
    """The marker of a change whose boot configuration is not regenerated yet (see PENDING)."""

    bootloader: str
    backups: List[Dict[str, Optional[str]]]  # path, before (the file before the change), after (as written)

    @classmethod
    def read(cls, files: HostFiles) -> Optional['Pending']:
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


class Mechanism:
    """One way a host boots: it plans the change a spec asks for and applies it (see the module's docstring)."""

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

    def plan(self) -> BootPlan:
        raise NotImplementedError

    def regeneration(self) -> List[List[str]]:
        """The commands that regenerate the boot configuration from the files."""
        raise NotImplementedError

    def arguments(self, paths: List[str], texts: List[str]) -> List[str]:
        """The arguments the files give (what check_written compares)."""
        raise NotImplementedError

    def apply(self, plan: BootPlan, pending: Optional[Pending]) -> List[str]:
        """Write the plan's files and run its commands, the marker (with the backups) written first and
        removed once every command succeeded; on a failure, the backups are put back. The warnings."""
        marker = Pending(self.bootloader_name, _backups(pending, plan.files))
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

    def after(self, plan: BootPlan) -> List[str]:
        """The warnings once the boot configuration was regenerated."""
        return []

    def check_written(self, plan: BootPlan) -> None:
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

    def read_paths(self, plan: BootPlan) -> List[str]:
        return [change.path for change in plan.files]

    def restore(self, marker: Pending, done: List[List[str]]) -> str:
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

    def diff(self, plan: BootPlan) -> List[Dict[str, str]]:
        return diffs(plan.files)


def _backups(pending: Optional[Pending], changes_: List[FileChange]) -> List[Dict[str, Optional[str]]]:
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
