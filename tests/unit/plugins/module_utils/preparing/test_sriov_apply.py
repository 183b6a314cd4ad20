# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ensure_vfs on the sample host whose PF acts as the kernel does (support.fake_sriov): the VFs made
and waited for, through 0 between two counts, the udev rule written and reloaded, check mode, a second
run that does and runs nothing, and failures that say what happened."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import HostFiles
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.sriov_apply import (
    ensure_vfs,
    local_sysfs,
    write_attribute,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.sriov_count import VfRequest
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.sriov_persist import RULES
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

from support.fake_host import FakeTools, read, write
from support.fake_sriov import PF, hold_in_domain, sriov_host

# udevadm with `verify` (systemd 255): FAKE_VERIFY_FAIL makes verify refuse, as for a syntax error.
UDEVADM = '''#!/bin/sh
echo "udevadm $*" >> "$FAKE_LOG.udevadm"
case "$1" in
  --version) echo "255 (255.4-1)";;
  verify) if [ -n "$FAKE_VERIFY_FAIL" ]; then echo "$2:1 Invalid key/value pair" >&2; exit 1; fi;;
esac
'''


@pytest.fixture()
def host(tmp_path):
    """run(request, writer=None, **options) -> ensure_vfs's outcome on a fresh read; the kernel and tools."""
    root, kernel = sriov_host(str(tmp_path / 'root'), numvfs=2)
    tools = FakeTools(tmp_path, root, tools=('udevadm',))

    def run(request, writer=None, **options):
        model = read_host('sysfs', 'qemu:///system', os.path.join(root, 'sys'))[0]
        return ensure_vfs(HostFiles(root), tools.commands(), model, SysfsTree(os.path.join(root, 'sys')), request,
                          writer=writer or kernel.writer, **options)
    return root, kernel, tools, run


def vfs_of(kernel):
    return [os.path.basename(os.path.realpath(os.path.join(kernel.pf_dir(PF), entry))) for entry in kernel.vfs(PF)]


def test_without_going_through_0_the_kernel_refuses(host):
    """The simulation the tests below rely on: 2 -> 4 directly is EBUSY, as in drivers/pci/iov.c."""
    _root, kernel, _tools, _run = host
    with pytest.raises(OSError) as raised:
        kernel.set_numvfs(PF, 4)
    assert raised.value.errno == errno.EBUSY and len(kernel.vfs(PF)) == 2


def test_2_to_4_goes_through_0_waits_for_the_vfs_and_writes_the_rule(host):
    root, kernel, tools, run = host
    outcome = run(VfRequest(device=PF, count=4, drivers_autoprobe=False))
    assert outcome.changed is True and outcome.plan.through_zero is True
    assert outcome.plan.writes == [('sriov_drivers_autoprobe', 0), ('sriov_numvfs', 0), ('sriov_numvfs', 4)]
    assert outcome.virtual_functions == ['0000:02:10.0', '0000:02:10.2', '0000:02:10.4', '0000:02:10.6']
    assert vfs_of(kernel) == outcome.virtual_functions
    assert not os.path.lexists(os.path.join(root, 'sys/bus/pci/devices/0000:02:10.0/driver'))  # autoprobe off
    text = read(root, RULES)
    assert text.endswith('KERNEL=="0000:02:00.0", DRIVER=="?*", ATTR{sriov_drivers_autoprobe}="0", '
                         'ATTR{sriov_numvfs}="4"\n')
    assert stat.S_IMODE(os.stat(os.path.join(root, RULES.lstrip('/'))).st_mode) == 0o644
    udevadm = os.path.join(tools.bin, 'udevadm')
    assert outcome.commands == [[udevadm, 'control', '--reload']]
    assert tools.calls() == [['udevadm', '--version'], ['udevadm', 'control', '--reload']]
    counts = outcome.diff[0]
    assert counts['before'] == 'sriov_drivers_autoprobe: 1\nsriov_numvfs: 2\n'
    assert counts['after'] == 'sriov_drivers_autoprobe: 0\nsriov_numvfs: 0 -> 4\n'
    assert counts['after_header'].endswith('(through 0: the kernel refuses 2 -> 4 directly, so the 2 VFs are '
                                           'removed first)')
    assert outcome.diff[1]['after'] == text and outcome.files == [RULES]


def test_a_second_run_changes_nothing_and_runs_nothing(host):
    root, kernel, tools, run = host
    run(VfRequest(device=PF, count=3))
    tools.clear()
    before = read(root, RULES)
    again = run(VfRequest(device=PF, count=3), writer=lambda *args: pytest.fail('wrote %r' % (args,)))
    assert again.changed is False and again.plan.writes == [] and again.diff == [] and again.files == []
    assert again.commands == [] and tools.calls() == [] and read(root, RULES) == before
    assert again.virtual_functions == vfs_of(kernel) and len(again.virtual_functions) == 3


def test_check_mode_plans_the_same_and_changes_nothing(host):
    root, kernel, tools, run = host
    planned = run(VfRequest(device=PF, count=5), check_mode=True)
    assert planned.changed is True and planned.virtual_functions is None
    assert len(kernel.vfs(PF)) == 2 and not os.path.exists(os.path.join(root, RULES.lstrip('/')))
    assert tools.calls() == []
    done = run(VfRequest(device=PF, count=5))
    assert done.diff == planned.diff and done.plan.writes == planned.plan.writes


def test_state_absent_sets_0_and_removes_the_pf_rule_and_then_the_file(host):
    root, kernel, _tools, run = host
    run(VfRequest(device=PF, count=2, drivers_autoprobe=True))
    write(root, RULES, read(root, RULES) + 'ACTION=="add|bind", SUBSYSTEM=="pci", KERNEL=="0000:41:00.0", '
          'DRIVER=="?*", ATTR{sriov_numvfs}="8"\n')
    gone = run(VfRequest(device=PF, state='absent'))
    assert gone.plan.writes == [('sriov_numvfs', 0)] and kernel.vfs(PF) == [] and gone.virtual_functions == []
    assert '0000:02:00.0' not in read(root, RULES) and '0000:41:00.0' in read(root, RULES)
    write(root, RULES, read(root, RULES).replace('0000:41:00.0', '0000:02:00.0'))
    last = run(VfRequest(device=PF, state='absent'))
    assert last.plan.writes == [] and last.changed is True
    assert not os.path.exists(os.path.join(root, RULES.lstrip('/')))


def test_persistent_false_sets_the_count_now_and_removes_the_rule(host):
    root, kernel, _tools, run = host
    run(VfRequest(device=PF, count=2))
    assert os.path.exists(os.path.join(root, RULES.lstrip('/')))
    outcome = run(VfRequest(device=PF, count=1, persistent=False))
    assert len(kernel.vfs(PF)) == 1 and outcome.files == [RULES]
    assert not os.path.exists(os.path.join(root, RULES.lstrip('/')))


def test_a_refusal_writes_nothing(host):
    root, kernel, tools, run = host
    hold_in_domain(root, '0000:02:10.0', 'ci-vf')
    with pytest.raises(HostdevError) as raised:
        run(VfRequest(device=PF, count=9))
    assert raised.value.message.startswith('2 problems, nothing was changed: ')
    assert sorted(item['code'] for item in raised.value.result['problems']) == ['count_above_total', 'vf_assigned']
    assert len(kernel.vfs(PF)) == 2 and tools.calls() == [] and not os.path.exists(os.path.join(root, 'etc/udev'))


def test_a_hand_edited_rule_file_is_refused_before_the_vfs_change(host):
    root, kernel, _tools, run = host
    write(root, RULES, 'ACTION=="add", KERNEL=="0000:02:00.0", ATTR{sriov_numvfs}="2"\n')
    with pytest.raises(HostdevError, match='line 1 is not a rule virt.hostdev.sriov_vfs writes'):
        run(VfRequest(device=PF, count=4))
    assert len(kernel.vfs(PF)) == 2


def test_a_linked_rules_directory_is_refused_before_the_vfs_change(host, tmp_path):
    root, kernel, _tools, run = host
    outside = tmp_path / 'outside'
    outside.mkdir()
    os.makedirs(os.path.join(root, 'etc/udev'))
    os.symlink(str(outside), os.path.join(root, 'etc/udev/rules.d'))
    with pytest.raises(HostdevError, match='is a symbolic link'):
        run(VfRequest(device=PF, count=4))
    assert len(kernel.vfs(PF)) == 2 and os.listdir(str(outside)) == []


def test_udevadm_verify_refuses_the_rules_before_anything_changes(host, monkeypatch):
    root, kernel, tools, run = host
    with open(os.path.join(tools.bin, 'udevadm'), 'w') as handle:
        handle.write(UDEVADM)
    monkeypatch.setenv('FAKE_LOG', tools.log)
    monkeypatch.setenv('FAKE_VERIFY_FAIL', '1')
    with pytest.raises(HostdevError) as raised:
        run(VfRequest(device=PF, count=4))
    assert raised.value.message.startswith('udevadm refuses the rules /etc/udev/rules.d/70-virt-hostdev-sriov.rules '
                                           'would hold, nothing was changed: ')
    assert 'Invalid key/value pair' in raised.value.message
    assert len(kernel.vfs(PF)) == 2 and not os.path.exists(os.path.join(root, RULES.lstrip('/')))
    monkeypatch.delenv('FAKE_VERIFY_FAIL')
    outcome = run(VfRequest(device=PF, count=4))
    assert [command[1] for command in outcome.commands] == ['verify', 'control']
    assert len(kernel.vfs(PF)) == 4


def test_vfs_that_do_not_come_are_a_timeout_naming_the_pf_and_what_was_seen(host):
    root, kernel, _tools, run = host

    def lazy_driver(path, text, timeout):  # takes the write, makes no VF
        with open(path, 'w') as handle:
            handle.write(text)

    run(VfRequest(device=PF, state='absent'))
    with pytest.raises(HostdevError) as raised:
        run(VfRequest(device=PF, count=3), writer=lazy_driver, wait_timeout=0.2)
    assert raised.value.message == ('0000:02:00.0 was given 3 virtual functions, but after 0.2 s it lists 0 (none): '
                                    'the driver did not make them (see the kernel log, dmesg)')
    assert not os.path.exists(os.path.join(root, RULES.lstrip('/')))  # not persisted: it did not work now


def test_a_write_the_kernel_refuses_says_what_was_written_before(host):
    root, kernel, _tools, run = host

    def refusing(path, text, timeout):
        if text == '4\n':
            raise OSError(errno.ENOMEM, 'Cannot allocate memory')
        kernel.writer(path, text, timeout)

    with pytest.raises(HostdevError) as raised:
        run(VfRequest(device=PF, count=4), writer=refusing)
    assert raised.value.message == ('writing 4 to %s/sriov_numvfs failed: Cannot allocate memory; written before it: '
                                    'sriov_numvfs=0' % kernel.pf_dir(PF))


def test_write_attribute_writes_a_file_and_never_through_a_link(tmp_path):
    attribute = tmp_path / 'sriov_numvfs'
    attribute.write_text('0\n')
    write_attribute(str(attribute), '4\n', 5)
    assert attribute.read_text() == '4\n'
    os.symlink(str(attribute), str(tmp_path / 'planted'))
    with pytest.raises(OSError) as raised:
        write_attribute(str(tmp_path / 'planted'), '0\n', 5)
    assert raised.value.errno == errno.ELOOP and attribute.read_text() == '4\n'


def test_only_this_machines_sysfs_is_changed(tmp_path):
    with pytest.raises(HostdevError, match='sriov_vfs changes the virtual functions of this machine'):
        local_sysfs('qemu+ssh://hv2/system', 'auto', '/', None)
    assert local_sysfs('qemu:///system', 'auto', '/', None) == '/sys'
    assert local_sysfs('test:///default', 'sysfs', str(tmp_path), None) == str(tmp_path / 'sys')


def test_a_failed_udev_reload_says_what_was_done(host, monkeypatch):
    root, kernel, tools, run = host
    monkeypatch.setenv('FAKE_FAIL_WITH', '--reload')
    with pytest.raises(HostdevError) as raised:
        run(VfRequest(device=PF, count=3))
    assert raised.value.message.startswith('0000:02:00.0 has its 3 virtual functions and '
                                           '/etc/udev/rules.d/70-virt-hostdev-sriov.rules is written, but ')
    assert 'control --reload failed with exit code 3' in raised.value.message
    assert len(kernel.vfs(PF)) == 3 and 'ATTR{sriov_numvfs}="3"' in read(root, RULES)
