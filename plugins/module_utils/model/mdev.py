# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: mediated device (mdev) questions of device records, asked by every room. No I/O happens here.

- the mdev types a parent offers, whatever kind of parent it is (``parent_types``): a PCI parent lists
  them under ``pci.mdev_types``, any other parent (mtty, css, ap_matrix) under ``mdev_parent.types``;
- the mdevs of a parent (``mdevs_of``);
- what an mdev's record takes from its parent's (``link_mdevs``: its type's device API, the parent's
  sysfs name where the reader did not say it);
- the UUIDs a named set of mdevs gets (``derived_uuids``): uuid5 of a fixed namespace and
  '<name>/<index>', so a rerun with the same name finds the same mdevs on any host;
- an mdev's state (``state_of``): known true, known false, or unknown (None: the reader could not
  tell), the one rule every consumer of ``active``, ``persistent`` and ``autostart`` goes by.
"""

import uuid
from typing import Any, Dict, Iterable, List, Optional, Tuple

# What compact facts keep of each type a parent offers.
COMPACT_TYPE_KEYS = ('type', 'available_instances')

# Fixed for ever: changing it would orphan every mdev created by name before.
MDEV_NAMESPACE = uuid.UUID('5169694d-f11e-4197-a870-51f6eccb26cd')


def derived_uuids(name: str, count: int) -> List[str]:
    """The UUIDs of the mdevs named `name`, index 0 to count-1 (lower case, dashed)."""
    return [str(uuid.uuid5(MDEV_NAMESPACE, '%s/%d' % (name, index))) for index in range(count)]


# The state keys of an mdev record, each True, False or None (the reader could not tell).
STATE_KEYS = ('active', 'persistent', 'autostart')


def mdev_of(record: Dict[str, Any]) -> Dict[str, Any]:
    """An mdev record's mdev dict ({} for any other record)."""
    return (record.get('mdev') or {}) if record.get('type') == 'mdev' else {}


def state_of(record: Dict[str, Any], key: str = 'active') -> Optional[bool]:
    """An mdev's active, persistent or autostart: True or False when its reader knew, None when it could not
    tell. Unknown is neither: a caller that needs to know says so (a warning, a refusal), never guesses."""
    if key not in STATE_KEYS:
        raise ValueError('not an mdev state: %s' % key)
    value = mdev_of(record).get(key)
    return value if isinstance(value, bool) else None


def parent_types(record: Dict[str, Any]) -> Optional[List[Dict[str, Any]]]:
    """The mdev types a record offers (records.MDEV_TYPE_KEYS each), None when it is no mdev parent."""
    if record.get('type') == 'pci':
        return (record.get('pci') or {}).get('mdev_types')
    if record.get('type') == 'mdev_types':
        return (record.get('mdev_parent') or {}).get('types')
    return None


def compact_types(types: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """A parent's types as compact facts give them (COMPACT_TYPE_KEYS)."""
    return [dict((key, item.get(key)) for key in COMPACT_TYPE_KEYS) for item in types]


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


def link_mdevs(records: Iterable[Dict[str, Any]]) -> None:
    """Fill what an mdev's record takes from its parent's record in the same read: mdev.device_api
    from the parent's type (libvirt's mdev XML has none, nor has a defined mdev), and
    mdev.parent_address from the parent (libvirt's test driver drops parent_addr)."""
    records = list(records)
    by_name = dict((record.get('name'), record) for record in records)
    for record in records:
        values = record.get('mdev') if record.get('type') == 'mdev' else None
        parent = by_name.get(record.get('parent')) if values else None
        if values is None or parent is None:
            continue
        if values.get('parent_address') is None:
            values['parent_address'] = parent_address(parent)
        if values.get('device_api') is None:
            offered = [item for item in parent_types(parent) or () if item.get('type') == values.get('type')]
            values['device_api'] = offered[0].get('device_api') if offered else None


def unknown_active_text(record: Dict[str, Any]) -> str:
    """What a warning says of an mdev taken although its reader could not tell whether it exists now."""
    values = mdev_of(record)
    return ('mdev %s (%s, type %s): whether it exists on its parent %s now could not be read, so it is taken as '
            'asked; if it is only defined, a running guest cannot take it and a domain with it cannot start '
            '(start it with virt.hostdev.mdevs, or virsh nodedev-start)'
            % (record.get('name'), values.get('uuid'), values.get('type'), values.get('parent_address') or 'unknown'))


# -- the rules refusals.py applies to mdevs and their parents (each (code, device, message)) ---------

def inactive_problems(model: Any, names: List[str]) -> List[Tuple[str, str, str]]:
    """mdev_parent_gone and mdev_inactive: a defined mdev that does not exist now cannot go to a
    running guest, and a domain that names it cannot start."""
    problems = []
    for name in names:
        record = model.device(name)
        values = mdev_of(record)
        if state_of(record) is not False:  # unknown is not refused: see state_warnings
            continue
        where = values.get('parent_address') or 'unknown'
        if record.get('parent') not in model:
            problems.append(('mdev_parent_gone', name, 'mdev %s (%s) is defined on parent %s, which is not on this '
                             'host: it cannot be started until its parent is back' % (name, values.get('uuid'), where)))
        problems.append(('mdev_inactive', name, 'mdev %s (%s, type %s) is defined but not active (it does not exist '
                         'on its parent %s now): a running guest cannot take it and a domain with it cannot start; '
                         'start it first (virt.hostdev.mdevs, or virsh nodedev-start)'
                         % (name, values.get('uuid'), values.get('type'), where)))
    return problems


def parents_mdevs(model: Any, taken: List[str]) -> Dict[str, List[str]]:
    """{parent among taken: the sorted names of its mdevs, existing or defined}: what has_mdevs names."""
    found: Dict[str, List[str]] = {}
    records = None
    for name in taken:
        record = model.device(name)
        if parent_types(record) is None:
            continue
        records = records if records is not None else [model.device(other) for other in model.names()]
        children = sorted(child['name'] for child in mdevs_of(records, record))
        if children:
            found[name] = children
    return found


def parent_problems(model: Any, names: List[str], taken: List[str], noun: str) -> List[Tuple[str, str, str]]:
    """has_mdevs: the whole of a parent taken from the host (a guest, a vfio-pci reservation) takes
    its mdevs, defined or existing, from whatever holds them."""
    problems = []
    for name, children in sorted(parents_mdevs(model, taken).items()):
        held = ['%s held by domain %s' % (child, ', '.join(model.assigned_to(child)))
                for child in children if model.assigned_to(child)]
        problems.append(('has_mdevs', name, '%s%s has mdev%s %s: taking the whole device from its driver removes '
                         'them%s; remove them first (virt.hostdev.mdevs with state: absent)' % (
                             name, '' if name in names else ', which this %s takes from the host,' % noun,
                             '' if len(children) == 1 else 's', ', '.join(children),
                             ' (%s)' % '; '.join(held) if held else ', none held')))
    return problems
