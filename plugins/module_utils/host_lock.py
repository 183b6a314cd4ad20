# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: one host-wide lock for every virt.hostdev change on this machine.

An assignment reads the host, validates and edits while holding the lock, so
two runs at once (two plays, two forks) cannot both give one device or one
IOMMU group to two domains: the second reads the host after the first edited.
The lock is an fcntl.flock on a file, released by the kernel when the process
ends, so a killed run never leaves it held.

The lock has one path, /run/virt-hostdev/lock, in a directory private to the
user that runs the changes (root): created with mode 0700, refused when it is a
symbolic link, owned by another user or writable by group or others. The file
is opened without following a symbolic link and must be a regular file owned by
that user, so no other local user can hold the lock or make root create a file
elsewhere. Every check applies to an explicit path too, and a refusal is
immediate: it never waits for the lock.

The preparing modules take the same lock: for a root other than / (a fake tree in tests) it
is the same path under that root, and every directory between the root and the lock's
directory is opened without following a symbolic link (created 0755 when missing), so a
planted link never moves the lock, or a directory it creates, out of the root.
"""

import contextlib
import errno
import fcntl
import os
import stat
import time
from typing import Iterator, List, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError

LOCK_DIR = '/run/virt-hostdev'
LOCK_PATH = os.path.join(LOCK_DIR, 'lock')
DEFAULT_TIMEOUT = 300

_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)
_RUN_AS_OWNER = 'run virt.hostdev changes as root (become: true)'


class HostLockTimeout(HostdevError):
    """The lock stayed taken for longer than the caller would wait."""


class HostLockUnsafe(HostdevError):
    """The lock's directory or file is not private to this user: refused without waiting."""


def default_lock_path() -> str:
    """The one lock path of the host: /run/virt-hostdev/lock. Creates nothing."""
    return LOCK_PATH


def lock_path_under(root: str) -> str:
    """The lock of the machine whose files are under root: default_lock_path() for /, the same path
    under any other root. Creates nothing."""
    return os.path.join(os.path.abspath(root), LOCK_PATH.lstrip('/'))


def _refuse_foreign(what: str, path: str, status: os.stat_result) -> None:
    """Refuse a directory or file that is not owned by the effective uid."""
    euid = os.geteuid()
    if status.st_uid != euid:
        advice = _RUN_AS_OWNER if status.st_uid == 0 else 'another user may have planted it: remove it'
        raise HostLockUnsafe('refusing the host lock %s %s: it is owned by uid %d, not by uid %d that runs this '
                             'change; %s' % (what, path, status.st_uid, euid, advice))


def _open_below(root: str, parts: List[str]) -> int:
    """Open root/parts[0]/parts[1]/... (each created 0755 when missing), never through a symbolic link
    below root; return the fd of the last one. A missing root is created, as a write under it would."""
    try:
        os.makedirs(root, 0o755, exist_ok=True)
        handle = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise HostLockUnsafe('cannot open the root %s of the host lock: %s' % (root, error.strerror))
    shown = root
    for part in parts:
        shown = os.path.join(shown, part)
        try:
            try:
                os.mkdir(part, 0o755, dir_fd=handle)
            except FileExistsError:
                pass  # a link there is refused below, without following it
            following = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=handle)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                kind = 'a symbolic link' if os.path.islink(shown) else 'not a directory'
                raise HostLockUnsafe('refusing the host lock under %s: %s is %s (remove it)' % (root, shown, kind))
            raise HostLockUnsafe('cannot create %s for the host lock: %s' % (shown, error.strerror))
        finally:
            os.close(handle)
        handle = following
    return handle


def _open_parent(directory: str, root: Optional[str]) -> int:
    """The fd of the directory that holds the lock directory: below root when root is given."""
    parent = os.path.dirname(directory)
    if root is None:
        try:
            return os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as error:
            hint = '; %s' % _RUN_AS_OWNER if error.errno in (errno.EACCES, errno.EPERM) else ''
            raise HostLockUnsafe('cannot create the host lock directory %s: %s%s' % (directory, error.strerror, hint))
    relative = os.path.relpath(parent, root)
    if relative == os.curdir:
        return _open_below(root, [])
    parts = relative.split(os.sep)
    if parts[0] == os.pardir:
        raise HostLockUnsafe('the host lock %s is not under the root %s' % (directory, root))
    return _open_below(root, parts)


