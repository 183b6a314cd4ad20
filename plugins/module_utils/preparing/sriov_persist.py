# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the udev rules that give each PF its virtual functions at every boot. No I/O happens here.

One file, RULES, one line per PF, written and read back only by this module::

    ACTION=="add|bind", SUBSYSTEM=="pci", KERNEL=="0000:02:00.0", DRIVER=="?*", ATTR{sriov_drivers_autoprobe}="0", ATTR{sriov_numvfs}="4"

Why udev: the VFs are made by the PF's driver, so the count can only be written once that driver is
bound. udev sees the bind (ACTION "bind", DRIVER set) at boot, and again whenever the driver binds
later (a module reloaded, a PF unbound and bound), which a one-shot unit at boot would miss. The
add event of a device whose driver is already bound (udev's coldplug at boot replays add) counts too:
DRIVER=="?*" skips an add before the bind. udev writes the attributes in the rule's order, so
sriov_drivers_autoprobe is set before the VFs exist.

The file is parsed back with ``parse_rules()`` before it is replaced: a line this module would not
write (an edit by hand) is refused, naming it, rather than dropped or kept without being understood.
"""

import re
from typing import Dict, NamedTuple, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, shown
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import parse_pci_address, pci_address

RULES = '/etc/udev/rules.d/70-virt-hostdev-sriov.rules'
HEADER = ('# Written by virt.hostdev.sriov_vfs: the virtual functions of each physical function, set when its\n'
          '# driver binds (at boot, and at any later bind). Edit through the module: other lines are refused.\n')

_LINE = re.compile(
    r'^ACTION=="add\|bind", SUBSYSTEM=="pci", KERNEL=="(?P<address>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])", '
    r'DRIVER=="\?\*", (?:ATTR\{sriov_drivers_autoprobe\}="(?P<autoprobe>[01])", )?'
    r'ATTR\{sriov_numvfs\}="(?P<count>[0-9]+)"$')


class PfRule(NamedTuple):
    """What the rule of one PF sets: its count and, when given, sriov_drivers_autoprobe."""
    numvfs: int
    autoprobe: Optional[bool] = None


def rule_line(address: str, rule: PfRule) -> str:
    """The rule of one PF, as parse_rules() reads it back."""
    parsed = parse_pci_address(address)
    if parsed is None:
        raise HostdevError('not a PCI address: %s' % shown(address))
    autoprobe = '' if rule.autoprobe is None else 'ATTR{sriov_drivers_autoprobe}="%d", ' % int(rule.autoprobe)
    return ('ACTION=="add|bind", SUBSYSTEM=="pci", KERNEL=="%s", DRIVER=="?*", %sATTR{sriov_numvfs}="%d"'
            % (pci_address(*parsed), autoprobe, rule.numvfs))


def parse_rules(text: Optional[str], path: str = RULES) -> Dict[str, PfRule]:
    """{PF address: its rule} of the file's text (None: no file). Comments and blank lines are skipped;
    any other line that is not one this module writes, or a second line for one PF, is refused."""
    rules: Dict[str, PfRule] = {}
    for number, line in enumerate((text or '').splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        match = _LINE.match(stripped)
        if match is None:
            raise HostdevError('refusing %s: line %d is not a rule virt.hostdev.sriov_vfs writes (%s); the file is '
                               'the module\'s own: move that rule to a file of your own and run again'
                               % (path, number, shown(stripped)))
        address = match.group('address')
        if address in rules:
            raise HostdevError('refusing %s: line %d is a second rule for %s; remove one and run again'
                               % (path, number, address))
        autoprobe = match.group('autoprobe')
        rules[address] = PfRule(int(match.group('count')), None if autoprobe is None else autoprobe == '1')
    return rules


def render_rules(rules: Dict[str, PfRule]) -> Optional[str]:
    """The file's text for rules, sorted by address; None (no file) when there are none."""
    if not rules:
        return None
    return HEADER + ''.join(rule_line(address, rules[address]) + '\n' for address in sorted(rules))


def wanted_rules(current: Dict[str, PfRule], address: str, rule: Optional[PfRule]) -> Dict[str, PfRule]:
    """current with the PF's rule replaced by rule (removed for None)."""
    wanted = dict(current)
    wanted.pop(address, None)
    if rule is not None:
        wanted[address] = rule
    return wanted
