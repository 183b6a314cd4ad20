# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mdevs in process on the sample host read from sysfs, with a parent that acts as the kernel does
(support.fake_mdev) and the fake mdevctl on PATH: the options' rules, the host lock, check mode,
refusals (a held mdev of the sample's ci-runner among them), the result keys."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils import host_lock as host_lock_module
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import host_lock
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import derived_uuids
from ansible_collections.virt.hostdev.plugins.modules import mdevs

from support.fake_host import FakeTools
from support.fake_mdev import install_mdevctl, mdev_host
from support.module_run import module_runner

ONE = derived_uuids('lab-serial', 2)[0]
TWO = derived_uuids('lab-serial', 2)[1]


@pytest.fixture()
def host(tmp_path, monkeypatch):
    root, kernel = mdev_host(tmp_path / 'root')
    tools = FakeTools(tmp_path, root, tools=())
    install_mdevctl(tools.bin)
    tools.use_in(monkeypatch)
    monkeypatch.setenv('FAKE_SYSFS', os.path.join(root, 'sys'))
    with kernel.watching():
        yield root, kernel, tools


@pytest.fixture()
def run(monkeypatch):
    return module_runner(monkeypatch, mdevs.main)


def test_the_contract_call_then_again_then_absent(host, run):
    root, kernel, tools = host
    args = dict(root=root, source='sysfs', name='lab-serial', type='fake-2', count=2, parent='fake_fake0',
                placement='fill', persistent=True, autostart=True)
    made = run(**args)
    assert made['failed'] is False and made['changed'] is True, made
    assert made['method'] == 'mdevctl' and made['source'] == 'sysfs'
    assert made['mdevs'] == [{'uuid': uuid, 'name': 'mdev_%s_fake0' % uuid.replace('-', '_'), 'parent': 'fake_fake0',
                              'type': 'fake-2', 'active': True, 'persistent': True, 'autostart': True}
                             for uuid in (ONE, TWO)]
    assert set(kernel.mdevs()) == {ONE, TWO} and set(kernel.definitions()) == {ONE, TWO}
    tools.clear()
    again = run(**args)
    assert again['changed'] is False and again['actions'] == [] and again['method'] is None and tools.calls() == []
    assert again['mdevs'] == made['mdevs']
    gone = run(root=root, source='sysfs', name='lab-serial', state='absent')
    assert gone['changed'] is True and gone['mdevs'] == [] and [item['uuid'] for item in gone['removed']] == [ONE, TWO]
    assert kernel.mdevs() == {} and kernel.definitions() == {}


def test_check_mode_and_diff_change_nothing(host, run):
    root, kernel, tools, = host
    result = run(root=root, source='sysfs', name='lab-serial', type='fake-1', _ansible_check_mode=True,
                 _ansible_diff=True)
    assert result['changed'] is True and [item['action'] for item in result['actions']] == ['define', 'start']
    assert result['diff'][0]['after'] == '%s: type fake-1 on fake_fake0, active, defined, autostart\n' % ONE
    assert kernel.mdevs() == {} and tools.calls() == []


def test_transient_without_mdevctl_goes_through_sysfs_and_persistent_is_refused(host, run):
    root, kernel, tools, = host
    tools.remove('mdevctl')
    made = run(root=root, source='sysfs', uuids=[ONE.upper()], type='fake-1', persistent=False)
    assert made['changed'] is True and made['method'] == 'sysfs' and set(kernel.mdevs()) == {ONE}
    refused = run(root=root, source='sysfs', uuids=[TWO], type='fake-1')
    assert refused['failed'] is True and [item['code'] for item in refused['problems']] == ['no_persistence']
    assert set(kernel.mdevs()) == {ONE}


def test_a_refusal_fails_with_its_problems_and_changes_nothing(host, run):
    root, kernel, tools, = host
    result = run(root=root, source='sysfs', name='lab-serial', type='fake-3', parent='fake0')
    assert result['failed'] is True and result['msg'].startswith('1 problem, nothing was changed: (1) ')
    assert result['problems'] == [{'code': 'type_not_offered', 'device': 'fake_fake0', 'message':
                                   'fake_fake0 does not offer mdev type fake-3; it offers fake-1, fake-2'}]
    assert kernel.mdevs() == {} and tools.calls() == []


@pytest.mark.parametrize('args, message', [
    (dict(type='fake-1'), 'one of the following is required: name, uuids'),
    (dict(name='a', uuids=[ONE], type='fake-1'), 'parameters are mutually exclusive: name|uuids'),
    (dict(name='a'), 'state is present but all of the following are missing: type'),
    (dict(name='a', type='fake-1', persistent=False, autostart=True), 'autostart needs persistent: true'),
    (dict(uuids=['nope'], type='fake-1'), 'uuids holds what is not a UUID'),
    (dict(name='a', type='fake-1', wait_timeout=0), 'wait_timeout must be a number of seconds above 0, not 0'),
    (dict(name='a', type='fake-1', command_timeout=0), 'command_timeout must be a number of seconds above 0, not 0'),
    (dict(name='a', type='fake-1', placement='pack'), 'value of placement must be one of: fill, spread'),
    (dict(name='a', type='fake-1', source='auto', uri='test:///default'),
     'mdevs changes the mediated devices of this machine, which test:///default does not describe'),
])
def test_bad_options_are_refused_before_the_lock(host, run, args, message):
    root, kernel, _tools = host
    result = run(**dict(dict(root=root, source='sysfs'), **args))
    assert result['failed'] is True and message in result['msg']
    assert not os.path.exists(os.path.join(root, 'run/virt-hostdev')) and kernel.mdevs() == {}


def test_it_waits_for_the_host_lock_and_gives_up_naming_it(host, run, monkeypatch):
    root, kernel, _tools = host
    monkeypatch.setattr(host_lock_module, 'DEFAULT_TIMEOUT', 0.3)
    with host_lock(root=root, timeout=0) as held:
        result = run(root=root, source='sysfs', name='lab-serial', type='fake-1')
    assert result['failed'] is True and result['msg'].startswith(
        'another virt.hostdev change on this host held the lock %s' % held)
    assert kernel.mdevs() == {}


def test_removing_an_mdev_a_defined_domain_holds_is_refused_naming_it(host, run):
    root, _kernel, tools = host
    held = 'c2177883-f1bb-47f0-914d-32a22e3a8804'  # the sample's ci-runner names it in its definition
    result = run(root=root, source='sysfs', uuids=[held, '5e3c1d9a-0f4b-4c2e-8a61-7d2b9e0c4f13'], state='absent')
    assert result['failed'] is True
    assert [(item['code'], item['device']) for item in result['problems']] == [
        ('mdev_held', 'mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_mtty')]
    assert 'held by ci-runner' in result['problems'][0]['message'] and tools.calls() == []
    assert os.path.lexists(os.path.join(root, 'sys/bus/mdev/devices', held))
