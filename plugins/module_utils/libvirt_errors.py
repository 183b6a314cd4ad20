# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the one place where libvirt is imported and its errors become messages.

Everything else in virt.hostdev imports libvirt through this module, so a host
without the Python binding gets Ansible's missing-library message instead of a
traceback, and every libvirt failure reads the same way: translated() for a
block of calls, libvirt_call() for a call whose object may be missing (raise a
given message, return a default, or warn and skip).

Every connection goes through connection(): the URI is checked first (check_uri:
an empty or unknown URI would otherwise reach the system daemon), and libvirt's
keepalive is turned on where the driver has it, so a daemon that stops answering
is dropped by libvirt itself. A whole libvirt session (connect, read, edit) runs
through within_deadline(): libvirt's calls block in C, where no Python signal
reaches them, so the session runs in a daemon thread and the caller waits for it
at most timeout seconds. After that deadline the session is cancelled: it must
not change anything more (ensure_not_cancelled() before each change).
"""

import contextlib
import threading
import traceback
from typing import Any, Callable, Dict, Iterator, List, Optional, TypeVar

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, shown

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
    """A one-line message: what we were doing, what libvirt said, and its code (and what a
    connection closed by keepalive means)."""
    if is_libvirt_error(error):
        message = error.get_error_message() or str(error)
        code = error.get_error_code()
        text = '%s: %s' % (action, message) if code is None else \
            '%s: %s (libvirt error code %s)' % (action, message, code)
        return text + ('; ' + KEEPALIVE_HINT if KEEPALIVE_CLOSED in message else '')
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


# The longest a run waits for libvirt as a whole (connecting and every call), in seconds.
DEFAULT_TIMEOUT = 120

# libvirt closes a connection whose daemon left KEEPALIVE_COUNT pings in a row, sent
# every KEEPALIVE_INTERVAL seconds, unanswered: about 30 s after it stopped answering.
KEEPALIVE_INTERVAL = 5
KEEPALIVE_COUNT = 5
# What libvirt says when its keepalive gave up on a daemon (virnetclient.c), and what that means.
KEEPALIVE_CLOSED = 'connection closed due to keepalive timeout'
KEEPALIVE_HINT = ('libvirtd left libvirt\'s keepalive unanswered for about %d s, so libvirt closed the connection: '
                  'is the daemon frozen or overloaded?' % (KEEPALIVE_INTERVAL * (KEEPALIVE_COUNT + 1)))

DRIVERS = ('qemu', 'test')
TRANSPORTS = ('unix', 'ssh', 'libssh', 'libssh2', 'tcp', 'tls', 'ext')
ACCEPTED_URIS = ('qemu:///system, qemu:///session, qemu:///system?socket=PATH, qemu+ssh://[USER@]HOST/system '
                 '(or qemu://HOST/system, or another transport than ssh: %s), test:///default or '
                 'test:///ABSOLUTE/PATH.xml' % ', '.join(name for name in TRANSPORTS if name != 'ssh'))


def check_uri(uri: Any) -> None:
    """Refuse a URI that is not DRIVER[+TRANSPORT]://... with a driver and transport listed above.

    libvirt reads an empty URI as "the default hypervisor" (the system daemon's
    socket), and guesses for unknown ones: a typo must not read or edit the
    production daemon.
    """
    scheme, separator, _rest = uri.partition('://') if isinstance(uri, str) else ('', '', '')
    driver, plus, transport = scheme.partition('+')
    if separator and driver in DRIVERS and (not plus or transport in TRANSPORTS):
        return
    if not uri:
        raise HostdevError('uri is empty, and libvirt would connect to its default daemon instead; use %s'
                           % ACCEPTED_URIS)
    raise HostdevError('uri %s is not a libvirt URI this collection supports; use %s' % (shown(repr(uri)), ACCEPTED_URIS))


_event_loop_lock = threading.Lock()
_event_loop: Dict[str, bool] = {}


def _run_event_loop() -> None:
    while True:
        if libvirt.virEventRunDefaultImpl() < 0:
            return


def start_event_loop() -> bool:
    """libvirt's default event loop in a daemon thread, once per process; False when it cannot run.

    Keepalive needs it, and it must be registered before the connection opens.
    """
    with _event_loop_lock:
        if 'running' not in _event_loop:
            try:
                running = libvirt.virEventRegisterDefaultImpl() == 0
            except Exception:  # pylint: disable=broad-except
                running = False
            if running:
                threading.Thread(target=_run_event_loop, name='virt-hostdev libvirt events', daemon=True).start()
            _event_loop['running'] = running
        return _event_loop['running']


def keep_alive(conn: Any) -> bool:
    """Turn on libvirt's keepalive on conn; False where it cannot (the test driver, no event loop)."""
    try:
        return conn.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT) == 0
    except Exception as error:  # pylint: disable=broad-except
        if not is_libvirt_error(error):
            raise
        return False


