# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sriov_vfs in process on the sample host whose PF acts as the kernel (a thread watching its
sriov_numvfs, support.fake_sriov): the options' rules, the host lock, refusals, the result keys."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils import host_lock as host_lock_module
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import host_lock
from ansible_collections.virt.hostdev.plugins.modules import sriov_vfs

from support.fake_host import FakeTools
from support.fake_sriov import PF, default_route_on, sriov_host
from support.module_run import module_runner

RULES = 'etc/udev/rules.d/70-virt-hostdev-sriov.rules'


@pytest.fixture()
def host(tmp_path, monkeypatch):
    root, kernel = sriov_host(str(tmp_path / 'root'), numvfs=0)
    tools = FakeTools(tmp_path, root, tools=('udevadm',)).use_in(monkeypatch)
    with kernel.watching():
        yield root, kernel, tools


@pytest.fixture()
def run(monkeypatch):
    return module_runner(monkeypatch, sriov_vfs.main)


def test_the_count_by_netdev_then_again_then_absent(host, run):
    root, kernel, tools = host
    made = run(root=root, source='sysfs', device='enp2s0', count=3, wait_timeout=60)
    assert made['failed'] is False and made['changed'] is True, made
    assert (made['device'], made['pf'], made['before'], made['after']) == ('pci_0000_02_00_0', PF, 0, 3)
    assert made['virtual_functions'] == ['0000:02:10.0', '0000:02:10.2', '0000:02:10.4'] and made['source'] == 'sysfs'
    assert made['files'] == ['/etc/udev/rules.d/70-virt-hostdev-sriov.rules'] and os.path.exists(os.path.join(root, RULES))
    tools.clear()
    again = run(root=root, source='sysfs', device='enp2s0', count=3)
    assert again['changed'] is False and again['writes'] == [] and tools.calls() == []
    gone = run(root=root, source='sysfs', device=PF, state='absent', wait_timeout=60)
    assert gone['changed'] is True and gone['virtual_functions'] == [] and kernel.vfs(PF) == []
    assert not os.path.exists(os.path.join(root, RULES)) and kernel.refused == []


def test_a_refusal_fails_with_its_problems_and_changes_nothing(host, run):
    root, kernel, tools = host
    default_route_on(root, 'enp2s0')
    result = run(root=root, source='sysfs', device=PF, count=8)
    assert result['failed'] is True and result['msg'].startswith('2 problems, nothing was changed: (1) ')
    assert [item['code'] for item in result['problems']] == ['count_above_total', 'host_in_use']
    assert kernel.vfs(PF) == [] and tools.calls() == [] and not os.path.exists(os.path.join(root, 'etc/udev'))


@pytest.mark.parametrize('args, message', [
    (dict(device=PF), 'state is present but all of the following are missing: count'),
    (dict(count=2), 'one of the following is required: device, mapping'),
    (dict(device=PF, count=2, mapping={'name': 'x', 'mappings': {}, 'host': 'h'}),
     'parameters are mutually exclusive: device|mapping'),
    (dict(device=PF, count=-2), 'count must be a number of virtual functions, 0 or more, not -2'),
    (dict(device=PF, count=2, wait_timeout=0), 'wait_timeout must be a number of seconds above 0, not 0'),
    (dict(device=PF, count=2, command_timeout=0), 'command_timeout must be a number of seconds above 0, not 0'),
    (dict(device=PF, count=2, source='auto', uri='qemu+ssh://hv2/system'),
     'sriov_vfs changes the virtual functions of this machine, which qemu+ssh://hv2/system does not describe'),
])
def test_bad_options_are_refused_before_the_lock(host, run, args, message):
    root, kernel, _tools = host
    result = run(**dict(dict(root=root, source='sysfs'), **args))
    assert result['failed'] is True and message in result['msg']
    assert not os.path.exists(os.path.join(root, 'run/virt-hostdev')) and kernel.vfs(PF) == []


def test_it_waits_for_the_host_lock_and_gives_up_naming_it(host, run, monkeypatch):
    root, kernel, _tools = host
    monkeypatch.setattr(host_lock_module, 'DEFAULT_TIMEOUT', 0.3)
    with host_lock(root=root, timeout=0) as held:
        result = run(root=root, source='sysfs', device=PF, count=2)
    assert result['failed'] is True and result['msg'].startswith(
        'another virt.hostdev change on this host held the lock %s' % held)
    assert kernel.vfs(PF) == []
