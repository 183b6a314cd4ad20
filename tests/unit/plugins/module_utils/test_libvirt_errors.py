"""The one libvirt error layer: real libvirt errors from the test driver, each policy, the
URI check and the deadline of a libvirt session."""

import threading
import time

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils import libvirt_errors
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import (
    DeadlineExceeded,
    MissingLibvirtError,
    cancelled,
    check_timeout,
    check_uri,
    connection,
    ensure_not_cancelled,
    keep_alive,
    libvirt_call,
    translated,
    within_deadline,
)


@pytest.fixture()
def conn():
    with connection('test:///default') as opened:
        yield opened


def test_a_missing_object_raises_the_given_message(conn):
    with pytest.raises(HostdevError) as caught:
        libvirt_call(lambda: conn.lookupByName('nope'), 'cannot look up domain nope',
                     missing_message='domain nope is not defined here')
    assert caught.value.message == 'domain nope is not defined here'


def test_a_missing_object_without_a_message_reads_like_any_error(conn):
    with pytest.raises(HostdevError, match=r'^cannot look up domain nope: Domain not found \(libvirt error code 42\)$'):
        libvirt_call(lambda: conn.lookupByName('nope'), 'cannot look up domain nope')


def test_a_missing_object_returns_the_default(conn):
    assert libvirt_call(lambda: conn.lookupByName('nope'), 'x', missing='default', default=[]) == []


def test_a_missing_object_is_skipped_with_a_warning(conn):
    warnings = []
    assert libvirt_call(lambda: conn.lookupByName('nope'), 'cannot read a domain', missing='skip',
                        missing_message='a domain vanished while it was read; skipped', warnings=warnings) is None
    assert len(warnings) == 1 and warnings[0].startswith('a domain vanished while it was read; skipped: ')


@pytest.mark.parametrize('missing', ['default', 'skip'])
def test_other_errors_are_never_swallowed(conn, missing):
    with pytest.raises(HostdevError, match=r'^cannot define: .*\(libvirt error code \d+\)$'):
        libvirt_call(lambda: conn.defineXML('<domain/>'), 'cannot define', missing=missing, warnings=[])


