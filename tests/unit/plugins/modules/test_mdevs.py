# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mdevs in process on fake mtty parents (support.fake_mdev) with the fake mdevctl on PATH: the options'
rules, the host lock, check mode, refusals, the result keys. The host is the fake kernel's records
(reading mdevs from sysfs is the readers' part, tested with them)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils import host_lock as host_lock_module
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import host_lock
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import derived_uuids
from ansible_collections.virt.hostdev.plugins.module_utils.preparing import mdev_apply
from ansible_collections.virt.hostdev.plugins.modules import mdevs

from support.fake_host import FakeTools
from support.fake_mdev import install_mdevctl, mtty_host
from support.module_run import module_runner

ONE, TWO = derived_uuids('lab-serial', 2)


@pytest.fixture()
def host(tmp_path, monkeypatch):
    root, kernel = mtty_host(tmp_path / 'root')
    tools = FakeTools(tmp_path, root, tools=())
    install_mdevctl(tools.bin)
    tools.use_in(monkeypatch)
    monkeypatch.setenv('FAKE_SYSFS', os.path.join(root, 'sys'))
    reads = []

    def read_host(source, uri, sysfs_root, conn=None, timeout=None):
        reads.append((source, sysfs_root))
        return HostModel(kernel.records()), 'sysfs', []
    monkeypatch.setattr(mdev_apply, 'read_host', read_host)
    with kernel.watching():
        yield root, kernel, tools, reads


@pytest.fixture()
def run(monkeypatch):
    return module_runner(monkeypatch, mdevs.main)


def test_the_contract_call_then_again_then_absent(host, run):
    root, kernel, tools, reads = host
    args = dict(root=root, source='sysfs', name='lab-serial', type='mtty-2', count=2, parent='mtty_mtty',
                placement='fill', persistent=True, autostart=True)
    made = run(**args)
    assert made['failed'] is False and made['changed'] is True, made
    assert made['method'] == 'mdevctl' and made['source'] == 'sysfs'
    assert made['mdevs'] == [{'uuid': uuid, 'name': 'mdev_%s_mtty' % uuid.replace('-', '_'), 'parent': 'mtty_mtty',
                              'type': 'mtty-2', 'active': True, 'persistent': True, 'autostart': True}
                             for uuid in (ONE, TWO)]
    assert set(kernel.mdevs()) == {ONE, TWO} and set(kernel.definitions()) == {ONE, TWO}
    assert reads == [('sysfs', os.path.join(root, 'sys'))]
    tools.clear()
    again = run(**args)
    assert again['changed'] is False and again['actions'] == [] and again['method'] is None and tools.calls() == []
    assert again['mdevs'] == made['mdevs']
    gone = run(root=root, source='sysfs', name='lab-serial', state='absent')
    assert gone['changed'] is True and gone['mdevs'] == [] and [item['uuid'] for item in gone['removed']] == [ONE, TWO]
    assert kernel.mdevs() == {} and kernel.definitions() == {}


def test_check_mode_and_diff_change_nothing(host, run):
    root, kernel, tools, _reads = host
    result = run(root=root, source='sysfs', name='lab-serial', type='mtty-1', _ansible_check_mode=True,
                 _ansible_diff=True)
    assert result['changed'] is True and [item['action'] for item in result['actions']] == ['define', 'start']
    assert result['diff'][0]['after'] == '%s: type mtty-1 on mtty_mtty, active, defined, autostart\n' % ONE
    assert kernel.mdevs() == {} and tools.calls() == []


def test_transient_without_mdevctl_goes_through_sysfs_and_persistent_is_refused(host, run):
    root, kernel, tools, _reads = host
    tools.remove('mdevctl')
    made = run(root=root, source='sysfs', uuids=[ONE.upper()], type='mtty-1', persistent=False)
    assert made['changed'] is True and made['method'] == 'sysfs' and set(kernel.mdevs()) == {ONE}
    refused = run(root=root, source='sysfs', uuids=[TWO], type='mtty-1')
    assert refused['failed'] is True and [item['code'] for item in refused['problems']] == ['no_persistence']
    assert set(kernel.mdevs()) == {ONE}


def test_a_refusal_fails_with_its_problems_and_changes_nothing(host, run):
    root, kernel, tools, _reads = host
    result = run(root=root, source='sysfs', name='lab-serial', type='mtty-3', parent='mtty')
    assert result['failed'] is True and result['msg'].startswith('1 problem, nothing was changed: (1) ')
    assert result['problems'] == [{'code': 'type_not_offered', 'device': 'mtty_mtty', 'message':
                                   'mtty_mtty does not offer mdev type mtty-3; it offers mtty-1, mtty-2'}]
    assert kernel.mdevs() == {} and tools.calls() == []


@pytest.mark.parametrize('args, message', [
    (dict(type='mtty-1'), 'one of the following is required: name, uuids'),
    (dict(name='a', uuids=[ONE], type='mtty-1'), 'parameters are mutually exclusive: name|uuids'),
    (dict(name='a'), 'state is present but all of the following are missing: type'),
    (dict(name='a', type='mtty-1', persistent=False, autostart=True), 'autostart needs persistent: true'),
    (dict(uuids=['nope'], type='mtty-1'), 'uuids holds what is not a UUID'),
    (dict(name='a', type='mtty-1', wait_timeout=0), 'wait_timeout must be a number of seconds above 0, not 0'),
    (dict(name='a', type='mtty-1', command_timeout=0), 'command_timeout must be a number of seconds above 0, not 0'),
    (dict(name='a', type='mtty-1', placement='pack'), 'value of placement must be one of: fill, spread'),
    (dict(name='a', type='mtty-1', source='auto', uri='test:///default'),
     'mdevs changes the mediated devices of this machine, which test:///default does not describe'),
])
def test_bad_options_are_refused_before_the_lock(host, run, args, message):
    root, kernel, _tools, reads = host
    result = run(**dict(dict(root=root, source='sysfs'), **args))
    assert result['failed'] is True and message in result['msg']
    assert not os.path.exists(os.path.join(root, 'run/virt-hostdev')) and kernel.mdevs() == {} and reads == []


def test_it_waits_for_the_host_lock_and_gives_up_naming_it(host, run, monkeypatch):
    root, kernel, _tools, reads = host
    monkeypatch.setattr(host_lock_module, 'DEFAULT_TIMEOUT', 0.3)
    with host_lock(root=root, timeout=0) as held:
        result = run(root=root, source='sysfs', name='lab-serial', type='mtty-1')
    assert result['failed'] is True and result['msg'].startswith(
        'another virt.hostdev change on this host held the lock %s' % held)
    assert kernel.mdevs() == {} and reads == []
