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
from typing import List, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError

# Directories every sysfs has; a root without them describes no host at all.
SYSFS_LANDMARKS = ('devices', 'bus', 'class')


class SysfsTree:
    """One host's sysfs root; warnings collects what its readers could not read."""

    def __init__(self, root: str = '/sys') -> None:
        self.root = os.path.abspath(root)
        self.host_root = os.path.dirname(self.root)
        self.warnings: List[str] = []

    def require_sysfs(self) -> None:
        """Fail, naming the root, unless it is a sysfs tree: a wrong root must not read as an empty host."""
        if not os.path.exists(self.root):
            raise HostdevError('sysfs_root %s does not exist' % self.root)
        if not os.path.isdir(self.root):
            raise HostdevError('sysfs_root %s is not a directory' % self.root)
        missing = [name for name in SYSFS_LANDMARKS if not os.path.isdir(self.path(name))]
        if missing:
            raise HostdevError('sysfs_root %s is not a sysfs tree: it has no %s director%s (a sysfs tree has %s)'
                               % (self.root, ', '.join(name + '/' for name in missing),
                                  'y' if len(missing) == 1 else 'ies', ', '.join(SYSFS_LANDMARKS)))

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def host_file(self, relative: str) -> str:
        """A path outside sysfs (proc/..., run/..., usr/...) of the same host."""
        return os.path.join(self.host_root, relative)

    def read(self, path: str) -> Optional[str]:
        """A file's stripped text; None when it cannot be read."""
        try:
            with open(path) as handle:
                return handle.read().strip()
        except (IOError, OSError, UnicodeDecodeError):
            return None

    def read_int(self, path: str, base: int = 10) -> Optional[int]:
        text = self.read(path)
        if text is None:
            return None
        try:
            return int(text, base)
        except ValueError:
            return None

    def link_name(self, path: str) -> Optional[str]:
        """The last component of a symlink's target, or None."""
        try:
            return os.path.basename(os.readlink(path))
        except OSError:
            return None

    def listdir(self, path: str) -> List[str]:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def libvirt_path(self, real_path: str) -> str:
        """The /sys/... path libvirt reports for a device directory under the root."""
        relative = os.path.relpath(real_path, self.root)
        return '/sys' if relative == '.' else '/sys/' + relative

    def real_path(self, libvirt_path: Optional[str]) -> Optional[str]:
        """Where libvirt's /sys/... path of a device lives under this root, or None."""
        if not libvirt_path or not libvirt_path.startswith('/sys/'):
            return None
        path = os.path.join(self.root, libvirt_path[len('/sys/'):])
        return path if os.path.isdir(path) else None
