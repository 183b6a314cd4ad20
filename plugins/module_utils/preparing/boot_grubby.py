# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the kernel command line through grubby's per-entry edits (RHEL, Fedora: boot entries
in /boot/loader/entries).

``grubby --update-kernel=ALL --args ... --remove-args ...``, or one call per entry when entries need
different changes (``grubby_updates``), then every entry is read again and checked. When a call
fails or an entry is not as asked, every entry grubby changed gets its arguments of before back, and
the run fails saying so. Since grubby replaces an argument of the same key, an added one joins the
options of one already there (``grubby_tokens``). ``grubby_entries``, ``grubby_tokens`` and
``grubby_updates`` do no I/O.
"""

from typing import Dict, List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_mechanism import (
    BootPlan,
    Mechanism,
    Pending,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import (
    CmdlineSpec,
    changes,
    edited_tokens,
    satisfied,
    token_options,
)

BLS_ENTRIES = '/boot/loader/entries'


def grubby_entries(info: str) -> List[Tuple[str, str]]:
    """(kernel, args) of every boot entry in ``grubby --info=ALL`` output."""
    entries: List[Tuple[str, str]] = []
    kernel = None
    for line in info.splitlines():
        key, sep, value = line.partition('=')
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = value[1:-1]
        if key.strip() == 'kernel':
            kernel = value
        elif key.strip() == 'args' and kernel is not None:
            entries.append((kernel, value))
            kernel = None
    return entries


def grubby_tokens(tokens: List[str], spec: CmdlineSpec) -> List[str]:
    """edited_tokens as grubby can write them. grubby --args replaces the value of an argument of the
    same key, so an added argument whose key another one of the line has would wipe that one
    (intel_iommu=on added beside intel_iommu=igfx_off): such arguments become one, with every option,
    in the place of the first (intel_iommu=igfx_off,on)."""
    after = edited_tokens(tokens, spec)
    added_keys = set(token_options(token)[0] for token in after if token not in tokens and '=' in token)
    merged: List[str] = []
    first_of: Dict[str, int] = {}
    for token in after:
        key, options = token_options(token)
        if key not in added_keys or options is None:
            merged.append(token)
        elif key not in first_of:
            first_of[key] = len(merged)
            merged.append(token)
        else:
            _key, earlier = token_options(merged[first_of[key]])
            joined = (earlier or []) + [option for option in options if option not in (earlier or [])]
            merged[first_of[key]] = '%s=%s' % (key, ','.join(joined))
    return merged


def grubby_updates(entries: List[Tuple[str, str]], spec: CmdlineSpec) -> List[Tuple[str, List[str], List[str]]]:
    """(--update-kernel target, --args tokens, --remove-args tokens) of each grubby call that makes the
    entries what the spec wants: one call for ALL when every entry needs the same change, else one per
    entry that needs one (a change made for one entry could undo another's arguments); [] when none."""
    changes_of = [(kernel, changes(args.split(), grubby_tokens(args.split(), spec))) for kernel, args in entries]
    needed = [(kernel, added, removed) for kernel, (added, removed) in changes_of if added or removed]
    if not needed:
        return []
    if len(needed) == len(entries) and all((added, removed) == needed[0][1:] for _kernel, added, removed in needed):
        return [('ALL', needed[0][1], needed[0][2])]
    return needed


class Grubby(Mechanism):
    """grubby: the boot entries edited by grubby itself, and put back when that fails."""

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

    def plan(self) -> BootPlan:
        self.current = self.entries()
        commands = [self.command(target, add, remove) for target, add, remove in grubby_updates(self.current, self.spec)]
        first = self.current[0][1]
        after = grubby_tokens(first.split(), self.spec)
        return BootPlan([], first, ' '.join(after), first.split(), after, commands)

    def apply(self, plan: BootPlan, pending: Optional[Pending]) -> List[str]:
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

    def diff(self, plan: BootPlan) -> List[Dict[str, str]]:
        if not plan.commands:
            return []
        before = ''.join('%s: %s\n' % (kernel, args) for kernel, args in self.current)
        after = ''.join('%s: %s\n' % (kernel, ' '.join(grubby_tokens(args.split(), self.spec)))
                        for kernel, args in self.current)
        return [{'before_header': 'grubby --info=ALL (kernel: args)', 'after_header': 'grubby (predicted)',
                 'before': before, 'after': after}]
