# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""No hangs: a frozen libvirtd (SIGSTOP) gives a clear error within the timeout, and the host lock is free; a
session abandoned at its deadline changes nothing when libvirtd answers again.

These tests freeze their own private libvirtd, never the session-wide one the other tests share.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid

import libvirt
import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import AssignmentRequest
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.domain_editor import assign
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import hostdev_elements
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import host_lock
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import (
    DeadlineExceeded,
    connection,
    translated,
    within_deadline,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import derived_uuids
from ansible_collections.virt.hostdev.plugins.module_utils.preparing import mdev_apply
from ansible_collections.virt.hostdev.plugins.module_utils.reading import host_reader
from ansible_collections.virt.hostdev.plugins.modules import mdevs, sriov_vfs
from support import running_libvirtd
from support.domains import domain_xml
from support.fake_host import FakeTools
from support.fake_mdev import install_mdevctl, mdev_host
from support.fake_sriov import PF, sriov_host
from support.module_run import module_runner

TIMEOUT = 5
# Generous: the machine may be several times slower than a developer's.
BOUND = 60

FACTS_PLAYBOOK = """---
- name: Gather facts from a frozen libvirtd
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Gather host device facts
      virt.hostdev.hostdev_facts:
        uri: "{{ uri }}"
        source: libvirt
        timeout: %d
      register: facts_result
      ignore_errors: true

    - name: Record the result
      ansible.builtin.copy:
        content: "{{ facts_result | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
""" % TIMEOUT


def expected_message(uri):
    return 'libvirtd at %s did not answer within %d s: is it stopped or overloaded?' % (uri, TIMEOUT)


@pytest.fixture(scope='module')
def daemon():
    """A private libvirtd of these tests only."""
    with running_libvirtd() as private:
        yield private


@pytest.fixture()
def frozen(daemon):
    """freeze() stops libvirtd with SIGSTOP; it is always continued afterwards."""
    pids = []

    def freeze():
        pid = daemon.pid()
        os.kill(pid, signal.SIGSTOP)
        pids.append(pid)
        return daemon.uri

    yield freeze
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_a_daemon_frozen_mid_call_is_dropped_by_keepalive_with_a_clear_error(frozen, daemon):
    # Under a deadline longer than keepalive's ~30 s, libvirt itself gives up first.
    def session():
        with connection(daemon.uri) as conn:
            frozen()
            with translated('reading the devices from %s' % daemon.uri):
                conn.listAllDevices()

    started = time.monotonic()
    with pytest.raises(HostdevError) as caught:
        within_deadline(session, daemon.uri, timeout=10 * BOUND)
    assert time.monotonic() - started < 5 * BOUND
    assert 'connection closed due to keepalive timeout' in caught.value.message, caught.value.message
    assert caught.value.message.endswith('is the daemon frozen or overloaded?')
    assert not isinstance(caught.value, DeadlineExceeded)


def sessions():
    return [thread for thread in threading.enumerate() if thread.name == 'virt-hostdev libvirt session']


def test_facts_from_a_frozen_daemon_fail_within_the_timeout(frozen, run_playbook, tmp_path):
    playbook = tmp_path / 'facts.yml'
    playbook.write_text(FACTS_PLAYBOOK)
    out = tmp_path / 'out.json'
    uri = frozen()
    start = time.monotonic()
    completed = run_playbook(str(playbook), extra_vars={'uri': uri, 'out': str(out)}, timeout=10 * BOUND)
    elapsed = time.monotonic() - start
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads(out.read_text())
    assert result['failed'] is True
    assert result['msg'].startswith(expected_message(uri)), result['msg']
    assert TIMEOUT <= elapsed < BOUND, elapsed


def test_assign_on_a_frozen_daemon_fails_within_the_timeout_and_frees_the_lock(
        daemon, frozen, sample_sysfs, tmp_path):
    name = 'no-hangs-%s' % uuid.uuid4().hex[:8]
    conn = libvirt.open(daemon.uri)
    try:
        dom = conn.defineXML(domain_xml(name))
        lock = str(tmp_path / 'hostdev.lock')
        uri = frozen()
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded) as caught:
            assign(AssignmentRequest(name, ['02:00.0']), uri, source='sysfs', sysfs_root=sample_sysfs,
                   lock_path=lock, timeout=TIMEOUT)
        elapsed = time.monotonic() - start
        assert caught.value.message.startswith(expected_message(uri)), caught.value.message
        assert TIMEOUT <= elapsed < BOUND, elapsed
        # the lock was released with the error: the next run takes it at once
        start = time.monotonic()
        with host_lock(lock, timeout=1):
            pass
        assert time.monotonic() - start < 1

        # When libvirtd answers again, the abandoned session finds itself cancelled: no edit.
        os.kill(daemon.pid(), signal.SIGCONT)
        for thread in sessions():
            thread.join(BOUND)
            assert not thread.is_alive(), 'the abandoned session did not end once libvirtd answered'
        assert hostdev_elements(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == []
    finally:
        try:
            conn.lookupByName(name).undefine()
        except libvirt.libvirtError:
            pass
        conn.close()


def resume_and_join(daemon):
    """SIGCONT libvirtd and wait for every session abandoned at its deadline to end."""
    os.kill(daemon.pid(), signal.SIGCONT)
    for thread in sessions():
        thread.join(BOUND)
        assert not thread.is_alive(), 'an abandoned session did not end once libvirtd answered'


@pytest.fixture()
def mdev_run(tmp_path, monkeypatch):
    """(root, kernel, tools, run): the mdevs module in this process on the fake mdev host (support.fake_mdev), its
    devices read "through libvirt": the private libvirtd serves the session (the connection, its version, the
    libvirt way's calls), but it knows no fake parent, so the devices come from the tree. The fake mdevctl is on
    PATH, so the libvirt way is the one taken (libvirt 7.3 or later, with mdevctl)."""
    root, kernel = mdev_host(tmp_path / 'root')
    tools = FakeTools(tmp_path, root, tools=())
    install_mdevctl(tools.bin)
    tools.use_in(monkeypatch)
    monkeypatch.setenv('FAKE_SYSFS', os.path.join(root, 'sys'))
    real = host_reader.read_host

    def read_as_libvirt(source, uri, sysfs_root, conn=None, timeout=None):
        model, _used, warnings = real('sysfs', uri, sysfs_root)
        return model, 'libvirt', warnings

    monkeypatch.setattr(mdev_apply, 'read_host', read_as_libvirt)
    run = module_runner(monkeypatch, mdevs.main)
    return root, kernel, tools, lambda **args: run(root=root, **args)


def test_mdevs_on_a_daemon_frozen_before_the_run_fail_in_time_and_change_nothing_afterwards(daemon, frozen, mdev_run):
    root, kernel, tools, run = mdev_run
    tools.remove('mdevctl')  # the sysfs way: the kernel's files, which libvirtd does not hold up once it answers
    uri = frozen()
    with kernel.watching():
        start = time.monotonic()
        result = run(name='frozen', type='fake-1', count=2, persistent=False, uri=uri, source='libvirt',
                     timeout=TIMEOUT)
        elapsed = time.monotonic() - start
        assert result['failed'] is True and result['msg'].startswith(expected_message(uri)), result
        assert result['msg'].endswith('it was reading the host, and nothing was changed'), result['msg']
        assert TIMEOUT <= elapsed < BOUND, elapsed
        with host_lock(root=root, timeout=1):
            pass
        # libvirtd answers again: the abandoned session reads the host and plans two creates, but takes none
        resume_and_join(daemon)
    assert kernel.mdevs() == {} and kernel.definitions() == {} and tools.calls() == []


def test_mdevs_on_a_daemon_frozen_in_the_middle_fail_in_time_naming_the_call(daemon, frozen, mdev_run, monkeypatch):
    root, kernel, tools, run = mdev_run
    one, _two = derived_uuids('frozen', 2)
    real_run = mdev_apply._Libvirt.run
    uris = []

    def freeze_first(way, action):
        if not uris:
            uris.append(frozen())  # the host was read, the plan made: libvirtd stops before its first call
        return real_run(way, action)

    monkeypatch.setattr(mdev_apply._Libvirt, 'run', freeze_first)
    start = time.monotonic()
    result = run(name='frozen', type='fake-1', count=2, uri=daemon.uri, source='libvirt', timeout=TIMEOUT)
    elapsed = time.monotonic() - start
    assert result['failed'] is True and result['msg'].startswith(expected_message(daemon.uri)), result
    assert ('it stopped answering during define %s, the libvirt way (done before it: nothing): that may still take '
            'effect when it resumes, and no further action is taken' % one) in result['msg'], result['msg']
    assert TIMEOUT <= elapsed < BOUND, elapsed
    with host_lock(root=root, timeout=1):
        pass
    resume_and_join(daemon)  # libvirtd refuses the define (it knows no fake0), and nothing follows it
    assert kernel.mdevs() == {} and kernel.definitions() == {} and tools.calls() == []


def test_mdevs_with_source_auto_wait_for_a_frozen_daemon_once(daemon, frozen, mdev_run, monkeypatch):
    """auto: libvirtd does not answer, so the devices come from sysfs; libvirtd is not asked (and waited for) again."""
    _root, kernel, tools, run = mdev_run
    monkeypatch.setattr(mdev_apply, 'read_host', host_reader.read_host)
    monkeypatch.setattr(host_reader, 'is_this_machines_sysfs', lambda path: True)  # so auto may read libvirt
    one, = derived_uuids('auto', 1)
    uri = frozen()
    start = time.monotonic()
    result = run(name='auto', type='fake-1', uri=uri, source='auto', timeout=TIMEOUT)
    elapsed = time.monotonic() - start
    assert result['failed'] is False and result['source'] == 'sysfs', result
    assert any(warning.startswith(expected_message(uri)) and warning.endswith('read devices from sysfs instead')
               for warning in result['warnings']), result['warnings']
    assert TIMEOUT <= elapsed < 2 * TIMEOUT, elapsed  # before, the sysfs read asked libvirtd again: twice the wait
    resume_and_join(daemon)
    assert set(kernel.mdevs()) == {one} and [call[1] for call in tools.calls()] == ['define', 'start']


def test_sriov_vfs_on_a_frozen_daemon_fails_in_time_and_writes_nothing(daemon, frozen, tmp_path, monkeypatch):
    root, kernel = sriov_host(str(tmp_path / 'root'), numvfs=0)
    tools = FakeTools(tmp_path, root, tools=('udevadm',)).use_in(monkeypatch)
    monkeypatch.setattr(host_reader, 'is_this_machines_sysfs', lambda path: True)  # so source libvirt may read it
    run = module_runner(monkeypatch, sriov_vfs.main)
    uri = frozen()
    with kernel.watching():
        start = time.monotonic()
        result = run(device=PF, count=4, root=root, uri=uri, source='libvirt', timeout=TIMEOUT)
        elapsed = time.monotonic() - start
        assert result['failed'] is True and result['msg'].startswith(expected_message(uri)), result
        assert TIMEOUT <= elapsed < BOUND, elapsed
        with host_lock(root=root, timeout=1):
            pass
        resume_and_join(daemon)
    assert kernel.vfs(PF) == [] and tools.calls() == []
    assert not os.path.exists(os.path.join(root, 'etc', 'udev', 'rules.d', '70-virt-hostdev-sriov.rules'))