def test_errors_that_are_not_libvirts_pass_through():
    with pytest.raises(ZeroDivisionError):
        libvirt_call(lambda: 1 // 0, 'x', missing='default')
    with pytest.raises(ValueError, match='missing must be one of error, default, skip'):
        libvirt_call(lambda: None, 'x', missing='ignore')


def test_success_returns_the_value(conn):
    assert libvirt_call(lambda: conn.lookupByName('test').name(), 'x') == 'test'


def test_translated_block(conn):
    with pytest.raises(HostdevError, match=r'^cannot read it: Domain not found \(libvirt error code 42\)$'):
        with translated('cannot read it'):
            conn.lookupByName('nope')


def test_a_connection_keepalive_closed_says_what_it_means():
    with pytest.raises(HostdevError) as caught:
        with translated('reading the devices from qemu:///system'):
            raise libvirt_errors.libvirt.libvirtError('internal error: connection closed due to keepalive timeout')
    assert caught.value.message.startswith('reading the devices from qemu:///system: internal error: connection '
                                           'closed due to keepalive timeout')
    assert caught.value.message.endswith('; libvirtd left libvirt\'s keepalive unanswered for about 30 s, so libvirt '
                                         'closed the connection: is the daemon frozen or overloaded?')


def test_connection_to_a_typo_fails_naming_the_uri():
    with pytest.raises(HostdevError, match=r'^cannot connect to libvirt at test:///no/such/file.xml: '):
        with connection('test:///no/such/file.xml'):
            pass


def test_without_the_binding_the_error_is_ansibles_missing_library_message(monkeypatch):
    monkeypatch.setattr(libvirt_errors, 'HAS_LIBVIRT', False)
    monkeypatch.setattr(libvirt_errors, 'LIBVIRT_IMPORT_ERROR', 'Traceback: no libvirt')
    with pytest.raises(MissingLibvirtError) as caught:
        with connection('qemu:///system'):
            pass
    assert 'libvirt-python' in caught.value.message
    assert caught.value.result == {'exception': 'Traceback: no libvirt'}
    assert isinstance(caught.value, HostdevError)


# -- the URI check ---------------------------------------------------------------

@pytest.mark.parametrize('uri', [
    'qemu:///system', 'qemu:///session', 'qemu:///system?socket=/run/private/libvirt-sock',
    'qemu://host.example/system', 'qemu+ssh://root@host.example/system', 'qemu+ssh://host:2222/system?keyfile=/k',
    'qemu+tcp://host/system', 'qemu+tls://host/system', 'qemu+unix:///system', 'qemu+libssh://host/system',
    'qemu+libssh2://user@host/system', 'qemu+ext:///system?command=/bin/nc', 'test:///default',
    'test:///abs/path.xml', 'test+tcp://host/default',
])
def test_supported_uris_are_accepted(uri):
    check_uri(uri)


@pytest.mark.parametrize('uri', [
    '', ' ', 'qemu', 'qemu:/system', 'qemu:system', '/var/run/libvirt/libvirt-sock', '///system',
    'qemuu:///system', 'QEMU:///system', ' qemu:///system', 'xen:///system', 'lxc:///', 'vbox:///session',
    'qemu+http://host/system', 'qemu+:///system', 'qemu+ssh+tcp://host/system', 'test+:///default', None, 5,
])
def test_other_uris_are_refused_naming_the_accepted_forms(uri):
    with pytest.raises(HostdevError) as caught:
        check_uri(uri)
    message = caught.value.message
    assert 'qemu:///system' in message and 'qemu+ssh://' in message and 'test:///default' in message
    if uri:
        assert repr(uri) in message


def test_an_empty_uri_says_what_libvirt_would_do():
    with pytest.raises(HostdevError, match=r'^uri is empty, and libvirt would connect to its default daemon'):
        check_uri('')


def test_a_long_uri_is_quoted_cut():
    with pytest.raises(HostdevError) as caught:
        check_uri('x' * 100000)
    assert len(caught.value.message) < 1000 and '100002 characters' in caught.value.message


@pytest.mark.parametrize('uri', ['', 'qemux:///system'])
def test_connection_refuses_a_bad_uri_before_libvirt_is_asked(monkeypatch, uri):
    monkeypatch.setattr(libvirt_errors.libvirt, 'open', lambda *args: pytest.fail('libvirt was asked'))
    monkeypatch.setattr(libvirt_errors.libvirt, 'openReadOnly', lambda *args: pytest.fail('libvirt was asked'))
    for readonly in (False, True):
        with pytest.raises(HostdevError, match='^uri '):
            with connection(uri, readonly=readonly):
                pass


def test_keepalive_is_skipped_where_the_driver_has_none(conn):
    assert keep_alive(conn) is False
    assert conn.lookupByName('test').name() == 'test'


# -- the deadline of a libvirt session ----------------------------------------------

def test_a_session_past_its_deadline_fails_at_the_deadline():
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        within_deadline(lambda: release.wait(60), 'qemu+ssh://far.example/system', timeout=0.5)
    elapsed = time.monotonic() - start
    release.set()
    assert 0.5 <= elapsed < 0.5 + 5
    assert caught.value.message.startswith(
        'libvirtd at qemu+ssh://far.example/system did not answer within 0.5 s: is it stopped or overloaded?')
    assert isinstance(caught.value, HostdevError)


def test_a_session_past_its_deadline_is_cancelled_and_changes_nothing():
    seen = {}
    finished = threading.Event()

    def session():
        assert not cancelled()
        deadline = time.monotonic() + 30
        while not cancelled() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen['cancelled'] = cancelled()
        try:
            ensure_not_cancelled('attach the GPU')
        except HostdevError as error:
            seen['refused'] = error.message
        finished.set()

    with pytest.raises(DeadlineExceeded):
        within_deadline(session, 'test:///default', timeout=0.2)
    assert finished.wait(30)
    assert seen == {'cancelled': True,
                    'refused': 'attach the GPU: not done, the run had already failed at its deadline'}
    ensure_not_cancelled('outside any session')


class Unusual(Exception):
    pass


@pytest.mark.parametrize('error', [
    Unusual('a message', 42),
    HostdevError('refused', problems=['x']),
    MissingLibvirtError,
    KeyError('k'),
])
def test_an_error_in_the_session_reaches_the_caller_unchanged(error):
    if error is MissingLibvirtError:
        error = MissingLibvirtError()

    def session():
        raise error

    with pytest.raises(type(error)) as caught:
        within_deadline(session, 'test:///default', timeout=30)
    assert caught.value is error
    assert type(caught.value) is type(error) and str(caught.value) == str(error)


def test_the_result_is_returned_from_another_thread():
    caller = threading.get_ident()
    assert within_deadline(lambda: ('done', threading.get_ident() != caller), 'test:///default', timeout=30) == (
        'done', True)


def test_a_session_inside_a_session_runs_in_place():
    def outer():
        worker = threading.get_ident()
        return within_deadline(lambda: threading.get_ident() == worker, 'test:///default', timeout=30)

    assert within_deadline(outer, 'test:///default', timeout=30) is True


def test_a_libvirt_session_within_its_deadline():
    def session():
        with connection('test:///default') as opened:
            return opened.lookupByName('test').name()

    assert within_deadline(session, 'test:///default', timeout=30) == 'test'


@pytest.mark.parametrize('timeout', [0, -1, 0.0, True, None, '5', float('nan')])
def test_a_timeout_must_be_seconds_above_zero(timeout):
    with pytest.raises(HostdevError, match='^timeout must be a number of seconds above 0, not '):
        check_timeout(timeout)
    with pytest.raises(HostdevError, match='^timeout must be'):
        within_deadline(lambda: pytest.fail('ran'), 'test:///default', timeout=timeout)
