# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: careful reads of one host's sysfs tree and the files beside it.

The root is configurable (default /sys) so tests can point it at a fake tree.
Files that live outside /sys are read relative to the root's parent, the way
they sit on a real filesystem: ``<root>/../proc/cmdline``,
``<root>/../run/udev/data``, ``<root>/../usr/share/misc/pci.ids``,
``<root>/../etc/libvirt/qemu``. Every reader of the host (devices, IOMMU state,
host usage, domain files, ID names) reads through one SysfsTree, so an
unreadable file means the same everywhere: None, or an empty listing.
"""

import os
import stat
from typing import Dict, List, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, shown

# Directories every sysfs has; a root without them describes no host at all.
SYSFS_LANDMARKS = ('devices', 'bus', 'class')

# Bytes asked of each os.read: a sysfs attribute is at most a page.
_READ_SIZE = 65536

# Links followed in a row before SysfsTree.resolved leaves a path to os.path.realpath (a loop).
_MAX_LINKS = 40


_DIGITS = {10: frozenset('0123456789'), 16: frozenset('0123456789abcdefABCDEF')}


def kernel_int(text: str, maximum: int, minimum: int = 0, base: int = 10) -> Optional[int]:
    """The number in text as the kernel writes one (ASCII digits of base 10 or 16, a hexadecimal one with or
    without 0x, a '-' only when minimum is below 0), from minimum to maximum; None for anything else. int()
    alone takes 1_0 for 10, other scripts' digits, '+' and spaces, and any size."""
    digits = text[1:] if text.startswith('-') and minimum < 0 else text
    if base == 16 and digits[:2] in ('0x', '0X'):
        digits = digits[2:]
    widest = len('%x' % maximum if base == 16 else str(max(maximum, -minimum)))
    if not digits or len(digits) > widest or not set(digits) <= _DIGITS[base]:
        return None
    value = int(digits, base) * (-1 if text.startswith('-') else 1)
    return value if minimum <= value <= maximum else None


class _LinkLoop(Exception):
    """Too many links in a row: SysfsTree.resolved asks os.path.realpath instead."""


def _joined(directory: str, target: str) -> str:
    """A link's target joined to the resolved directory of the link; the '..' it starts with go
    up from that directory (which has no links left), the rest is resolved component by component."""
    base = '/' if target.startswith('/') else directory
    parts = target.split('/')
    start = 0
    while start < len(parts) and parts[start] in ('', '.', '..'):
        if parts[start] == '..':
            base = os.path.dirname(base)
        start += 1
    return os.path.join(base, *parts[start:])


