# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plan_rule on Debian 12's mdevctl rule (tests/fixtures/udev, mdevctl 1.2.0-3+b1, which runs /usr/sbin/mdevctl
while the package installs /usr/bin/mdevctl): the repair, a rule that works, our override kept or rebuilt, a
foreign override, and every refusal (autostart_broken)."""

from __future__ import annotations

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.mdev_autostart import (
    MARK,
    OVERRIDE,
    plan_rule,
    rule_programs,
)

from support.fake_mdev import DEBIAN_RULE

PACKAGED = '/usr/lib/udev/rules.d/60-mdevctl.rules'
REAL = '/usr/bin/mdevctl'


def debian():
    with open(DEBIAN_RULE) as handle:
        return handle.read()


def only(*paths):
    return lambda path: path in paths


def codes(plan):
    return [item['code'] for item in plan.problems]


def test_debian_rule_names_usr_sbin_mdevctl_in_both_run_lines():
    assert rule_programs(debian()) == ['/usr/sbin/mdevctl']
    assert debian().count('/usr/sbin/mdevctl start-parent-mdevs') == 2


def test_a_missing_mdevctl_is_replaced_by_the_one_found_under_a_header():
    plan = plan_rule([(PACKAGED, debian())], only(REAL), REAL)
    assert plan.problems == [] and plan.repaired == {'path': OVERRIDE, 'masks': PACKAGED,
                                                     'replaced': {'/usr/sbin/mdevctl': REAL}}
    assert plan.write.startswith(MARK) and rule_programs(plan.write) == [REAL]
    body = plan.write[plan.write.index('# When registered'):]
    assert body == debian().replace('/usr/sbin/mdevctl', REAL)
    assert PACKAGED in plan.write.splitlines()[0] and 'issue #82' in plan.write


def test_a_rule_whose_program_exists_needs_nothing():
    plan = plan_rule([(PACKAGED, debian())], only('/usr/sbin/mdevctl', REAL), REAL)
    assert plan.write is None and plan.repaired is None and plan.problems == []


def test_our_override_already_written_needs_nothing_and_is_rebuilt_when_mdevctl_moves():
    written = plan_rule([(PACKAGED, debian())], only(REAL), REAL).write
    again = plan_rule([(OVERRIDE, written), (PACKAGED, debian())], only(REAL), REAL)
    assert again.write is None and again.repaired is None and again.problems == []
    moved = plan_rule([(OVERRIDE, written), (PACKAGED, debian())], only('/usr/local/bin/mdevctl'),
                      '/usr/local/bin/mdevctl')
    assert rule_programs(moved.write) == ['/usr/local/bin/mdevctl']
    assert moved.repaired['replaced'] == {'/usr/sbin/mdevctl': '/usr/local/bin/mdevctl'}


def test_a_foreign_override_that_works_masks_the_broken_package_and_is_left_alone():
    fixed = debian().replace('/usr/sbin/mdevctl', REAL)
    plan = plan_rule([(OVERRIDE, fixed), (PACKAGED, debian())], only(REAL), REAL)
    assert plan.write is None and plan.problems == []


def test_a_foreign_override_naming_a_missing_program_is_refused_not_rewritten():
    for directory in ('/etc/udev/rules.d', '/run/udev/rules.d'):
        plan = plan_rule([(directory + '/60-mdevctl.rules', debian()), (PACKAGED, debian())], only(REAL), REAL)
        assert codes(plan) == ['autostart_broken'] and plan.write is None
        message = plan.problems[0]['message']
        assert directory + '/60-mdevctl.rules' in message and '/usr/sbin/mdevctl' in message


def test_a_mask_is_autostart_broken_naming_it_and_never_replaced():
    for path in (OVERRIDE, '/run/udev/rules.d/60-mdevctl.rules'):
        plan = plan_rule([(path, None)], only(REAL), REAL)
        assert codes(plan) == ['autostart_broken'] and plan.write is None and plan.repaired is None
        message = plan.problems[0]['message']
        assert message.startswith('%s is a symbolic link to /dev/null, udev\'s mask' % path)
        assert 'remove the link' in message and 'autostart: false' in message
    # Our override above a mask below it: udev reads ours, so ours is what counts.
    written = plan_rule([(PACKAGED, debian())], only(REAL), REAL).write
    assert plan_rule([(OVERRIDE, written), ('/run/udev/rules.d/60-mdevctl.rules', None)], only(REAL), REAL).problems == []


def test_no_rule_no_mdevctl_path_or_no_mdevctl_is_refused():
    none = plan_rule([], only(REAL), REAL)
    assert codes(none) == ['autostart_broken'] and '60-mdevctl.rules' in none.problems[0]['message']
    relative = debian().replace('/usr/sbin/mdevctl', 'mdevctl')
    pathless = plan_rule([(PACKAGED, relative)], only(REAL), REAL)
    assert codes(pathless) == ['autostart_broken'] and PACKAGED in pathless.problems[0]['message']
    absent = plan_rule([(PACKAGED, debian())], only(), None)
    assert codes(absent) == ['autostart_broken'] and 'not installed' in absent.problems[0]['message']
    assert all(plan.write is None for plan in (none, pathless, absent))


def test_mdevctl_named_only_in_a_comment_is_no_program():
    assert rule_programs('# RUN+="/usr/sbin/mdevctl start-parent-mdevs %k"\n') == []
    assert rule_programs('ACTION=="add", RUN+="/opt/mdevctl-tools/run /usr/sbin/mdevctl2"\n') == []
