# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""No hangs: a frozen libvirtd (SIGSTOP) gives a clear error within the timeout, and the host lock is free.

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
from support import running_libvirtd
from support.domains import domain_xml

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