def _open_directory(directory: str, root: Optional[str] = None) -> int:
    """Open the lock directory (created 0700 if missing) and check that it is private; return its fd."""
    parent = _open_parent(directory, root)
    name = os.path.basename(directory)
    created = False
    try:
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
            created = True
        except FileExistsError:
            pass  # it exists, or another run created it at the same moment: checked below either way
        except OSError as error:
            hint = '; %s' % _RUN_AS_OWNER if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else ''
            raise HostLockUnsafe('cannot create the host lock directory %s: %s%s' % (directory, error.strerror, hint))
        try:
            handle = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                kind = 'a symbolic link' if os.path.islink(directory) else 'not a directory'
                raise HostLockUnsafe('refusing the host lock directory %s: it is %s (remove it; a run creates it '
                                     'with mode 0700)' % (directory, kind))
            raise HostLockUnsafe('cannot open the host lock directory %s: %s; %s'
                                 % (directory, error.strerror, _RUN_AS_OWNER))
    finally:
        os.close(parent)
    try:
        status = os.fstat(handle)
        _refuse_foreign('directory', directory, status)
        if created:
            os.fchmod(handle, 0o700)  # os.mkdir's mode went through the umask
            status = os.fstat(handle)
        if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise HostLockUnsafe('refusing the host lock directory %s: it is writable by group or others (mode %04o); '
                                 'it must be private (chmod 0700 %s)'
                                 % (directory, stat.S_IMODE(status.st_mode), directory))
    except BaseException:
        os.close(handle)
        raise
    return handle


def _open_lock(path: str, root: Optional[str] = None) -> int:
    """Open (create 0600) the lock file in its private directory, never through a symbolic link."""
    directory, name = os.path.split(os.path.abspath(path))
    directory_handle = _open_directory(directory, root)
    try:
        handle = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=directory_handle)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise HostLockUnsafe('refusing the host lock %s: it is a symbolic link (remove it)' % path)
        raise HostLockUnsafe('cannot open the host lock %s: %s' % (path, error.strerror))
    finally:
        os.close(directory_handle)
    try:
        status = os.fstat(handle)
        if not stat.S_ISREG(status.st_mode):
            raise HostLockUnsafe('refusing the host lock %s: it is not a regular file (remove it)' % path)
        _refuse_foreign('file', path, status)
    except BaseException:
        os.close(handle)
        raise
    return handle


@contextlib.contextmanager
def host_lock(path: Optional[str] = None, timeout: Optional[float] = None, poll: float = 0.05,
              root: str = '/') -> Iterator[str]:
    """Hold the host-wide lock for the block; wait at most timeout seconds (DEFAULT_TIMEOUT when None) for it.

    path: the lock file, lock_path_under(root) when None; its directory must be private to
    the effective uid (created with mode 0700 when missing). root: the root of the files the
    change writes; for one other than /, the directories between it and the lock's are never
    followed through a symbolic link. HostLockUnsafe at once when a directory or the file is
    not safe; HostLockTimeout when the lock stays taken.
    """
    below = None if os.path.abspath(root) == '/' else os.path.abspath(root)
    path = path or lock_path_under(root)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    handle = _open_lock(path, below)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in _BUSY:
                    raise HostdevError('cannot take the host lock %s: %s' % (path, error.strerror))
            if time.monotonic() >= deadline:
                raise HostLockTimeout(
                    'another virt.hostdev change on this host held the lock %s for more than %s s; '
                    'try again when it has finished (fuser %s shows the process holding it)'
                    % (path, timeout, path))
            time.sleep(poll)
        yield path
    finally:
        try:
            fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            os.close(handle)
