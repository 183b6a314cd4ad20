# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The udev rules of the VF counts: one line per PF, read back by parse_rules, foreign lines refused."""

from __future__ import annotations

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.sriov_persist import (
    HEADER,
    PfRule,
    parse_rules,
    render_rules,
    rule_line,
    wanted_rules,
)


def test_a_rule_sets_autoprobe_before_the_count_once_the_driver_is_bound():
    assert rule_line('02:00.0', PfRule(4, False)) == (
        'ACTION=="add|bind", SUBSYSTEM=="pci", KERNEL=="0000:02:00.0", DRIVER=="?*", '
        'ATTR{sriov_drivers_autoprobe}="0", ATTR{sriov_numvfs}="4"')
    assert rule_line('0000:41:00.1', PfRule(8)) == (
        'ACTION=="add|bind", SUBSYSTEM=="pci", KERNEL=="0000:41:00.1", DRIVER=="?*", ATTR{sriov_numvfs}="8"')


def test_rules_render_sorted_and_read_back_as_written():
    rules = {'0000:41:00.0': PfRule(8, True), '0000:02:00.0': PfRule(2)}
    text = render_rules(rules)
    assert text.startswith(HEADER) and text.index('0000:02:00.0') < text.index('0000:41:00.0')
    assert parse_rules(text) == rules
    assert render_rules({}) is None and parse_rules(None) == {}


def test_one_pf_is_replaced_or_removed_and_the_others_stay():
    current = {'0000:41:00.0': PfRule(8, True), '0000:02:00.0': PfRule(2)}
    replaced = wanted_rules(current, '0000:02:00.0', PfRule(4, False))
    assert replaced == {'0000:41:00.0': PfRule(8, True), '0000:02:00.0': PfRule(4, False)}
    assert wanted_rules(current, '0000:02:00.0', None) == {'0000:41:00.0': PfRule(8, True)}
    assert current == {'0000:41:00.0': PfRule(8, True), '0000:02:00.0': PfRule(2)}


@pytest.mark.parametrize('line, words', [
    ('ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:02:00.0", ATTR{sriov_numvfs}="4"', 'line 4 is not a rule'),
    ('ACTION=="add|bind", SUBSYSTEM=="pci", KERNEL=="0000:02:00.0", DRIVER=="?*", ATTR{sriov_numvfs}="4"; rm',
     'line 4 is not a rule'),
    ('ACTION=="add|bind", SUBSYSTEM=="pci", KERNEL=="0000:02:00.0", DRIVER=="?*", ATTR{sriov_numvfs}="2"',
     'line 4 is a second rule for 0000:02:00.0'),
])
def test_a_line_the_module_would_not_write_is_refused_naming_it(line, words):
    text = render_rules({'0000:02:00.0': PfRule(4)}) + line + '\n'
    with pytest.raises(HostdevError) as raised:
        parse_rules(text, '/etc/udev/rules.d/70-virt-hostdev-sriov.rules')
    assert raised.value.message.startswith('refusing /etc/udev/rules.d/70-virt-hostdev-sriov.rules: ' + words)
