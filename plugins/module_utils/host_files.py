# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: careful changes to a host's configuration files, and bounded commands.

Every file the preparing modules (kernel_cmdline, vfio_reserve) read or write goes
through ``HostFiles``: paths are the host's (``/etc/default/grub``) under a root
(``/``, or a fake tree in tests); a file is read without following a symbolic link;
a change is planned first (``FileChange``: before, after, the diff) and applied
atomically (a temporary file in the same directory, then a rename, which replaces a
planted link instead of writing through it), keeping the mode and owner of the file
it replaces. A symbolic link where a file is expected is refused, naming it.

``Commands`` runs the host's tools (update-grub, grubby, update-initramfs, modprobe; on the
controller, Graphviz's dot) through the module's run_command, as argument lists, under
``timeout(1)``.
"""

import errno
import os
import stat
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError

# Exit status of timeout(1) when the command ran out of time.
TIMED_OUT = 124
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
    """The host's files under root; every read refuses a symbolic link."""

    def __init__(self, root: str = '/') -> None:
        self.root = os.path.abspath(root)

    def real(self, path: str) -> str:
        """Where the host path lives under the root."""
        return os.path.join(self.root, path.lstrip('/'))

    def read(self, path: str) -> Optional[str]:
        """The text of a regular file, or None when it does not exist."""
        real = self.real(path)
        try:
            descriptor = os.open(real, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
        except OSError as error:
            if error.errno == errno.ENOENT:
                return None
            if error.errno == errno.ELOOP:
                raise _symlink_error(path, real)
            raise HostdevError('cannot read %s: %s' % (real, error.strerror))
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            raise HostdevError('refusing %s: it is not a regular file' % real)
        with os.fdopen(descriptor, 'rb') as handle:
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

    def plan(self, path: str, after: Optional[str], mode: int = 0o644) -> FileChange:
        """The change that leaves path holding after (absent for None)."""
        return FileChange(path, self.read(path), after, mode)

    def apply(self, change: FileChange) -> None:
        """Make the file what change.after says; nothing when it already is."""
        if not change.changed:
            return
        real = self.real(change.path)
        _refuse_symlink(change.path, real)
        if change.after is None:
            try:
                os.unlink(real)
            except OSError as error:
                if error.errno != errno.ENOENT:
                    raise HostdevError('cannot remove %s: %s' % (real, error.strerror))
            return
        self._write(real, change.after, change.mode)

    def _write(self, real: str, text: str, mode: int) -> None:
        directory = os.path.dirname(real)
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(prefix='.virt-hostdev-', dir=directory)
        except OSError as error:
            raise HostdevError('cannot write %s: %s' % (real, error.strerror))
        try:
            with os.fdopen(descriptor, 'w', encoding='utf-8') as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            _take_attributes(temporary, real, mode)
            os.rename(temporary, real)
        except OSError as error:
            _unlink_quietly(temporary)
            raise HostdevError('cannot write %s: %s' % (real, error.strerror))
        _sync_directory(directory)


def _symlink_error(path: str, real: str) -> HostdevError:
    return HostdevError('refusing %s: it is a symbolic link (to %s), not a file virt.hostdev wrote; '
                        'someone may have planted it: remove it and run again' % (real, _link_target(real)))


def _link_target(real: str) -> str:
    try:
        return os.readlink(real)
    except OSError:
        return '?'


def _refuse_symlink(path: str, real: str) -> None:
    if os.path.islink(real):
        raise _symlink_error(path, real)


def _take_attributes(temporary: str, real: str, mode: int) -> None:
    """The mode and owner of the file being replaced, or mode for a new file."""
    try:
        current = os.lstat(real)
    except OSError:
        os.chmod(temporary, mode)
        return
    os.chmod(temporary, stat.S_IMODE(current.st_mode))
    if hasattr(os, 'chown') and (current.st_uid, current.st_gid) != (os.getuid(), os.getgid()):
        try:
            os.chown(temporary, current.st_uid, current.st_gid)
        except PermissionError:
            pass  # not root: the file becomes this user's, as any write by this user would


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_directory(directory: str) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def apply_all(files: HostFiles, changes: List[FileChange]) -> None:
    for change in changes:
        files.apply(change)


def diffs(changes: List[FileChange]) -> List[Dict[str, str]]:
    """The diff of every changed file, in order: what a module returns as its diff."""
    return [change.diff() for change in changes if change.changed]


class Commands:
    """The host's tools, found on PATH (then the sbin directories) and run with a time limit.

    run_command and get_bin_path are an AnsibleModule's (tests pass their own).
    """

    def __init__(self, run_command: Callable[..., Tuple[int, str, str]],
                 get_bin_path: Callable[..., Optional[str]]) -> None:
        self._run_command = run_command
        self._get_bin_path = get_bin_path
        self.ran: List[List[str]] = []

    @classmethod
    def of(cls, module: Any) -> 'Commands':
        return cls(module.run_command, module.get_bin_path)

    def find(self, name: str) -> Optional[str]:
        return self._get_bin_path(name)

    def outcome(self, argv: List[str], timeout: int, data: Optional[str] = None) -> Tuple[int, str, str, bool]:
        """Run argv under timeout(1), data on its standard input: (exit code, output, errors, timed out)."""
        command = list(argv)
        limiter = self.find('timeout')
        if limiter:
            command = [limiter, '--kill-after=%d' % KILL_AFTER, str(timeout)] + command
        self.ran.append(list(argv))
        if data is None:
            rc, out, err = self._run_command(command)
        else:
            rc, out, err = self._run_command(command, data=data, binary_data=True)
        return rc, out, err, bool(limiter) and rc == TIMED_OUT

    def run(self, argv: List[str], timeout: int) -> str:
        """Run argv (argv[0] a name or a path) and return its output; fail on a non-zero exit."""
        rc, out, err, timed_out = self.outcome(argv, timeout)
        shown = ' '.join(argv)
        if timed_out:
            raise HostdevError('%s did not finish within %d s and was stopped' % (shown, timeout))
        if rc != 0:
            detail = (err or out or '').strip().splitlines()
            raise HostdevError('%s failed with exit code %d%s' % (
                shown, rc, ': %s' % ' / '.join(detail[-5:]) if detail else ''))
        return out


def host_files_argument_spec(command_timeout: int) -> Dict[str, Dict[str, Any]]:
    """The options of the modules that change a host's boot files (root, command_timeout), as a
    fresh dict; documented by the virt.hostdev.host_files doc fragment: change both together."""
    return dict(
        root=dict(type='path', default='/'),
        command_timeout=dict(type='int', default=command_timeout),
    )
