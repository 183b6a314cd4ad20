# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: careful changes to a host's configuration files, and bounded commands.

Every file the preparing modules (kernel_cmdline, vfio_reserve) read or write goes
through ``HostFiles``: paths are the host's (``/etc/default/grub``) under a root
(``/``, or a fake tree in tests). Every directory below the root is opened without following
a symbolic link (a linked directory is refused, naming it), so nothing is read or written
outside the root; a file is read only when it is a regular file (a FIFO, socket or device is
refused without being opened: it could block); a change is planned first (``FileChange``:
before, after, the diff) and applied atomically (a new file in the same directory, then a
rename, which replaces a planted link instead of writing through it), keeping the mode and
owner of the file it replaces. A symbolic link where a file is expected is refused, naming it.

``Commands`` runs the host's tools (update-grub, grubby, update-initramfs, modprobe; on the
controller, Graphviz's dot) through the module's run_command, as argument lists, under
``timeout(1)``: asked to stop at the limit, killed with its process group if it ignores that.
"""

import errno
import os
import signal
import stat
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, shown

# Exit status of timeout(1) when the command ran out of time.
TIMED_OUT = 124
# What run_command returns for timeout(1) killed (with its process group) by SIGKILL.
KILLED = (-signal.SIGKILL, 128 + signal.SIGKILL)
# How long a command may take after timeout(1) asked it to stop, before it is killed.
KILL_AFTER = 10


@dataclass
class FileChange:
    """One file as it is (before) and as it should be (after); None: the file is absent."""

    path: str
    before: Optional[str]
    after: Optional[str]
    mode: int = 0o644

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> Dict[str, str]:
        return {'before_header': self.path if self.before is not None else '%s (absent)' % self.path,
                'after_header': self.path if self.after is not None else '%s (absent)' % self.path,
                'before': self.before or '', 'after': self.after or ''}


class HostFiles:
    """The host's files under root; no read or write follows a symbolic link below the root."""

    def __init__(self, root: str = '/') -> None:
        self.root = os.path.abspath(root)

    def real(self, path: str) -> str:
        """Where the host path lives under the root."""
        return os.path.join(self.root, path.lstrip('/'))

    def read(self, path: str) -> Optional[str]:
        """The text of a regular file, or None when it (or a directory above it) does not exist.

        Anything else where a file is expected is refused without opening it (a FIFO would block,
        a device could act on being opened), as is a symbolic link, the file's or a directory's.
        """
        real = self.real(path)
        try:
            directory, name = self._directory(path)
        except FileNotFoundError:
            return None
        try:
            try:
                current = os.stat(name, dir_fd=directory, follow_symlinks=False)
            except FileNotFoundError:
                return None
            except OSError as error:
                raise HostdevError('cannot read %s: %s' % (real, error.strerror))
            _refuse_kind(real, current.st_mode)
            try:
                descriptor = os.open(name, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
            except OSError as error:
                if error.errno == errno.ELOOP:
                    raise _symlink_error(real)
                raise HostdevError('cannot read %s: %s' % (real, error.strerror))
        finally:
            os.close(directory)
        with os.fdopen(descriptor, 'rb') as handle:
            _refuse_kind(real, os.fstat(handle.fileno()).st_mode)  # replaced since the stat
            data = handle.read()
        try:
            return data.decode('utf-8')
        except UnicodeDecodeError:
            raise HostdevError('refusing %s: it is not UTF-8 text' % real)

    def exists(self, path: str) -> bool:
        return os.path.lexists(self.real(path))

    def listdir(self, path: str) -> List[str]:
        try:
            return sorted(os.listdir(self.real(path)))
        except OSError:
            return []

    def refuse_special_entries(self, path: str) -> None:
        """Refuse a FIFO, socket or device among the entries of a directory (a tool that reads them
        would block, or act on the device)."""
        for name in self.listdir(path):
            real = os.path.join(self.real(path), name)
            try:
                mode = os.lstat(real).st_mode
            except OSError:
                continue
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                _refuse_kind(real, mode)

    def plan(self, path: str, after: Optional[str], mode: int = 0o644) -> FileChange:
        """The change that leaves path holding after (absent for None)."""
        return FileChange(path, self.read(path), after, mode)

    def apply(self, change: FileChange) -> None:
        """Make the file what change.after says; nothing when it already is."""
        if not change.changed:
            return
        real = self.real(change.path)
        try:
            directory, name = self._directory(change.path, create=change.after is not None)
        except FileNotFoundError:
            return  # removing a file whose directory does not exist
        try:
            try:
                current: Optional[os.stat_result] = os.stat(name, dir_fd=directory, follow_symlinks=False)
            except FileNotFoundError:
                current = None
            if current is not None:
                _refuse_kind(real, current.st_mode)
            if change.after is None:
                if current is not None:
                    try:
                        os.unlink(name, dir_fd=directory)
                    except OSError as error:
                        raise HostdevError('cannot remove %s: %s' % (real, error.strerror))
                return
            _write(directory, name, real, change.after, change.mode, current)
        finally:
            os.close(directory)

    def _directory(self, path: str, create: bool = False) -> Tuple[int, str]:
        """(an open descriptor of the directory of path, the file's name), every directory below the
        root opened without following a symbolic link (and made, with create). FileNotFoundError when
        one is missing."""
        parts = [part for part in path.split('/') if part]
        if not parts or any(part in ('.', '..') for part in parts):
            raise HostdevError('refusing the path %s: not a file path below the root' % path)
        try:
            descriptor = os.open(self.root, os.O_RDONLY | _DIRECTORY)
        except FileNotFoundError:
            if create:
                raise HostdevError('cannot write %s: the root %s does not exist' % (self.real(path), self.root))
            raise
        except OSError as error:
            raise HostdevError('cannot open the root %s: %s' % (self.root, error.strerror))
        walked = self.root
        try:
            for part in parts[:-1]:
                walked = os.path.join(walked, part)
                try:
                    following = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=descriptor)
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        os.mkdir(part, 0o755, dir_fd=descriptor)
                    except FileExistsError:
                        pass  # made meanwhile: opened (and checked) below
                    except OSError as error:
                        raise HostdevError('cannot make the directory %s: %s' % (walked, error.strerror))
                    following = self._open_directory(descriptor, part, walked)
                except OSError as error:
                    if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise HostdevError('cannot open the directory %s: %s' % (walked, error.strerror))
                    if os.path.islink(walked):
                        raise HostdevError(
                            'refusing %s: %s is a symbolic link (to %s), and virt.hostdev never reads or writes '
                            'through a linked directory below the root (a planted link would send it elsewhere): '
                            'replace it with a directory and run again' % (
                                self.real(path), walked, _link_target(walked)))
                    raise HostdevError('refusing %s: %s is not a directory' % (self.real(path), walked))
                os.close(descriptor)
                descriptor = following
        except BaseException:
            os.close(descriptor)
            raise
        return descriptor, parts[-1]

    def _open_directory(self, descriptor: int, part: str, walked: str) -> int:
        try:
            return os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=descriptor)
        except OSError as error:
            raise HostdevError('refusing %s: it is not a directory virt.hostdev made (%s)' % (walked, error.strerror))


