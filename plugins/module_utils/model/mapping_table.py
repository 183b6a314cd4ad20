# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: a device mapping table read and checked (model.mappings has the table's format and drift).
No I/O happens here.

host_entries() checks the whole table and returns one host's entries, each an ``Entry``: a device at an
address (PCI, USB) with the properties it must have, or the mdevs of a type (on a parent).
"""

import re
from collections.abc import Mapping
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, described, shown
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev_pool import parent_node
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    USB_BUS_DEVICE_RE,
    USB_ID_RE,
    normalize_hex_id,
    parse_pci_address,
    pci_address,
)

# The properties an entry may require, in the order drift is reported; the keys of a
# device record (facts or reader) they are compared with are in model.mappings._found().
HEX_ID_PROPERTIES = ('vendor_id', 'product_id', 'subsystem_vendor_id', 'subsystem_id')
PROPERTIES = HEX_ID_PROPERTIES + ('iommu_group', 'driver')
# Which properties apply to which kind of device (the kind follows from the address).
KIND_PROPERTIES = {
    'pci': PROPERTIES,
    'usb': ('vendor_id', 'product_id'),
}
# Every entry names the card it expects, not only a slot: a card moved or swapped is drift.
REQUIRED_PROPERTIES = ('vendor_id', 'product_id')
# An entry naming the mdevs of a type (on a parent) rather than a device's address.
MDEV_KEYS = ('mdev_type', 'parent')
# Keys of an entry (and, as defaults for every host, of a mapping).
ENTRY_KEYS = ('address',) + PROPERTIES + MDEV_KEYS
MAPPING_KEYS = ('description', 'hosts') + ENTRY_KEYS

_HEX_ID_RE = re.compile(r'^0x[0-9a-f]{4}$')

Names = Union[None, str, Sequence[str]]


class MappingError(HostdevError):
    """A mapping table (or a request of it) that cannot be used; the message lists every problem."""


class Entry(NamedTuple):
    """One host's entry of one mapping, checked and normalised."""
    mapping: str
    host: str
    kind: str          # 'pci', 'usb' or 'mdev'
    address: str       # canonical: 0000:41:00.0, 046d:c31c or 1.3; an mdev entry's type id
    expected: Dict[str, Any]   # property -> normalised value, in PROPERTIES order
    parent: Optional[str] = None   # an mdev entry's parent (node device name), None: any


# -- reading the table ---------------------------------------------------------

