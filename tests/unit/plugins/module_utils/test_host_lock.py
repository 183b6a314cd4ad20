# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host lock: one private path, refused at once when another user could hold or redirect it.

Every test works under tmp_path, laid out like the real lock (a private directory holding
``lock``); only the default path test names /run/virt-hostdev, and it creates nothing.
Several tests need root (chown to another uid, setuid in a child).
"""

import contextlib
import errno
import fcntl
import os
import signal
import stat
import time

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils import host_lock as host_lock_module
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import HostLockTimeout, host_lock

OTHER_UID = 4242
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to chown or setuid')


@pytest.fixture
def lock_path(tmp_path):
    """A lock file in a private directory that does not exist yet, as on a fresh host."""
    return tmp_path / 'virt-hostdev' / 'lock'


@contextlib.contextmanager
def flock_held(path):
    """Hold an flock on path through another open file description (another run, or another user)."""
    handle = os.open(str(path), os.O_RDWR)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(handle)


def assert_refused_at_once(path, match):
    """host_lock(path) fails with a HostdevError that is not a timeout, well within 1 s of a 5 s wait."""
    start = time.monotonic()
    with pytest.raises(HostdevError, match=match) as caught:
        with host_lock(str(path), timeout=5):
            pytest.fail('the lock at %s was taken' % path)
    assert not isinstance(caught.value, HostLockTimeout)
    assert time.monotonic() - start < 1
    return caught.value.message


def private_directory(path, mode=0o700):
    path.mkdir()
    os.chmod(str(path), mode)
    return path


# -- the one path ------------------------------------------------------------------------

def test_the_default_path_is_the_documented_one_and_creates_nothing():
    existed = os.path.lexists('/run/virt-hostdev')
    assert host_lock_module.default_lock_path() == '/run/virt-hostdev/lock'
    assert os.path.lexists('/run/virt-hostdev') == existed


def test_a_missing_directory_is_created_private(lock_path):
    with host_lock(str(lock_path), timeout=0) as held:
        assert held == str(lock_path)
    directory = os.lstat(str(lock_path.parent))
    assert stat.S_ISDIR(directory.st_mode)
    assert stat.S_IMODE(directory.st_mode) == 0o700
    assert directory.st_uid == os.geteuid()
    lock = os.lstat(str(lock_path))
    assert stat.S_ISREG(lock.st_mode)
    assert stat.S_IMODE(lock.st_mode) == 0o600


@pytest.mark.parametrize('umask', [0o000, 0o277])
def test_the_directory_mode_does_not_depend_on_the_umask(lock_path, umask):
    previous = os.umask(umask)
    try:
        with host_lock(str(lock_path), timeout=0):
            pass
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.lstat(str(lock_path.parent)).st_mode) == 0o700


# -- a lock file another user could hold or redirect ----------------------------------------

@needs_root
def test_a_lock_file_owned_by_another_uid_is_refused_at_once(lock_path):
    private_directory(lock_path.parent)
    lock_path.touch()
    os.chown(str(lock_path), OTHER_UID, OTHER_UID)
    with flock_held(lock_path):  # the other user holds it, as a hijack would
        message = assert_refused_at_once(lock_path, 'owned by uid %d' % OTHER_UID)
    assert str(lock_path) in message


def test_a_symlink_at_the_lock_path_is_refused_and_its_target_not_created(lock_path, tmp_path):
    private_directory(lock_path.parent)
    target = tmp_path / 'victim'
    lock_path.symlink_to(target)
    assert_refused_at_once(lock_path, 'symbolic link')
    assert not os.path.lexists(str(target))


def test_a_lock_file_that_is_not_a_regular_file_is_refused(lock_path):
    private_directory(lock_path.parent)
    os.mkfifo(str(lock_path), 0o600)
    assert_refused_at_once(lock_path, 'not a regular file')


# -- a lock directory that is not private ------------------------------------------------------

def test_a_lock_directory_that_is_a_symlink_is_refused(lock_path, tmp_path):
    real = private_directory(tmp_path / 'elsewhere')
    lock_path.parent.symlink_to(real)
    assert_refused_at_once(lock_path, 'directory %s: it is a symbolic link' % lock_path.parent)
    assert not os.path.lexists(str(real / 'lock'))


def test_a_lock_directory_that_is_a_file_is_refused(lock_path):
    lock_path.parent.touch()
    assert_refused_at_once(lock_path, 'not a directory')


@needs_root
def test_a_lock_directory_owned_by_another_uid_is_refused(lock_path):
    private_directory(lock_path.parent)
    os.chown(str(lock_path.parent), OTHER_UID, OTHER_UID)
    assert_refused_at_once(lock_path, 'directory %s: it is owned by uid %d' % (lock_path.parent, OTHER_UID))
    assert not os.path.lexists(str(lock_path))


@pytest.mark.parametrize('mode', [0o720, 0o702, 0o777, 0o1777])
def test_a_lock_directory_writable_by_group_or_others_is_refused(lock_path, mode):
    private_directory(lock_path.parent, mode)
    assert_refused_at_once(lock_path, r'writable by group or others \(mode %04o\)' % mode)
    assert not os.path.lexists(str(lock_path))


@needs_root
def test_a_user_who_cannot_create_the_directory_is_told_to_run_as_root(lock_path):
    """A non-root run (here a child with uid 4242) gets a message, not a traceback."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            os.close(read_end)
            os.setgid(OTHER_UID)
            os.setuid(OTHER_UID)
            try:
                with host_lock(str(lock_path), timeout=5):
                    os.write(write_end, b'taken')
            except HostdevError as error:
                os.write(write_end, error.message.encode())
                code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, 'rb') as reader:
        message = reader.read().decode()
    os.waitpid(child, 0)
    assert str(lock_path.parent) in message
    assert 'as root (become: true)' in message
    assert not os.path.lexists(str(lock_path.parent))


