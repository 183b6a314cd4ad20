# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the udev rule that starts autostart mdevs at boot, checked and repaired (mdevs module). No I/O here.

mdevctl starts a parent's autostart mdevs from its udev rule ``60-mdevctl.rules`` (``RUN+=`` lines
running ``mdevctl start-parent-mdevs %k``). Debian 12's mdevctl 1.2.0-3+b1 installs /usr/bin/mdevctl
but its rule runs /usr/sbin/mdevctl (mdevctl issue #82, Ubuntu too): nothing starts at boot, and the
journal says ``/usr/sbin/mdevctl: not found``. ``plan_rule()`` takes the rules of that name udev
would see, in its precedence, and says what /etc/udev/rules.d/60-mdevctl.rules (udev reads one file
of a name, /etc first: the documented override) should hold: the packaged rule with the missing path
replaced by the mdevctl the module found, under a header saying so. Whatever it cannot understand
(no rule, a rule naming no mdevctl path, a foreign override naming a missing one, no mdevctl at all)
is the problem ``autostart_broken``, never a guess. So is a mask (the file a symbolic link to
/dev/null, udev's way of turning a rule off): someone turned the rule off on purpose, and the module
does not turn it back on.
"""

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import Problem, problem

RULE_NAME = '60-mdevctl.rules'
# udev(7): the rules directories, a file in an earlier one masking a file of the same name in a later one.
RULE_DIRS = ('/etc/udev/rules.d', '/run/udev/rules.d', '/usr/local/lib/udev/rules.d', '/usr/lib/udev/rules.d',
             '/lib/udev/rules.d')
OVERRIDE = '/etc/udev/rules.d/' + RULE_NAME
# Where a rule is an administrator's (not a package's): never rewritten.
LOCAL_DIRS = RULE_DIRS[:2]
MARK = '# Written by virt.hostdev.mdevs'
HEADER = (MARK + ' from %(source)s, whose RUN+= lines name %(missing)s,\n'
          '# which is not on this host: mdevctl is %(real)s here, so autostart mdevs did not start at boot\n'
          '# (mdevctl issue #82). This file masks %(source)s (udev reads one file of a name, /etc first) and is\n'
          '# rewritten by the module when needed; remove it once the packaged rule names the right path.\n')
# udev(7): a rules file that is a symbolic link to /dev/null masks (turns off) the rules of that name.
MASK_TARGET = '/dev/null'
_RUN = re.compile(r'\bRUN\+="([^"]*)"')
# An absolute path ending in /mdevctl inside a RUN value (which may be a sh -c command line).
_MDEVCTL = re.compile(r'(?<![\w./-])(/[^\s\'";|&{}()<>]*/mdevctl)(?![\w.-])')


@dataclass
class RulePlan:
    """What the override should hold (write; None: leave the rules as they are), what it repairs, and problems."""

    write: Optional[str] = None
    repaired: Optional[Dict[str, Any]] = None
    problems: List[Problem] = field(default_factory=list)


def rule_programs(text: str) -> List[str]:
    """The mdevctl paths the rule's RUN+= assignments name (comments skipped), in order, each once."""
    programs: List[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith('#'):
            continue
        for value in _RUN.findall(line):
            for path in _MDEVCTL.findall(value):
                if path not in programs:
                    programs.append(path)
    return programs


def is_ours(path: str, text: str) -> bool:
    return path == OVERRIDE and text.startswith(MARK)


def render_rule(source: str, text: str, missing: Sequence[str], real: str) -> str:
    """The packaged rule's text with each missing path replaced by real, under the header."""
    for path in missing:
        text = re.sub(r'(?<![\w./-])%s(?![\w.-])' % re.escape(path), real, text)
    return HEADER % {'source': source, 'missing': ', '.join(missing), 'real': real} + text


def plan_rule(rules: List[Tuple[str, Optional[str]]], present: Callable[[str], bool],
              mdevctl: Optional[str]) -> RulePlan:
    """rules: (path, text) of every 60-mdevctl.rules udev sees, in its precedence (rules[0] is the one it
    uses), text None for a mask (a link to /dev/null, the last entry: udev reads nothing below it);
    present(path): whether that program is on the host; mdevctl: where the module found it."""
    def broken(message: str) -> RulePlan:
        return RulePlan(problems=[problem('autostart_broken', None, message + ': mdevs with autostart would not '
                                          'start at boot; nothing was changed')])

    if mdevctl is None:
        return broken('autostart is asked and mdevctl is not installed (its udev rule %s starts autostart '
                      'mdevs when their parent appears)' % RULE_NAME)
    if not rules:
        return broken('no udev rule %s in %s' % (RULE_NAME, ', '.join(RULE_DIRS)))
    used, used_text = rules[0]
    ours = used_text is not None and is_ours(used, used_text)
    # Our override is rebuilt from the rule it masks, so a changed package or mdevctl is followed.
    source, text = rules[1] if ours and len(rules) > 1 and rules[1][1] is not None else rules[0]
    if text is None:
        return broken('%s is a symbolic link to %s, udev\'s mask: the rule that starts autostart mdevs is turned '
                      'off, and virt.hostdev does not undo a mask set on purpose; remove the link (the module then '
                      'checks the packaged rule) or ask autostart: false' % (source, MASK_TARGET))
    programs = rule_programs(text)
    if not programs:
        return broken('%s names no mdevctl path in its RUN+= lines' % source)
    missing = [path for path in programs if not present(path)]
    if not missing:
        return RulePlan()
    if source == used and not ours and used.rsplit('/', 1)[0] in LOCAL_DIRS:
        return broken('%s (not written by virt.hostdev) runs %s, which is not on this host (mdevctl is %s): '
                      'correct that path or remove the file' % (used, ', '.join(missing), mdevctl))
    if source == used and ours:
        return broken('%s, written by virt.hostdev with no packaged rule left to rebuild it from, runs %s, which '
                      'is not on this host' % (used, ', '.join(missing)))
    wanted = render_rule(source, text, missing, mdevctl)
    if ours and used_text == wanted:
        return RulePlan()
    repaired = {'path': OVERRIDE, 'masks': source, 'replaced': dict((path, mdevctl) for path in missing)}
    return RulePlan(write=wanted, repaired=repaired)
