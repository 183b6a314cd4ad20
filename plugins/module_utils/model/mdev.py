# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: mediated device (mdev) questions of device records, asked by every room. No I/O happens here.

- the mdev types a parent offers, whatever kind of parent it is (``parent_types``): a PCI parent lists
  them under ``pci.mdev_types``, any other parent (mtty, css, ap_matrix) under ``mdev_parent.types``;
- the mdevs of a parent (``mdevs_of``);
- the UUIDs a named set of mdevs gets (``derived_uuids``): uuid5 of a fixed namespace and
  '<name>/<index>', so a rerun with the same name finds the same mdevs on any host.
"""

import uuid
from typing import Any, Dict, Iterable, List, Optional

# Fixed for ever: changing it would orphan every mdev created by name before.
MDEV_NAMESPACE = uuid.UUID('5169694d-f11e-4197-a870-51f6eccb26cd')


def derived_uuids(name: str, count: int) -> List[str]:
    """The UUIDs of the mdevs named `name`, index 0 to count-1 (lower case, dashed)."""
    return [str(uuid.uuid5(MDEV_NAMESPACE, '%s/%d' % (name, index))) for index in range(count)]


def parent_types(record: Dict[str, Any]) -> Optional[List[Dict[str, Any]]]:
    """The mdev types a record offers (records.MDEV_TYPE_KEYS each), None when it is no mdev parent."""
    if record.get('type') == 'pci':
        return (record.get('pci') or {}).get('mdev_types')
    if record.get('type') == 'mdev_types':
        return (record.get('mdev_parent') or {}).get('types')
    return None


def parent_address(record: Dict[str, Any]) -> Optional[str]:
    """The sysfs name an mdev calls its parent by (mdev.parent_address): a PCI parent's address, any
    other parent's last path component (mtty_mtty's path /sys/devices/virtual/mtty/mtty: mtty)."""
    if record.get('type') == 'pci':
        return (record.get('pci') or {}).get('address')
    path = record.get('path')
    return path.rstrip('/').rsplit('/', 1)[-1] if isinstance(path, str) and path.strip('/') else None


def mdevs_of(records: Iterable[Dict[str, Any]], parent: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The mdev records (active or only defined) whose parent is `parent`, by node device name or
    by parent address (a defined mdev whose parent libvirt does not list has only its address)."""
    address = parent_address(parent)
    return [record for record in records if record.get('type') == 'mdev' and (
        record.get('parent') == parent.get('name')
        or (address is not None and (record.get('mdev') or {}).get('parent_address') == address))]