@contextlib.contextmanager
def connection(uri: str, readonly: bool = False) -> Iterator[Any]:
    """One libvirt connection for a whole run, with keepalive where it works, always closed afterwards."""
    check_uri(uri)
    if not HAS_LIBVIRT:
        raise MissingLibvirtError()
    start_event_loop()
    with translated('cannot connect to libvirt at %s' % uri):
        conn = libvirt.openReadOnly(uri) if readonly else libvirt.open(uri)
    try:
        keep_alive(conn)
        yield conn
    finally:
        try:
            conn.close()
        except Exception:  # pylint: disable=broad-except
            pass


class DeadlineExceeded(HostdevError):
    """libvirt did not finish a session within its timeout; the session is cancelled."""


def check_timeout(timeout: Any) -> None:
    """Refuse a timeout that is not a number of seconds above 0."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise HostdevError('timeout must be a number of seconds above 0, not %s' % shown(repr(timeout)))


# The cancel event of the session running in this thread (within_deadline's worker).
_session = threading.local()


def cancelled() -> bool:
    """True in a session whose caller stopped waiting at its deadline."""
    event = getattr(_session, 'cancelled', None)
    return event is not None and event.is_set()


def ensure_not_cancelled(action: str) -> None:
    """Raise instead of doing action when the caller already reported this session's deadline."""
    if cancelled():
        raise HostdevError('%s: not done, the run had already failed at its deadline' % action)


def within_deadline(session: Callable[[], Result], uri: str, timeout: float = DEFAULT_TIMEOUT) -> Result:
    """session() (a libvirt connection and its calls), waited for at most timeout seconds.

    session runs in a daemon thread; its result is returned, and its exception
    raised, unchanged. When the deadline passes first, its cancel event is set
    (see ensure_not_cancelled) and DeadlineExceeded is raised: the thread may stay
    blocked in libvirt, but keepalive drops its connection, and a module's process
    exits right after reporting the failure. A session inside a session runs in
    place, under the outer deadline.
    """
    check_timeout(timeout)
    if getattr(_session, 'cancelled', None) is not None:
        return session()
    cancel = threading.Event()
    guard = threading.Lock()
    outcome: Dict[str, Any] = {}

    def worker():
        _session.cancelled = cancel
        try:
            result = session()
        except BaseException as error:  # pylint: disable=broad-except
            with guard:
                outcome['error'] = error
        else:
            with guard:
                outcome['result'] = result

    thread = threading.Thread(target=worker, name='virt-hostdev libvirt session', daemon=True)
    thread.start()
    thread.join(timeout)
    with guard:
        # Either the session finished, or it is cancelled before it can report.
        expired = not outcome
        if expired:
            cancel.set()
    if expired:
        raise DeadlineExceeded(
            'libvirtd at %s did not answer within %g s: is it stopped or overloaded? Check the daemon '
            '(virsh -c %s version), or raise the timeout option if it is only slow'
            % (shown(uri), timeout, shown(uri)))
    if 'error' in outcome:
        raise outcome['error']
    return outcome['result']
