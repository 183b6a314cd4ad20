# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: what the host itself runs on, from /proc and sysfs.

Serves both readers: the devices come from libvirt or sysfs, the uses always
from the host's own mounts, swaps and routes, attached to the listed device
records by their sysfs path.
"""

import os
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree


# What the host's own use is read from, beside sysfs: without one of them, what the host runs on is
# unknown (host_use_unknown), never "nothing". /proc/swaps is not among them: a kernel without swap
# support has none, and its mounts still say where the root disk is.
MOUNTS = 'proc/mounts'
ROUTE_TABLES = ('proc/net/route', 'proc/net/ipv6_route')


def read_host_usage(tree: SysfsTree) -> Dict[str, List[str]]:
    """What the host itself runs on: {real device directory: [uses]}.

    Disks holding a mounted filesystem or active swap (a partition counts for
    its disk, a device-mapper or md device for the disks below it), and the
    network interfaces carrying a default route (a bridge, bond or VLAN
    counts for the interfaces below it). An unreadable file gives no uses:
    attach_host_usage says which of them a read lacked.
    """
    return _read_host_usage(tree)[0]


def _read_host_usage(tree: SysfsTree) -> Tuple[Dict[str, List[str]], List[str]]:
    """(read_host_usage's answer, the host files it could not read, MOUNTS or the route tables)."""
    usage: Dict[str, List[str]] = {}
    unknown: List[str] = []

    def add(path, use):
        uses = usage.setdefault(path, [])
        if use not in uses:
            uses.append(use)

    mounts = tree.read(tree.host_file(MOUNTS))
    if mounts is None:
        unknown.append(tree.host_file(MOUNTS))
    for line in (mounts or '').splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].startswith('/dev/'):
            for disk in _disks_below(tree, fields[0]):
                add(disk, 'mounted at %s' % fields[1].replace('\\040', ' '))
    for line in (tree.read(tree.host_file('proc/swaps')) or '').splitlines()[1:]:
        fields = line.split()
        if fields and fields[0].startswith('/dev/'):
            for disk in _disks_below(tree, fields[0]):
                add(disk, 'swap')
    tables = [tree.read(tree.host_file(table)) for table in ROUTE_TABLES]
    if all(text is None for text in tables):
        unknown.append(' or '.join(tree.host_file(table) for table in ROUTE_TABLES))
    for interface in _default_route_interfaces(*tables):
        for lower in _interfaces_below(tree, interface):
            add(lower, 'default route' if lower.endswith('/' + interface) else
                'default route (through %s)' % interface)
    return usage, unknown


def attach_host_usage(records: List[Dict[str, Any]], tree: SysfsTree) -> List[str]:
    """Mark the devices the host itself runs on (record['host_use']); return the host files that
    say so and could not be read (empty: the host's use is known), with a warning in tree.warnings.

    Each use (a mounted disk, a default-route interface) goes to the listed
    device whose path is its own or its nearest ancestor's, so it is not lost
    when libvirt lists no storage devices (no udev): the SCSI disk above gets it.
    """
    usage, unknown = _read_host_usage(tree)
    by_path = dict((record['path'], record) for record in records if record.get('path'))
    for real, uses in sorted(usage.items()):
        path = tree.libvirt_path(real)
        while path not in by_path and path.count('/') > 2:
            path = os.path.dirname(path)
        record = by_path.get(path)
        if record is not None:
            held = record.setdefault('host_use', [])
            held.extend(use for use in uses if use not in held)
    if unknown:
        tree.warnings.append('what the host itself runs on is unknown: %s cannot be read, so no device is '
                             'known to be free of it (blocker host_use_unknown)' % ' and '.join(unknown))
    return unknown


def _block_dir(tree, device):
    """The sysfs directory of a /dev block device node, or None."""
    name = os.path.basename(device)
    if device.startswith('/dev/mapper/'):
        for entry in tree.listdir(tree.path('class', 'block')):
            if tree.read(tree.path('class', 'block', entry, 'dm', 'name')) == name:
                name = entry
                break
    path = tree.path('class', 'block', name)
    return os.path.realpath(path) if os.path.exists(path) else None


def _disks_below(tree, device):
    """Real directories of the whole disks a block device node lives on."""
    start = _block_dir(tree, device)
    disks, queue, seen = [], [start] if start else [], set()
    while queue:
        current = queue.pop()
        if current in seen:
            continue
        seen.add(current)
        if os.path.exists(os.path.join(current, 'partition')):
            queue.append(os.path.dirname(current))
            continue
        slaves = tree.listdir(os.path.join(current, 'slaves'))
        if slaves:
            queue.extend(os.path.realpath(os.path.join(current, 'slaves', slave)) for slave in slaves)
        elif current not in disks:
            disks.append(current)
    return disks


def _default_route_interfaces(ipv4: Optional[str], ipv6: Optional[str]) -> List[str]:
    """The interfaces of the default routes in the texts of proc/net/route and proc/net/ipv6_route."""
    names: List[str] = []
    for line in (ipv4 or '').splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == '00000000' and fields[0] not in names:
            names.append(fields[0])
    for line in (ipv6 or '').splitlines():
        fields = line.split()
        if len(fields) == 10 and fields[0] == '0' * 32 and fields[1] == '00' and \
                fields[9] != 'lo' and fields[9] not in names:
            names.append(fields[9])
    return names


def _interfaces_below(tree, interface):
    """Real directories of an interface and of the interfaces below it (bridge ports, bond slaves)."""
    start = tree.path('class', 'net', interface)
    found, queue = [], [start] if os.path.exists(start) else []
    while queue:
        current = os.path.realpath(queue.pop())
        if current in found:
            continue
        found.append(current)
        queue.extend(os.path.join(current, entry) for entry in tree.listdir(current)
                     if entry.startswith('lower_'))
    return found
