# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: one host-wide lock for every virt.hostdev change on this machine.

An assignment reads the host, validates and edits while holding the lock, so
two runs at once (two plays, two forks) cannot both give one device or one
IOMMU group to two domains: the second reads the host after the first edited.
The lock is an fcntl.flock on a file, released by the kernel when the process
ends, so a killed run never leaves it held.
"""

import contextlib
import errno
import fcntl
import os
import tempfile
import time
from typing import Iterator, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError

LOCK_NAME = 'virt-hostdev.lock'
LOCK_DIRS = ('/run/lock', '/var/lock')
DEFAULT_TIMEOUT = 300


class HostLockTimeout(HostdevError):
    """The lock stayed taken for longer than the caller would wait."""


def default_lock_path() -> str:
    """/run/lock/virt-hostdev.lock, or the same name in the temp directory without /run/lock."""
    for directory in LOCK_DIRS:
        if os.path.isdir(directory) and os.access(directory, os.W_OK):
            return os.path.join(directory, LOCK_NAME)
    return os.path.join(tempfile.gettempdir(), LOCK_NAME)


@contextlib.contextmanager
def host_lock(path: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT, poll: float = 0.05) -> Iterator[str]:
    """Hold the host-wide lock for the block; wait at most timeout seconds for it."""
    path = path or default_lock_path()
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise HostdevError('cannot open the host lock %s: %s' % (path, error.strerror))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
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
