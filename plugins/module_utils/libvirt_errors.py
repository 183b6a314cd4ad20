# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the one place where libvirt is imported and its errors become messages.

Everything else in virt.hostdev imports libvirt through this module, so a host
without the Python binding gets Ansible's missing-library message instead of a
traceback, and every libvirt failure reads the same way: translated() for a
block of calls, libvirt_call() for a call whose object may be missing (raise a
given message, return a default, or warn and skip).
"""

import contextlib
import traceback
from typing import Any, Callable, Iterator, List, Optional, TypeVar

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError

try:
    import libvirt
except ImportError:
    libvirt = None
    HAS_LIBVIRT = False
    LIBVIRT_IMPORT_ERROR: Optional[str] = traceback.format_exc()
else:
    HAS_LIBVIRT = True
    LIBVIRT_IMPORT_ERROR = None

    def _quiet(_context, _error):
        # libvirt prints every error to stderr by default; we report them ourselves.
        return None

    libvirt.registerErrorHandler(_quiet, None)

LIBVIRT_LIBRARY = 'libvirt-python'


class MissingLibvirtError(HostdevError):
    """The libvirt Python binding is not installed on the host the module runs on."""

    def __init__(self) -> None:
        # Imported here: the readers also run outside Ansible (tests, other Pythons).
        from ansible.module_utils.basic import missing_required_lib  # pylint: disable=import-outside-toplevel

        super().__init__(missing_required_lib(LIBVIRT_LIBRARY), exception=LIBVIRT_IMPORT_ERROR)


def is_libvirt_error(error: BaseException) -> bool:
    return HAS_LIBVIRT and isinstance(error, libvirt.libvirtError)


def error_code(error: Any) -> Optional[int]:
    """libvirt's error code of a libvirtError, or None for any other exception."""
    if is_libvirt_error(error):
        return error.get_error_code()
    return None


def is_not_found(error: BaseException) -> bool:
    """True when a libvirt call failed because its object vanished or never existed."""
    if not HAS_LIBVIRT:
        return False
    return error_code(error) in (
        libvirt.VIR_ERR_NO_NODE_DEVICE,
        libvirt.VIR_ERR_NO_DOMAIN,
    )


def describe(error: Any, action: str) -> str:
    """A one-line message: what we were doing, what libvirt said, and its code."""
    if is_libvirt_error(error):
        message = error.get_error_message() or str(error)
        code = error.get_error_code()
        if code is None:
            return '%s: %s' % (action, message)
        return '%s: %s (libvirt error code %s)' % (action, message, code)
    return '%s: %s' % (action, error)


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn a libvirtError raised inside the block into a HostdevError naming action."""
    try:
        yield
    except HostdevError:
        raise
    except Exception as error:  # pylint: disable=broad-except
        if not is_libvirt_error(error):
            raise
        raise HostdevError(describe(error, action))


Result = TypeVar('Result')

# What libvirt_call does when the object it asks about vanished or never existed.
MISSING_POLICIES = ('error', 'default', 'skip')


def libvirt_call(call: Callable[[], Result], action: str, missing: str = 'error',
                 missing_message: Optional[str] = None, default: Any = None,
                 warnings: Optional[List[str]] = None) -> Result:
    """call(), with libvirt's errors turned into one policy.

    Any libvirt error becomes HostdevError('<action>: <libvirt's words> (libvirt
    error code N)'). When the object is missing (is_not_found), missing says what
    happens instead: 'error' raises HostdevError(missing_message) when one is
    given; 'default' returns default; 'skip' appends libvirt's words prefixed with
    missing_message to warnings and returns default.
    """
    if missing not in MISSING_POLICIES:
        raise ValueError('missing must be one of %s' % ', '.join(MISSING_POLICIES))
    try:
        return call()
    except Exception as error:  # pylint: disable=broad-except
        if not is_libvirt_error(error):
            raise
        if not is_not_found(error) or (missing == 'error' and missing_message is None):
            raise HostdevError(describe(error, action))
        if missing == 'error':
            raise HostdevError(missing_message or action)
        if missing == 'skip' and warnings is not None:
            warnings.append(describe(error, missing_message or action))
        return default


@contextlib.contextmanager
def connection(uri: str, readonly: bool = False) -> Iterator[Any]:
    """One libvirt connection for a whole run, always closed afterwards."""
    if not HAS_LIBVIRT:
        raise MissingLibvirtError()
    with translated('cannot connect to libvirt at %s' % uri):
        conn = libvirt.openReadOnly(uri) if readonly else libvirt.open(uri)
    try:
        yield conn
    finally:
        try:
            conn.close()
        except Exception:  # pylint: disable=broad-except
            pass
