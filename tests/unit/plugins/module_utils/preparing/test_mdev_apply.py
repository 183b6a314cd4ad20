# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ensure_mdevs on the sample host read from sysfs, with a parent that acts as the kernel does
(support.fake_mdev), through sysfs and through a fake mdevctl: the mdevs made and removed and waited for, the definitions written, check
mode, a second run that does and runs nothing, failures half-way that the next run repairs; the
libvirt way's calls and XML on a recording connection (libvirt's test driver has no mdevs)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import HostFiles
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import derived_uuids
from ansible_collections.virt.hostdev.plugins.module_utils.preparing import mdev_apply
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.mdev_apply import (
    available_methods,
    device_xml,
    ensure_mdevs,
    local_sysfs,
    run_mdevs,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.mdev_plan import MdevAction, MdevRequest
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

from support.fake_host import FakeTools
from support.fake_mdev import install_mdevctl, mdev_host

ONE, TWO = derived_uuids('serial', 2)


@pytest.fixture()
def host(tmp_path):
    """(root, kernel, tools, run): run(request, methods, **options) is ensure_mdevs on a fresh read of the kernel
    (unknown: the mdev states its reader leaves None)."""
    root, kernel = mdev_host(tmp_path / 'root')
    tools = FakeTools(tmp_path, root, tools=())
    install_mdevctl(tools.bin)
    sysfs = os.path.join(root, 'sys')

    def run(request, methods=('mdevctl', 'sysfs'), env=None, unknown=(), **options):
        # the fake kernel is a thread: under a loaded machine it can take seconds to act, and a run that
        # succeeds returns as soon as it has (the tests of the wait itself pass their own short one)
        options.setdefault('wait_timeout', 60)
        model = read_host('sysfs', 'qemu:///system', sysfs)[0]
        for name in model.names():  # what a reader that cannot tell these states (unknown) says of each mdev
            if model.device(name).get('type') == 'mdev':
                model.device(name)['mdev'].update(dict.fromkeys(unknown))
        return ensure_mdevs(model, request, SysfsTree(sysfs), tools.commands(FAKE_SYSFS=sysfs, **(env or {})),
                            list(methods), files=HostFiles(root), **options)
    return root, kernel, tools, run


def definition(root, parent, uuid):
    with open(os.path.join(root, 'etc', 'mdevctl.d', parent, uuid)) as handle:
        return json.load(handle)


def test_the_fake_kernel_refuses_a_second_create_and_counts_instances(host):
    _root, kernel, _tools, _run = host
    kernel.create('fake0', 'fake-2', ONE)
    assert kernel.available('fake0', 'fake-2') == 1
    with pytest.raises(OSError) as raised:
        kernel.create('fake0', 'fake-2', ONE)
    assert raised.value.errno == errno.EEXIST
    kernel.remove(ONE)
    assert kernel.mdevs() == {} and kernel.available('fake0', 'fake-2') == 2


def test_sysfs_makes_transient_mdevs_and_a_second_run_does_nothing(host):
    root, kernel, tools, run = host
    request = MdevRequest(name='serial', type='fake-2', count=2, persistent=False)
    with kernel.watching():
        outcome = run(request, methods=['sysfs'])
    assert outcome.changed is True and outcome.plan.method == 'sysfs'
    assert kernel.mdevs() == {ONE: ('fake0', 'fake-2'), TWO: ('fake0', 'fake-2')}
    assert kernel.available('fake0', 'fake-2') == 0 and kernel.refused == []
    create = os.path.join(root, 'sys', 'class', 'mdev_bus', 'fake0', 'mdev_supported_types', 'fake-2', 'create')
    assert outcome.commands == [['write', create, ONE], ['write', create, TWO]]
    assert [(item['uuid'], item['parent'], item['active'], item['persistent']) for item in outcome.result()['mdevs']] \
        == [(ONE, 'fake_fake0', True, False), (TWO, 'fake_fake0', True, False)]
    again = run(request, methods=['sysfs'])
    assert again.changed is False and again.commands == [] and again.result()['diff'] == []
    with kernel.watching():
        gone = run(MdevRequest(name='serial', state='absent'), methods=['sysfs'])
    assert [item['uuid'] for item in gone.result()['removed']] == [ONE, TWO] and kernel.mdevs() == {}
    assert kernel.available('fake0', 'fake-2') == 2 and tools.calls() == []


def test_mdevctl_defines_with_autostart_starts_and_a_rerun_runs_nothing(host):
    root, kernel, tools, run = host
    request = MdevRequest(name='serial', type='fake-1', count=2)
    outcome = run(request)
    assert outcome.plan.method == 'mdevctl'
    mdevctl = os.path.join(tools.bin, 'mdevctl')
    assert outcome.commands == [
        [mdevctl, 'define', '--uuid', ONE, '--parent', 'fake0', '--type', 'fake-1', '--auto'],
        [mdevctl, 'start', '--uuid', ONE],
        [mdevctl, 'define', '--uuid', TWO, '--parent', 'fake0', '--type', 'fake-1', '--auto'],
        [mdevctl, 'start', '--uuid', TWO]]
    assert [call[:2] for call in tools.calls()] == [['mdevctl', 'define'], ['mdevctl', 'start']] * 2
    assert definition(root, 'fake0', ONE) == {'mdev_type': 'fake-1', 'start': 'auto', 'attrs': []}
    assert set(kernel.mdevs()) == {ONE, TWO} and kernel.available('fake0', 'fake-1') == 2
    diff = outcome.result()['diff'][0]
    assert diff['before'] == '' and diff['after'].splitlines() == [
        '%s: type fake-1 on fake_fake0, active, defined, autostart' % uuid for uuid in (ONE, TWO)]
    tools.clear()
    again = run(request)
    assert again.changed is False and tools.calls() == []


def test_mdevctl_changes_autostart_and_removes_what_count_no_longer_covers(host):
    root, kernel, tools, run = host
    run(MdevRequest(name='serial', type='fake-1', count=2))
    tools.clear()
    outcome = run(MdevRequest(name='serial', type='fake-1', count=1, autostart=False))
    assert [call[:2] for call in tools.calls()] == [['mdevctl', 'stop'], ['mdevctl', 'undefine'],
                                                    ['mdevctl', 'modify']]
    assert tools.calls()[-1][-1] == '--manual' and definition(root, 'fake0', ONE)['start'] == 'manual'
    assert set(kernel.mdevs()) == {ONE} and set(kernel.definitions()) == {ONE}
    assert [item['uuid'] for item in outcome.result()['removed']] == [TWO]


def test_check_mode_plans_the_same_and_changes_nothing(host):
    _root, kernel, tools, run = host
    outcome = run(MdevRequest(name='serial', type='fake-1', count=2), check_mode=True)
    assert outcome.changed is True and len(outcome.commands) == 4 and [m['active'] for m in outcome.result()['mdevs']] \
        == [True, True]
    assert kernel.mdevs() == {} and kernel.definitions() == {} and tools.calls() == []


def test_a_failure_half_way_says_what_was_done_and_the_next_run_finishes(host):
    _root, kernel, tools, run = host
    request = MdevRequest(name='serial', type='fake-1')
    with pytest.raises(HostdevError) as raised:
        run(request, env={'FAKE_MDEVCTL_FAIL': 'start'})
    assert 'start %s failed (mdevctl way)' % ONE in raised.value.message
    assert 'simulated failure; done before it: define %s' % ONE in raised.value.message
    assert set(kernel.definitions()) == {ONE} and kernel.mdevs() == {}
    tools.clear()
    outcome = run(request)
    assert [action.action for action in outcome.plan.actions] == ['start'] and set(kernel.mdevs()) == {ONE}


def test_an_mdev_that_does_not_appear_fails_within_the_wait(host):
    _root, kernel, _tools, run = host
    with pytest.raises(HostdevError) as raised:  # no kernel watching: the write does nothing
        run(MdevRequest(uuids=[ONE], type='fake-1', persistent=False), methods=['sysfs'], wait_timeout=0.2)
    assert raised.value.message.startswith('create %s failed (sysfs way): mediated device %s did not appear in '
                                           % (ONE, ONE))
    assert 'within 0.2 s; done before it: nothing' in raised.value.message


def test_sysfs_never_writes_through_a_link(host, tmp_path):
    root, _kernel, _tools, run = host
    create = os.path.join(root, 'sys', 'devices', 'virtual', 'fake', 'fake0', 'mdev_supported_types', 'fake-1',
                          'create')
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.write_text('')
    os.unlink(create)
    os.symlink(str(elsewhere), create)
    with pytest.raises(HostdevError) as raised:
        run(MdevRequest(uuids=[ONE], type='fake-1', persistent=False), methods=['sysfs'], wait_timeout=0.2)
    assert 'cannot open %s for writing' % create in raised.value.message and elsewhere.read_text() == ''


def test_a_refusal_changes_nothing_and_lists_problems(host):
    _root, kernel, tools, run = host
    with pytest.raises(HostdevError) as raised:
        run(MdevRequest(name='serial', type='fake-2', count=3))
    assert [item['code'] for item in raised.value.result['problems']] == ['not_enough_instances']
    assert raised.value.message.startswith('1 problem, nothing was changed: ')
    assert kernel.mdevs() == {} and tools.calls() == []


def test_the_ways_this_host_has(host):
    _root, _kernel, tools, _run = host

    class Conn:
        def __init__(self, version):
            self.version = version

        def getLibVersion(self):
            return self.version

    commands = tools.commands()
    assert available_methods(commands, Conn(9000000)) == ['libvirt', 'mdevctl', 'sysfs']
    assert available_methods(commands, Conn(7002000)) == ['mdevctl', 'sysfs']
    assert available_methods(commands, None) == ['mdevctl', 'sysfs']
    tools.remove('mdevctl')
    assert available_methods(commands, Conn(9000000)) == ['sysfs']


class RecordingConn:
    """What the libvirt way calls, in order; failing: the call that raises a libvirtError."""

    def __init__(self, failing=None):
        self.calls = []
        self.failing = failing

    def _call(self, name, *args):
        self.calls.append((name,) + args)
        if name == self.failing:
            raise libvirt.libvirtError('Unable to find mdevctl')
        return self

    def nodeDeviceDefineXML(self, xml, flags):
        return self._call('define', xml)

    def nodeDeviceCreateXML(self, xml, flags):
        return self._call('createxml', xml)

    def nodeDeviceLookupByName(self, name):
        return self._call('lookup', name)

    def setAutostart(self, flag):
        return self._call('autostart', flag)

    def create(self, flags):
        return self._call('create')

    def destroy(self):
        return self._call('destroy')

    def undefine(self, flags):
        return self._call('undefine')


def test_the_libvirt_way_defines_autostarts_starts_and_checks_sysfs(host):
    _root, kernel, _tools, run = host
    conn = RecordingConn()
    with kernel.watching():
        with pytest.raises(HostdevError) as raised:  # the recording connection makes no mdev
            run(MdevRequest(uuids=[ONE], type='fake-1'), methods=['libvirt'], conn=conn, wait_timeout=0.2)
    assert [call[0] for call in conn.calls] == ['define', 'autostart', 'lookup', 'create']
    assert conn.calls[2][1] == 'mdev_%s_fake0' % ONE.replace('-', '_')
    assert 'did not appear in' in raised.value.message and 'done before it: define %s' % ONE in raised.value.message
    outcome = run(MdevRequest(uuids=[ONE], type='fake-1'), methods=['libvirt'], conn=conn, check_mode=True)
    assert outcome.commands == [['virNodeDeviceDefineXML', 'mdev_%s_fake0' % ONE.replace('-', '_')],
                                ['virNodeDeviceCreate', 'mdev_%s_fake0' % ONE.replace('-', '_')]]


def test_a_libvirt_error_is_a_message(host):
    _root, _kernel, _tools, run = host
    with pytest.raises(HostdevError) as raised:
        run(MdevRequest(uuids=[ONE], type='fake-1'), methods=['libvirt'], conn=RecordingConn(failing='define'))
    assert raised.value.message.startswith('define %s failed (libvirt way): libvirt could not define mediated device '
                                           '%s: Unable to find mdevctl' % (ONE, ONE))


def test_the_node_device_xml_libvirt_is_sent():
    xml = device_xml(MdevAction('define', ONE, 'fake_fake0', 'fake0', 'fake-2', True))
    element = ET.fromstring(xml)
    assert element.findtext('parent') == 'fake_fake0'
    capability = element.find('capability')
    assert capability.get('type') == 'mdev' and capability.find('type').get('id') == 'fake-2'
    assert capability.findtext('uuid') == ONE


def test_another_machine_is_refused_unless_its_sysfs_is_read(tmp_path):
    with pytest.raises(HostdevError) as raised:
        local_sysfs('test:///default', 'auto', '/', None)
    assert 'changes the mediated devices of this machine, which test:///default does not describe' \
        in raised.value.message
    assert local_sysfs('qemu:///system', 'auto', str(tmp_path), None) == os.path.join(str(tmp_path), 'sys')


def debian_host(root, tools):
    """Debian 12 as the lab found it: the packaged rule runs /usr/sbin/mdevctl, which is not there."""
    os.unlink(os.path.join(root, 'usr', 'sbin', 'mdevctl'))
    tools.add('udevadm')


def test_autostart_repairs_debians_rule_in_check_mode_nothing_then_once(host):
    root, kernel, tools, run = host
    debian_host(root, tools)
    override = os.path.join(root, 'etc', 'udev', 'rules.d', '60-mdevctl.rules')
    request = MdevRequest(name='serial', type='fake-1')
    preview = run(request, check_mode=True)
    udevadm, mdevctl = os.path.join(tools.bin, 'udevadm'), os.path.join(tools.bin, 'mdevctl')
    assert preview.changed is True and preview.commands[0] == [udevadm, 'control', '--reload']
    assert preview.result()['udev_rule_repaired'] == {
        'path': '/etc/udev/rules.d/60-mdevctl.rules', 'masks': '/usr/lib/udev/rules.d/60-mdevctl.rules',
        'replaced': {'/usr/sbin/mdevctl': mdevctl}}
    file_diff = preview.result()['diff'][1]
    assert file_diff['before'] == '' and '%s start-parent-mdevs' % mdevctl in file_diff['after']
    assert not os.path.lexists(override) and tools.calls() == [] and kernel.mdevs() == {}
    made = run(request)
    with open(override) as handle:
        assert handle.read() == file_diff['after']
    assert [call[:2] for call in tools.calls()] == [['udevadm', 'control'], ['mdevctl', 'define'],
                                                    ['mdevctl', 'start']]
    assert made.result()['udev_rule_repaired']['path'] == '/etc/udev/rules.d/60-mdevctl.rules'
    tools.clear()
    again = run(request)
    assert again.changed is False and again.result()['udev_rule_repaired'] is None and tools.calls() == []


def test_a_rule_that_works_is_left_alone_and_transient_mdevs_need_no_rule(host):
    root, kernel, tools, run = host
    tools.add('udevadm')
    assert run(MdevRequest(name='serial', type='fake-1')).result()['udev_rule_repaired'] is None
    assert not os.path.lexists(os.path.join(root, 'etc', 'udev', 'rules.d', '60-mdevctl.rules'))
    assert 'udevadm' not in [call[0] for call in tools.calls()]
    os.unlink(os.path.join(root, 'usr', 'lib', 'udev', 'rules.d', '60-mdevctl.rules'))
    assert run(MdevRequest(name='other', type='fake-1', persistent=False)).changed is True


def test_no_rule_is_refused_before_any_change(host):
    root, kernel, tools, run = host
    os.unlink(os.path.join(root, 'usr', 'lib', 'udev', 'rules.d', '60-mdevctl.rules'))
    with pytest.raises(HostdevError) as raised:
        run(MdevRequest(name='serial', type='fake-1'))
    assert [item['code'] for item in raised.value.result['problems']] == ['autostart_broken']
    assert '60-mdevctl.rules' in raised.value.message and '/usr/lib/udev/rules.d' in raised.value.message
    assert kernel.mdevs() == {} and kernel.definitions() == {} and tools.calls() == []


def test_the_override_is_never_written_through_a_planted_link(host, tmp_path):
    root, kernel, tools, run = host
    debian_host(root, tools)
    target = tmp_path / 'elsewhere'
    target.write_text('kept\n')
    os.makedirs(os.path.join(root, 'etc', 'udev', 'rules.d'), exist_ok=True)
    os.symlink(str(target), os.path.join(root, 'etc', 'udev', 'rules.d', '60-mdevctl.rules'))
    with pytest.raises(HostdevError) as raised:
        run(MdevRequest(name='serial', type='fake-1'))
    assert 'link' in raised.value.message and '60-mdevctl.rules' in raised.value.message
    assert target.read_text() == 'kept\n' and kernel.mdevs() == {} and tools.calls() == []


STATES = ('active', 'persistent', 'autostart')


def test_states_the_reader_could_not_tell_are_read_on_the_host_and_nothing_is_defined_twice(host):
    """libvirt's driver could not tell: /sys/bus/mdev/devices and mdevctl's definitions can, so a rerun does nothing
    (before, the plan defined and started them again and mdevctl failed half-way with 'already defined')."""
    root, kernel, tools, run = host
    request = MdevRequest(name='serial', type='fake-1', count=2)
    run(request)
    tools.clear()
    again = run(request, unknown=STATES)
    assert again.changed is False and again.commands == [] and tools.calls() == []
    assert [(item['active'], item['persistent'], item['autostart']) for item in again.result()['mdevs']] == [
        (True, True, True)] * 2
    gone = run(MdevRequest(name='serial', state='absent'), unknown=STATES)
    assert [call[:2] for call in tools.calls()] == [['mdevctl', 'stop'], ['mdevctl', 'undefine']] * 2
    assert kernel.mdevs() == {} and kernel.definitions() == {} and len(gone.result()['removed']) == 2


def test_a_definition_file_not_understood_is_refused_never_defined_again(host):
    """Junk in the mdev's mdevctl file: whether it is persistent is unknown (not false), so the run refuses
    up front instead of defining it again (mdevctl would fail half-way with 'already defined')."""
    root, kernel, tools, run = host
    request = MdevRequest(name='serial', type='fake-1', count=1)
    run(request)
    parent = kernel.definitions()[ONE][0]
    with open(os.path.join(root, 'etc', 'mdevctl.d', parent, ONE), 'w') as handle:
        handle.write('{"mdev_type": ')
    tools.clear()
    with pytest.raises(HostdevError) as raised:
        run(request)
    assert [item['code'] for item in raised.value.result['problems']] == ['mdev_state_unknown']
    assert set(kernel.mdevs()) == {ONE} and tools.calls() == []


def test_persistence_nothing_on_the_host_can_tell_is_refused_before_any_change(host):
    root, kernel, tools, run = host
    with kernel.watching():
        run(MdevRequest(name='serial', type='fake-1', count=1, persistent=False), methods=['sysfs'])
    shutil.rmtree(os.path.join(root, 'etc', 'mdevctl.d'), ignore_errors=True)
    tools.clear()
    with pytest.raises(HostdevError) as raised:
        run(MdevRequest(name='serial', type='fake-1', count=1), unknown=('persistent',))
    assert [item['code'] for item in raised.value.result['problems']] == ['mdev_state_unknown']
    assert 'is persistent could not be read' in raised.value.message
    assert set(kernel.mdevs()) == {ONE} and kernel.definitions() == {} and tools.calls() == []
    # Without mdevctl as well, nothing on the host can have defined it: transient, as asked, so nothing to do.
    made = run(MdevRequest(name='serial', type='fake-1', count=1, persistent=False), methods=['sysfs'],
               unknown=('persistent', 'autostart'))
    assert made.changed is False and made.result()['mdevs'][0]['persistent'] is False


@pytest.mark.parametrize('directory', ['etc', 'run'])
def test_a_rule_masked_with_a_link_to_dev_null_is_autostart_broken_and_left_alone(host, directory):
    """udev's mask, set on purpose: the module's refusal naming it (not HostFiles' planted-link one), no change."""
    root, kernel, tools, run = host
    debian_host(root, tools)
    rules = os.path.join(root, directory, 'udev', 'rules.d')
    os.makedirs(rules, exist_ok=True)
    os.symlink('/dev/null', os.path.join(rules, '60-mdevctl.rules'))
    with pytest.raises(HostdevError) as raised:
        run(MdevRequest(name='serial', type='fake-1'))
    assert [item['code'] for item in raised.value.result['problems']] == ['autostart_broken']
    assert '/%s/udev/rules.d/60-mdevctl.rules is a symbolic link to /dev/null' % directory in raised.value.message
    assert os.readlink(os.path.join(rules, '60-mdevctl.rules')) == '/dev/null'
    assert kernel.mdevs() == {} and kernel.definitions() == {} and tools.calls() == []
    # Transient mdevs need no rule: the mask is no concern of theirs.
    assert run(MdevRequest(name='serial', type='fake-1', persistent=False)).changed is True


def test_a_run_past_its_timeout_names_the_action_under_way_and_takes_no_further_one(host, monkeypatch):
    """The devices read through libvirt: the whole run is bounded by timeout, and here the kernel, not libvirtd,
    is what is slow. The message says so and names the action under way; the session, abandoned at its deadline,
    takes no further action when the kernel acts (before, it went on to make TWO after the run had failed)."""
    root, kernel, tools, _run = host
    sysfs = os.path.join(root, 'sys')

    def read_as_libvirt(source, uri, sysfs_root, conn=None, timeout=None):
        model, _used, warnings = read_host('sysfs', uri, sysfs_root)
        return model, 'libvirt', warnings

    monkeypatch.setattr(mdev_apply, 'read_host', read_as_libvirt)
    tools.remove('mdevctl')  # the sysfs way
    with pytest.raises(HostdevError) as raised:  # no kernel watching yet: ONE's create waits
        run_mdevs(MdevRequest(name='serial', type='fake-1', count=2, persistent=False), 'test:///default', 'libvirt',
                  sysfs, tools.commands(FAKE_SYSFS=sysfs), HostFiles(root), timeout=0.5, wait_timeout=60)
    message = raised.value.message
    assert message.startswith('the run did not finish within its timeout of 0.5 s'), message
    assert 'create %s, the sysfs way, was under way (done before it: nothing)' % ONE in message, message
    assert 'no further action is taken' in message and 'libvirtd' not in message.split(';')[0], message
    with kernel.watching():
        for thread in threading.enumerate():
            if thread.name == 'virt-hostdev libvirt session':
                thread.join(60)
                assert not thread.is_alive()
    assert set(kernel.mdevs()) <= {ONE}, kernel.mdevs()  # ONE's write was made before the deadline: TWO never


@pytest.mark.parametrize('junk', ['', '{"mdev_type": '])
def test_an_inactive_mdev_whose_definition_is_not_understood_is_refused_never_made_again(host, junk):
    """mdevctl define cut short (its command_timeout: an empty or half-written file) and the mdev not started: its
    persistence is unknown, not false, so the next run refuses up front rather than defining it again (mdevctl
    fails half-way with 'already defined') or creating it beside its definition."""
    root, kernel, tools, run = host
    request = MdevRequest(name='serial', type='fake-1', count=1)
    with pytest.raises(HostdevError):
        run(request, env={'FAKE_MDEVCTL_FAIL': 'start'})  # defined, not started
    parent = kernel.definitions()[ONE][0]
    with open(os.path.join(root, 'etc', 'mdevctl.d', parent, ONE), 'w') as handle:
        handle.write(junk)
    tools.clear()
    for persistent in (True, False):
        with pytest.raises(HostdevError) as raised:
            run(MdevRequest(name='serial', type='fake-1', count=1, persistent=persistent), methods=['mdevctl', 'sysfs'])
        problems = raised.value.result.get('problems', [])
        assert [item['code'] for item in problems] == ['mdev_state_unknown'], raised.value.message
        assert 'is persistent could not be read' in raised.value.message and ONE in raised.value.message
    assert kernel.mdevs() == {} and tools.calls() == []


def refuse_listing(monkeypatch, directory):
    """os.listdir refuses directory, as it would another user (the tests run as root, who lists any)."""
    listdir = os.listdir

    def refusing(path):
        if os.path.abspath(path) == os.path.abspath(directory):
            raise PermissionError(errno.EACCES, 'Permission denied', path)
        return listdir(path)
    monkeypatch.setattr(os, 'listdir', refusing)


def test_a_parents_mdevctl_directory_that_cannot_be_listed_is_refused_never_defined_again(host, monkeypatch):
    """Its definitions may well be in there: the mdevs of that parent are of unknown persistence (before, they read
    as not persistent, and the run defined them again: mdevctl fails half-way with 'already defined')."""
    root, kernel, tools, run = host
    request = MdevRequest(name='serial', type='fake-1', count=1)
    run(request)
    parent = kernel.definitions()[ONE][0]
    refuse_listing(monkeypatch, os.path.join(root, 'etc', 'mdevctl.d', parent))
    tools.clear()
    with pytest.raises(HostdevError) as raised:
        run(request, unknown=STATES)
    assert [item['code'] for item in raised.value.result['problems']] == ['mdev_state_unknown']
    assert set(kernel.mdevs()) == {ONE} and tools.calls() == []


@pytest.mark.parametrize('persistent', [True, False])
def test_another_parents_directory_that_cannot_be_listed_leaves_these_mdevs_known(host, persistent):
    """Defined or not, an mdev's definition is under its own parent: another parent's directory tells nothing of it."""
    root, kernel, tools, run = host
    request = MdevRequest(name='serial', type='fake-1', count=1, persistent=persistent)
    with kernel.watching():
        run(request, methods=['mdevctl', 'sysfs'] if persistent else ['sysfs'])
    os.makedirs(os.path.join(root, 'etc', 'mdevctl.d'), exist_ok=True)
    with open(os.path.join(root, 'etc', 'mdevctl.d', 'elsewhere'), 'w') as handle:
        handle.write('not a directory\n')
    tools.clear()
    again = run(request, unknown=STATES)
    assert again.changed is False and tools.calls() == []
    assert [(item['persistent'], item['autostart']) for item in again.result()['mdevs']] == [(persistent, persistent)]


@pytest.mark.parametrize('unlisted', ['etc/mdevctl.d', 'etc/mdevctl.d/elsewhere'])
def test_a_new_mdev_whose_definition_may_be_in_a_directory_not_listed_is_refused(host, monkeypatch, unlisted):
    """A UUID may be defined under any parent: with a directory of mdevctl's that cannot be listed, defining or
    creating one no reader lists would guess (mdevctl fails half-way with 'already defined' when it is there)."""
    root, kernel, tools, run = host
    os.makedirs(os.path.join(root, 'etc', 'mdevctl.d', 'elsewhere'), exist_ok=True)
    refuse_listing(monkeypatch, os.path.join(root, unlisted))
    with pytest.raises(HostdevError) as raised:
        run(MdevRequest(name='serial', type='fake-1', count=1))
    assert [item['code'] for item in raised.value.result['problems']] == ['mdev_state_unknown']
    assert '%s cannot be listed' % unlisted in raised.value.message and ONE in raised.value.message
    monkeypatch.undo()
    assert kernel.mdevs() == {} and kernel.definitions() == {} and tools.calls() == []