# -- what stays: a bounded wait, released on exit, by exception and by death ---------------------

def test_a_second_holder_waits_times_out_then_gets_the_lock_after_release(lock_path):
    with host_lock(str(lock_path)):
        start = time.monotonic()
        with pytest.raises(HostLockTimeout, match='held the lock %s for more than 0.2 s.*fuser %s'
                           % (lock_path, lock_path)):
            with host_lock(str(lock_path), timeout=0.2, poll=0.01):
                pytest.fail('two holders at once')
        assert 0.2 <= time.monotonic() - start < 2
    with host_lock(str(lock_path), timeout=0):
        pass


def test_the_lock_is_released_when_the_block_raises(lock_path):
    with pytest.raises(RuntimeError):
        with host_lock(str(lock_path)):
            raise RuntimeError('the edit failed')
    with host_lock(str(lock_path), timeout=0):
        pass


def test_the_kernel_releases_the_lock_of_a_killed_run(lock_path):
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - killed while it holds the lock
        try:
            os.close(read_end)
            with host_lock(str(lock_path)):
                os.write(write_end, b'held')
                time.sleep(60)
        finally:
            os._exit(1)
    os.close(write_end)
    try:
        with os.fdopen(read_end, 'rb') as reader:
            assert reader.read(4) == b'held'
        with pytest.raises(HostLockTimeout):
            with host_lock(str(lock_path), timeout=0.1, poll=0.01):
                pass
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    with host_lock(str(lock_path), timeout=0):
        pass


def test_an_unexpected_flock_error_is_a_hostdev_error(lock_path, monkeypatch):
    def failing_flock(handle, operation):
        if operation & fcntl.LOCK_EX:
            raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
    monkeypatch.setattr(host_lock_module.fcntl, 'flock', failing_flock)
    with pytest.raises(HostdevError, match='cannot take the host lock %s' % lock_path):
        with host_lock(str(lock_path), timeout=5):
            pass


# -- the lock of the files under a root (the preparing modules; a fake tree in tests) -----------------

def test_the_lock_under_a_root_is_the_host_path_there(tmp_path):
    assert host_lock_module.lock_path_under('/') == '/run/virt-hostdev/lock'
    assert host_lock_module.lock_path_under(str(tmp_path) + '/') == str(tmp_path / 'run' / 'virt-hostdev' / 'lock')


def test_a_root_gets_its_run_directory_and_a_private_lock_directory(tmp_path):
    root = tmp_path / 'root'
    with host_lock(root=str(root), timeout=0) as held:
        assert held == str(root / 'run' / 'virt-hostdev' / 'lock')
    assert stat.S_ISDIR(os.lstat(str(root / 'run')).st_mode)  # the root did not exist: created, as a write would
    assert stat.S_IMODE(os.lstat(str(root / 'run' / 'virt-hostdev')).st_mode) == 0o700


def test_two_holders_of_one_root_serialize_and_the_wait_is_bounded(tmp_path, monkeypatch):
    root = str(tmp_path / 'root')
    monkeypatch.setattr(host_lock_module, 'DEFAULT_TIMEOUT', 0.2)  # what a module's wait uses
    with host_lock(root=root):
        with pytest.raises(HostLockTimeout, match='held the lock %s/run/virt-hostdev/lock for more than 0.2 s' % root):
            with host_lock(root=root, poll=0.01):
                pytest.fail('two holders at once')
        with host_lock(root=str(tmp_path / 'other'), timeout=0):
            pass  # another root, another lock


@pytest.mark.parametrize('planted', ['run', 'run/virt-hostdev'])
def test_a_symlinked_directory_below_the_root_is_refused_and_nothing_created_through_it(tmp_path, planted):
    root = tmp_path / 'root'
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (root / planted).parent.mkdir(parents=True, exist_ok=True)
    (root / planted).symlink_to(elsewhere)
    start = time.monotonic()
    with pytest.raises(HostdevError, match='symbolic link') as caught:
        with host_lock(root=str(root), timeout=5):
            pytest.fail('the lock was taken through a link')
    assert not isinstance(caught.value, HostLockTimeout) and time.monotonic() - start < 1
    assert caught.value.message == {
        'run': 'refusing the host lock under %s: %s is a symbolic link (remove it)' % (root, root / 'run'),
        'run/virt-hostdev': 'refusing the host lock directory %s: it is a symbolic link (remove it; a run creates '
                            'it with mode 0700)' % (root / planted)}[planted]
    assert os.listdir(str(elsewhere)) == []


def test_a_file_where_the_run_directory_should_be_is_refused(tmp_path):
    root = tmp_path / 'root'
    root.mkdir()
    (root / 'run').touch()
    with pytest.raises(HostdevError, match='%s is not a directory' % (root / 'run')):
        with host_lock(root=str(root), timeout=5):
            pass


def test_a_lock_outside_its_root_is_refused(tmp_path):
    with pytest.raises(HostdevError, match='is not under the root'):
        with host_lock(str(tmp_path / 'virt-hostdev' / 'lock'), root=str(tmp_path / 'root'), timeout=5):
            pass