_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
_DIRECTORY = getattr(os, 'O_DIRECTORY', 0)
# What a file that is not a regular one is, in a message.
_KINDS = ((stat.S_ISDIR, 'a directory'), (stat.S_ISFIFO, 'a FIFO (named pipe)'), (stat.S_ISSOCK, 'a socket'),
          (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'))


def _refuse_kind(real: str, mode: int) -> None:
    """Refuse anything but a regular file where one is expected."""
    if stat.S_ISREG(mode):
        return
    if stat.S_ISLNK(mode):
        raise _symlink_error(real)
    kind = next((name for test, name in _KINDS if test(mode)), 'not a regular file')
    raise HostdevError('refusing %s: it is %s, not a regular file (reading it could block or act on a device): '
                       'remove it, or put the file there, and run again' % (real, kind))


def _write(directory: int, name: str, real: str, text: str, mode: int, current: Optional[os.stat_result]) -> None:
    """Write name in directory atomically: a new file beside it, then a rename over it."""
    temporary = '.virt-hostdev-%s' % os.urandom(6).hex()
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=directory)
    except OSError as error:
        raise HostdevError('cannot write %s: %s' % (real, error.strerror))
    try:
        with os.fdopen(descriptor, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            _take_attributes(handle.fileno(), current, mode)
            os.fsync(handle.fileno())
        os.rename(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except OSError as error:
        try:
            os.unlink(temporary, dir_fd=directory)
        except OSError:
            pass
        raise HostdevError('cannot write %s: %s' % (real, error.strerror))
    try:
        os.fsync(directory)
    except OSError:
        pass


def _symlink_error(real: str) -> HostdevError:
    return HostdevError('refusing %s: it is a symbolic link (to %s), not a file virt.hostdev wrote; '
                        'someone may have planted it: remove it and run again' % (real, _link_target(real)))


def _link_target(real: str) -> str:
    try:
        return os.readlink(real)
    except OSError:
        return '?'


def _take_attributes(descriptor: int, current: Optional[os.stat_result], mode: int) -> None:
    """The mode and owner of the file being replaced, or mode for a new file."""
    if current is None:
        os.fchmod(descriptor, mode)
        return
    os.fchmod(descriptor, stat.S_IMODE(current.st_mode))
    if hasattr(os, 'fchown') and (current.st_uid, current.st_gid) != (os.getuid(), os.getgid()):
        try:
            os.fchown(descriptor, current.st_uid, current.st_gid)
        except PermissionError:
            pass  # not root: the file becomes this user's, as any write by this user would


def apply_all(files: HostFiles, changes: List[FileChange]) -> None:
    for change in changes:
        files.apply(change)


def diffs(changes: List[FileChange]) -> List[Dict[str, str]]:
    """The diff of every changed file, in order: what a module returns as its diff."""
    return [change.diff() for change in changes if change.changed]


class Commands:
    """The host's tools, found on PATH (then the sbin directories) and run with a time limit.

    run_command and get_bin_path are an AnsibleModule's (tests pass their own). Each command runs
    under timeout(1) in a process group of its own: at the limit it is asked to stop (SIGTERM), and
    kill_after seconds later it is killed with every process of its group (SIGKILL).
    """

    def __init__(self, run_command: Callable[..., Tuple[int, str, str]],
                 get_bin_path: Callable[..., Optional[str]], kill_after: int = KILL_AFTER) -> None:
        self._run_command = run_command
        self._get_bin_path = get_bin_path
        self.kill_after = kill_after
        self.ran: List[List[str]] = []

    @classmethod
    def of(cls, module: Any) -> 'Commands':
        return cls(module.run_command, module.get_bin_path)

    def find(self, name: str) -> Optional[str]:
        return self._get_bin_path(name)

    def outcome(self, argv: List[str], timeout: int, data: Optional[str] = None) -> Tuple[int, str, str, bool]:
        """Run argv under timeout(1), data on its standard input: (exit code, output, errors, timed out)."""
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            # timeout(1) takes 0 for no limit at all
            raise HostdevError('%s: the time limit must be a number of seconds above 0, not %s'
                               % (argv[0], shown(repr(timeout))))
        command = list(argv)
        limiter = self.find('timeout')
        if limiter:
            command = [limiter, '--kill-after=%d' % self.kill_after, str(timeout)] + command
        self.ran.append(list(argv))
        started = time.monotonic()
        if data is None:
            rc, out, err = self._run_command(command)
        else:
            rc, out, err = self._run_command(command, data=data, binary_data=True)
        # A command that ignores SIGTERM is killed with timeout(1)'s whole process group: timeout(1)
        # itself dies of SIGKILL then, and only the time tells that from another kill.
        killed = rc in KILLED and time.monotonic() - started >= timeout
        return rc, out, err, bool(limiter) and (rc == TIMED_OUT or killed)

    def run(self, argv: List[str], timeout: int) -> str:
        """Run argv (argv[0] a name or a path) and return its output; fail on a non-zero exit."""
        rc, out, err, timed_out = self.outcome(argv, timeout)
        shown_command = ' '.join(argv)
        if timed_out and rc == TIMED_OUT:
            raise HostdevError('%s timed out after %d s: it did not finish within %d s and was stopped'
                               % (shown_command, timeout, timeout))
        if timed_out:
            raise HostdevError('%s timed out after %d s: it did not finish within %d s and ignored the request to '
                               'stop, so it was killed %d s later, with every process it started'
                               % (shown_command, timeout, timeout, self.kill_after))
        if rc != 0:
            detail = (err or out or '').strip().splitlines()
            raise HostdevError('%s failed with exit code %d%s' % (
                shown_command, rc, ': %s' % ' / '.join(detail[-5:]) if detail else ''))
        return out


def check_command_timeout(timeout: Any) -> None:
    """Refuse a command_timeout that is not a number of seconds above 0 (before anything changes)."""
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        raise HostdevError('command_timeout must be a number of seconds above 0, not %s' % shown(repr(timeout)))


def host_files_argument_spec(command_timeout: int) -> Dict[str, Dict[str, Any]]:
    """The options of the modules that change a host's boot files (root, command_timeout), as a
    fresh dict; documented by the virt.hostdev.host_files doc fragment: change both together."""
    return dict(
        root=dict(type='path', default='/'),
        command_timeout=dict(type='int', default=command_timeout),
    )
