"""The one libvirt error layer: real libvirt errors from the test driver, each policy."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils import libvirt_errors
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import (
    MissingLibvirtError,
    connection,
    libvirt_call,
    translated,
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