def _address(value: Any) -> Optional[Tuple[str, str]]:
    """(kind, canonical address) of a PCI address, USB vendor:product or bus.device; None otherwise."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    pci = parse_pci_address(text)
    if pci is not None:
        return 'pci', pci_address(*pci)
    match = USB_ID_RE.match(text)
    if match:
        return 'usb', '%s:%s' % (match.group('vendor').lower(), match.group('product').lower())
    match = USB_BUS_DEVICE_RE.match(text)
    if match:
        return 'usb', '%d.%d' % (int(match.group('bus')), int(match.group('device')))
    return None


ADDRESS_FORMS = 'a PCI address (0000:41:00.0), a USB vendor:product (046d:c31c) or a USB bus.device (1.3)'


def _address_problem(entry: Mapping[str, Any]) -> str:
    """Why an entry's address (its own or its mapping's default) is none of the three forms."""
    if 'address' not in entry:
        return 'address is missing: give the device\'s address, as %s' % ADDRESS_FORMS
    value = entry['address']
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ('address is %s, not %s: quote it (YAML reads an unquoted 1.3 as a number)'
                % (described(value), ADDRESS_FORMS))
    if not isinstance(value, str):
        return 'address is %s, not %s' % (described(value), ADDRESS_FORMS)
    return 'address %s is not %s' % (shown(value), ADDRESS_FORMS)


def _hex_id(value: Any) -> Optional[str]:
    """'10de', '0x10DE' -> '0x10de'. Numbers are refused: YAML reads an unquoted 8086 as decimal."""
    if not isinstance(value, str):
        return None
    normal = normalize_hex_id(value)
    return normal if normal is not None and _HEX_ID_RE.match(normal) else None


def _iommu_group(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and re.match(r'^[0-9]+$', value.strip()):
        return int(value.strip())
    return None


def _driver(value: Any) -> Optional[str]:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _normalised(prop: str, value: Any) -> Tuple[Any, Optional[str]]:
    """(normalised value, problem) of one property as the table gives it."""
    if prop in HEX_ID_PROPERTIES:
        normal = _hex_id(value)
        if normal is None:
            if isinstance(value, int) and not isinstance(value, bool):
                return None, ('%s is the number %d, not an id: quote it (YAML reads 8086 as decimal, 0x8086 as 32902)'
                              % (prop, value))
            return None, '%s %s is not a 16-bit hexadecimal id' % (prop, shown(value))
        return normal, None
    if prop == 'iommu_group':
        group = _iommu_group(value)
        return group, None if group is not None else 'iommu_group %s is not a group number' % shown(value)
    driver = _driver(value)
    return driver, None if driver is not None else 'driver %s is not a driver name' % shown(value)


def _unknown_keys(values: Mapping[Any, Any], known: Sequence[str], where: str) -> List[str]:
    return ['%s: unknown property %s (known: %s)' % (where, shown(key), ', '.join(known))
            for key in sorted(values, key=str) if key not in known]


def _entry(mapping: str, host: str, defaults: Dict[str, Any], values: Any) -> Tuple[Optional[Entry], List[str]]:
    """The checked entry of host in mapping (mapping-level values first, the host's win)."""
    where = 'mapping %s, host %s' % (shown(mapping), shown(host))
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        return None, ['%s: the entry must be a dict of properties, not %s' % (where, described(values))]
    problems = _unknown_keys(values, ENTRY_KEYS, where)
    merged = dict(defaults)
    merged.update((key, value) for key, value in values.items() if key in ENTRY_KEYS)
    if any(key in merged for key in MDEV_KEYS):
        return _mdev_entry(mapping, host, where, merged, problems)
    located = _address(merged.get('address'))
    if located is None:
        problems.append('%s: %s' % (where, _address_problem(merged)))
    kind, address = located or (None, '')
    if kind == 'usb' and ':' in address:
        # A USB vendor:product address names the ids itself.
        vendor, product = address.split(':')
        merged.setdefault('vendor_id', vendor)
        merged.setdefault('product_id', product)
    expected: Dict[str, Any] = {}
    for prop in PROPERTIES:
        if prop not in merged:
            if prop in REQUIRED_PROPERTIES:
                problems.append('%s: %s is required' % (where, prop))
            continue
        if kind is not None and prop not in KIND_PROPERTIES[kind]:
            problems.append('%s: %s does not apply to the USB device at %s' % (where, prop, address))
            continue
        value, problem = _normalised(prop, merged[prop])
        if problem:
            problems.append('%s: %s' % (where, problem))
        expected[prop] = value
    if kind == 'usb' and ':' in address and not problems:
        if '%s:%s' % (expected['vendor_id'][2:], expected['product_id'][2:]) != address:
            problems.append('%s: vendor_id and product_id contradict the address %s' % (where, address))
    if problems or kind is None:
        return None, problems
    return Entry(mapping, host, kind, address, expected), problems


def _mdev_entry(mapping: str, host: str, where: str, merged: Dict[str, Any],
                problems: List[str]) -> Tuple[Optional[Entry], List[str]]:
    """The checked entry naming the mdevs of a type (on a parent): no address, no device property."""
    problems = problems + ['%s: %s does not apply to an entry with mdev_type (it names mdevs of a type, not one '
                           'device)' % (where, key) for key in ENTRY_KEYS if key in merged and key not in MDEV_KEYS]
    mdev_type, parent = merged.get('mdev_type'), merged.get('parent')
    for key, value, what in (('mdev_type', mdev_type, 'an mdev type id such as nvidia-35'),
                             ('parent', parent, 'the parent\'s node device name or PCI address')):
        if (key == 'mdev_type' or value is not None) and not (isinstance(value, str) and value.strip()):
            problems.append('%s: %s must be %s, not %s' % (where, key, what, described(value)))
    if problems or not isinstance(mdev_type, str):
        return None, problems
    return Entry(mapping, host, 'mdev', mdev_type.strip(), {}, parent_node(parent) if parent else None), []


def _selected(mappings: Mapping[str, Any], names: Names) -> List[str]:
    """The mapping names asked for (all when names is None), each checked to exist."""
    if names is None:
        return sorted(mappings)
    wanted = [names] if isinstance(names, str) else list(names) if isinstance(names, (list, tuple)) else None
    if not wanted or not all(isinstance(name, str) and name for name in wanted):
        wrong = names if not wanted else [name for name in wanted if not (isinstance(name, str) and name)][0]
        raise MappingError('mapping names must be a name or a list of names, not %s%s'
                           % ('a list holding ' if wanted else '', 'an empty list' if wanted == [] else described(wrong)))
    unknown = [name for name in wanted if name not in mappings]
    if unknown:
        raise MappingError('no device mapping named %s (mappings: %s)'
                           % (', '.join(shown(name) for name in unknown), ', '.join(sorted(mappings)) or 'none'))
    return sorted(set(wanted))


def host_entries(mappings: Any, host: str, names: Names = None) -> Tuple[List[Entry], List[str]]:
    """(the host's entries, the selected mapping names it is not in), every entry checked.

    mappings: the table (None counts as empty). names: a mapping name, a list of them, or
    None for every mapping. Every host's entry of the selected mappings is checked, not
    only this host's: a MappingError lists every problem in the table at once.
    """
    if mappings is None:
        mappings = {}
    if not isinstance(mappings, Mapping):
        raise MappingError('the device mappings must be a dict of mapping names, not %s' % described(mappings))
    selected = _selected(mappings, names)
    problems: List[str] = []
    entries: List[Entry] = []
    unmapped: List[str] = []
    for name in selected:
        mapping = mappings[name]
        if not isinstance(mapping, Mapping):
            problems.append('mapping %s must be a dict with hosts, not %s' % (shown(name), described(mapping)))
            continue
        problems += _unknown_keys(mapping, MAPPING_KEYS, 'mapping %s' % shown(name))
        hosts = mapping.get('hosts') or {}
        if not isinstance(hosts, Mapping):
            problems.append('mapping %s: hosts must be a dict of host names, not %s'
                            % (shown(name), described(hosts)))
            continue
        defaults = dict((key, value) for key, value in mapping.items() if key in ENTRY_KEYS)
        for entry_host in sorted(hosts, key=str):
            # A list of entries maps several devices on one host: a pool (domain_hostdev's pool.mapping).
            values = hosts[entry_host]
            for item in values if isinstance(values, list) else [values]:
                entry, entry_problems = _entry(name, str(entry_host), defaults, item)
                problems += entry_problems
                if entry is not None and entry.host == host:
                    entries.append(entry)
        if host not in [str(key) for key in hosts]:
            unmapped.append(name)
    if problems:
        raise MappingError('bad device mappings: %s' % '; '.join(problems))
    return entries, unmapped