class SysfsTree:
    """One host's sysfs root; warnings collects what its readers could not read."""

    def __init__(self, root: str = '/sys') -> None:
        self.root = os.path.abspath(root)
        self.host_root = os.path.dirname(self.root)
        self.warnings: List[str] = []
        self._resolved: Dict[str, str] = {}

    def require_sysfs(self) -> None:
        """Fail, naming the root, unless it is a sysfs tree: a wrong root must not read as an empty host."""
        if not os.path.exists(self.root):
            raise HostdevError('sysfs_root %s does not exist' % self.root)
        if not os.path.isdir(self.root):
            raise HostdevError('sysfs_root %s is not a directory' % self.root)
        missing = [name for name in SYSFS_LANDMARKS if not os.path.isdir(self.path(name))]
        if missing:
            # A copy of a host is a directory with sys/, proc/, ...: its root is one level up from the tree.
            below = self.path('sys')
            hint = ('; %s has a sys/ directory: did you mean %s?' % (self.root, below)
                    if os.path.isdir(below) else '')
            raise HostdevError('sysfs_root %s is not a sysfs tree: it has no %s director%s (a sysfs tree has %s)%s'
                               % (self.root, ', '.join(name + '/' for name in missing),
                                  'y' if len(missing) == 1 else 'ies', ', '.join(SYSFS_LANDMARKS), hint))

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def host_file(self, relative: str) -> str:
        """A path outside sysfs (proc/..., run/..., usr/...) of the same host."""
        return os.path.join(self.host_root, relative)

    def read(self, path: str, limit: Optional[int] = None) -> Optional[str]:
        """A file's stripped text (UTF-8); None when it cannot be read.

        Read with os.read, without Python's buffered text layers: a sysfs attribute is read in
        one call, and a read of thousands of them is I/O, not bookkeeping. With a limit (a host
        file outside sysfs, such as an mdevctl definition), only a regular file of at most limit
        bytes is read, opened without blocking: anything else (a FIFO, a device, more) is None.
        """
        flags = os.O_RDONLY if limit is None else os.O_RDONLY | os.O_NONBLOCK
        try:
            descriptor = os.open(path, flags)
        except OSError:
            return None
        chunks = []
        size = 0
        try:
            if limit is not None and not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return None
            while True:
                chunk = os.read(descriptor, _READ_SIZE)
                if not chunk:
                    break
                size += len(chunk)
                if limit is not None and size > limit:
                    return None
                chunks.append(chunk)
        except OSError:
            return None
        finally:
            os.close(descriptor)
        data = b''.join(chunks)
        try:
            text = data.decode('utf-8')
        except UnicodeDecodeError:
            return None
        if '\r' in text:  # as a text-mode open() reads it
            text = text.replace('\r\n', '\n').replace('\r', '\n')
        return text.strip()

    def read_text(self, path: str) -> Optional[str]:
        """An attribute's text as libvirt reads it (a C string, so up to its first NUL), stripped; None when it is
        empty or cannot be read: a name that is "" or holds a NUL would be a confident value from junk."""
        text = self.read(path)
        return (text.split('\0', 1)[0].strip() or None) if text is not None else None

    def read_int(self, path: str, maximum: int, minimum: int = 0, base: int = 10,
                 what: str = 'a number') -> Optional[int]:
        """A number a sysfs file holds as the kernel writes it (kernel_int), or None: silently when the file is
        not there, with a warning naming it when it is there but holds no such number (unreadable, junk, out of
        range): a confident number from junk would be worse than none."""
        text = self.read(path)
        value = None if text is None else kernel_int(text, maximum, minimum, base)
        if value is not None or (text is None and not os.path.lexists(path)):
            return value
        self.warnings.append('%s cannot be read as %s (%s): it is taken as unknown'
                             % (self.libvirt_path(path), what, 'unreadable' if text is None else shown(repr(text))))
        return None

    def read_count(self, path: str, maximum: int) -> Optional[int]:
        """A count a sysfs file holds (ASCII digits, at most maximum), or None (read_int)."""
        return self.read_int(path, maximum, what='a count')

    def link_name(self, path: str) -> Optional[str]:
        """The last component of a symlink's target, or None."""
        target = self.link_target(path)
        return None if target is None else os.path.basename(target)

    def link_target(self, path: str) -> Optional[str]:
        """A symlink's target as it is written, or None (not a link, or not there)."""
        try:
            return os.readlink(path)
        except OSError:
            return None

    def listdir(self, path: str) -> List[str]:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def resolved(self, path: str) -> str:
        """os.path.realpath(path), remembering each path it resolved for the rest of the read.

        Listing thousands of devices resolves thousands of links into the same few directory
        trees: realpath looks at every component of every path again (one lstat each), this
        looks at each new component once (one readlink). Components are resolved left to right
        as realpath does ('..' after a link goes up from where the link leads). Links that loop,
        or nest too deep, are left to os.path.realpath.
        """
        absolute = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
        try:
            return self._resolve(absolute, 0)
        except _LinkLoop:
            return os.path.realpath(path)

    def _resolve(self, path: str, links: int) -> str:
        known = self._resolved.get(path)
        if known is not None:
            return known
        parent, name = os.path.split(path)
        if parent == path:  # the root directory
            return path
        directory = self._resolve(parent, links)
        if name in ('', '.'):
            return directory
        if name == '..':
            return os.path.dirname(directory)
        candidate = os.path.join(directory, name)
        try:
            target = os.readlink(candidate)
        except OSError:  # not a link (or not there): as realpath, the path as it is
            result = candidate
        else:
            if links >= _MAX_LINKS:
                raise _LinkLoop()
            result = self._resolve(_joined(directory, target), links + 1)
        self._resolved[path] = result
        return result

    def libvirt_path(self, real_path: str) -> str:
        """The /sys/... path libvirt reports for a device directory under the root."""
        if real_path.startswith(self.root + os.sep):
            return '/sys/' + real_path[len(self.root) + 1:]
        relative = os.path.relpath(real_path, self.root)
        return '/sys' if relative == '.' else '/sys/' + relative

    def real_path(self, libvirt_path: Optional[str]) -> Optional[str]:
        """Where libvirt's /sys/... path of a device lives under this root, or None."""
        if not libvirt_path or not libvirt_path.startswith('/sys/'):
            return None
        path = os.path.join(self.root, libvirt_path[len('/sys/'):])
        return path if os.path.isdir(path) else None
