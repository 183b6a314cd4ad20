# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: device mappings and their drift. No I/O happens here.

A *mapping table* (the ``hostdev_mappings`` inventory variable) gives a device a
fleet-wide name (``gpu-l40s``) and, per host, where the device is (``address``) and
the properties it must have there, in the spirit of Proxmox VE's resource mappings::

    {'gpu-l40s': {'description': '...',
                  'vendor_id': '10de', 'product_id': '26b9',     # defaults of every host
                  'hosts': {'hv1': {'address': '0000:41:00.0', 'iommu_group': 12},
                            'hv2': {'address': '0000:c1:00.0', 'iommu_group': 40}}}}

``address`` is a PCI address, a USB vendor:product or a USB bus.device. *Drift* is a
difference between an entry and the host's devices, one dict per property:
``{host, mapping, property, expected, found}``; no device at the address is drift of
``address``. A host without an entry is *not mapped*, which is not drift. The table is
checked before any device is looked at: every problem is reported at once
(``MappingError``). Devices are looked up through ``HostModel``.

Compact facts leave devices out (bridges, USB hubs: facts_format.in_compact_facts): a mapped
device they do not list is *unknown*, neither drift nor a match (``MappingUnknown``); the
callers pass what the facts list (``listed``, facts_format.compact_listing).
"""

import re
from collections.abc import Mapping
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple, Union

from ansible_collections.virt.hostdev.plugins.module_utils.errors import (
    DeviceReferenceError,
    HostdevError,
    described,
    shown,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import CompactListing
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import model_of_facts
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    USB_BUS_DEVICE_RE,
    USB_ID_RE,
    Record,
    normalize_hex_id,
    parse_pci_address,
    pci_address,
)

# The properties an entry may require, in the order drift is reported; the keys of a
# device record (facts or reader) they are compared with are in _found().
HEX_ID_PROPERTIES = ('vendor_id', 'product_id', 'subsystem_vendor_id', 'subsystem_id')
PROPERTIES = HEX_ID_PROPERTIES + ('iommu_group', 'driver')
# Which properties apply to which kind of device (the kind follows from the address).
KIND_PROPERTIES = {
    'pci': PROPERTIES,
    'usb': ('vendor_id', 'product_id'),
}
# Every entry names the card it expects, not only a slot: a card moved or swapped is drift.
REQUIRED_PROPERTIES = ('vendor_id', 'product_id')
# Keys of an entry (and, as defaults for every host, of a mapping).
ENTRY_KEYS = ('address',) + PROPERTIES
MAPPING_KEYS = ('description', 'hosts') + ENTRY_KEYS

_HEX_ID_RE = re.compile(r'^0x[0-9a-f]{4}$')

Drift = Dict[str, Any]
Names = Union[None, str, Sequence[str]]
# What compact facts list (facts_format.compact_listing), or None when the facts list every device.
Listed = Optional[CompactListing]


class MappingError(HostdevError):
    """A mapping table (or a request of it) that cannot be used; the message lists every problem."""


class MappingRefused(HostdevError):
    """A mapping that cannot be used on this host now: the host is not mapped, drift, or unknown."""


class MappingUnknown(HostdevError):
    """Mapped devices the facts do not list (compact facts): whether they drifted is unknown."""


class Entry(NamedTuple):
    """One host's entry of one mapping, checked and normalised."""
    mapping: str
    host: str
    kind: str          # 'pci' or 'usb'
    address: str       # canonical: 0000:41:00.0, 046d:c31c or 1.3
    expected: Dict[str, Any]   # property -> normalised value, in PROPERTIES order


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


# -- checking a host -------------------------------------------------------------

def checked_host(host: Any) -> str:
    """The host's inventory name as a filter is given it: a non-empty string (inventory_hostname)."""
    if isinstance(host, str) and host.strip():
        return host
    raise MappingError('the host must be its inventory name (a string such as inventory_hostname), not %s'
                       % described(host))


def checked_ignore(ignore: Any) -> Tuple[str, ...]:
    """The properties not to compare: a property name or a list of them, each among PROPERTIES.

    A string is one property (never its characters); an unknown name is refused, since a typo
    would compare what the caller meant to leave out.
    """
    if ignore is None:
        return ()
    items = [ignore] if isinstance(ignore, str) else list(ignore) if isinstance(ignore, (list, tuple)) else None
    if items is None:
        raise MappingError('ignore must be a property name or a list of them, not %s' % described(ignore))
    unknown = [item for item in items if item not in PROPERTIES]
    if unknown:
        raise MappingError('ignore names %s, not a property a mapping compares (%s)'
                           % (', '.join(shown(item) if isinstance(item, str) else described(item) for item in unknown),
                              ', '.join(PROPERTIES)))
    return tuple(items)


def _locate(model: HostModel, entry: Entry) -> Tuple[Optional[str], Optional[str]]:
    """(device name, None) of the entry's device; (None, what is there instead) when none or several."""
    try:
        return model.resolve_reference(entry.address), None
    except DeviceReferenceError:
        pass
    if ':' in entry.address and entry.kind == 'usb':
        vendor, product = entry.address.split(':')
        several = model.usb_devices_with_ids(normalize_hex_id(vendor), normalize_hex_id(product))
        if several:
            return None, ', '.join(several)
    return None, None


def _unlisted(model: HostModel, entry: Entry, listed: Listed) -> bool:
    """Whether the facts leave the entry's device out, so that nothing about it is known.

    Compact facts list every PCI device but bridges, and name the bridges in iommu_groups: with
    the groups, a PCI address they do not name has no device. Without them, or for a USB device
    (hubs are left out), a device they do not list may be there.
    """
    if listed is None:
        return False
    name, instead = _locate(model, entry)
    if name is not None:
        return name not in listed.devices
    if instead is not None:
        return False
    return entry.kind == 'usb' or not listed.every_pci


def _found(model: HostModel, name: str, record: Record, prop: str) -> Any:
    """The value of prop on the host's device, normalised as the table's values are."""
    if prop == 'iommu_group':
        return model.iommu_group(name)
    if prop == 'driver':
        return record.get('driver')
    value = (record.get('pci' if record.get('type') == 'pci' else 'usb') or {}).get(prop)
    return normalize_hex_id(value) if value is not None else None


def _drift(entry: Entry, prop: str, expected: Any, found: Any) -> Drift:
    return {'host': entry.host, 'mapping': entry.mapping, 'property': prop, 'expected': expected, 'found': found}


def entry_drift(model: HostModel, entry: Entry, ignore: Iterable[str] = ()) -> Tuple[Optional[str], List[Drift]]:
    """(the device's node device name or None, the entry's drift on this host).

    ignore: properties not to compare (a role about to change the driver ignores 'driver').
    """
    name, instead = _locate(model, entry)
    if name is None:
        return None, [_drift(entry, 'address', entry.address, instead)]
    record = model.device(name)
    drift: List[Drift] = []
    for prop, expected in entry.expected.items():
        found = _found(model, name, record, prop)
        if prop not in ignore and found != expected:
            drift.append(_drift(entry, prop, expected, found))
    return name, drift


def unknown_text(entry: Entry) -> str:
    """What a refusal says of an entry whose device the facts leave out."""
    return ('mapping %s on %s: compact facts do not list the device at %s (they leave out PCI bridges, USB hubs '
            'and devices that are not passthrough candidates), so whether it drifted is unknown: gather the facts '
            'with virt.hostdev.hostdev_facts and facts: full' % (entry.mapping, entry.host, entry.address))


def mapping_drift(model: HostModel, mappings: Any, host: str, names: Names = None,
                  ignore: Any = (), listed: Listed = None) -> List[Drift]:
    """The drift of host's devices from its entries in the (selected) mappings, sorted by mapping.

    A mapping without an entry for host gives no drift (see host_entries for "not mapped").
    listed: the devices the facts list (None: every device). Raises MappingUnknown for entries
    whose device the facts leave out: neither drift nor a match.
    """
    host = checked_host(host)
    ignored = checked_ignore(ignore)
    entries, _unmapped = host_entries(mappings, host, names)
    unknown = [entry for entry in entries if _unlisted(model, entry, listed)]
    if unknown:
        raise MappingUnknown('; '.join(unknown_text(entry) for entry in unknown))
    return [item for entry in entries for item in entry_drift(model, entry, ignored)[1]]


def drift_text(drift: Drift) -> str:
    """One drift entry as a refusal message says it."""
    where = 'mapping %s on %s' % (drift['mapping'], drift['host'])
    if drift['property'] == 'address':
        if drift['found'] is None:
            return '%s: no device at %s' % (where, drift['expected'])
        return '%s: %s matches several devices (%s)' % (where, drift['expected'], drift['found'])
    found = 'none' if drift['found'] is None else drift['found']
    return '%s: %s expected %s, found %s' % (where, drift['property'], drift['expected'], found)


def resolve_mappings(model: HostModel, mappings: Any, names: Names, host: str,
                     ignore: Any = (), listed: Listed = None) -> List[str]:
    """Sorted node device names of the named mappings on host.

    Raises MappingRefused, naming every problem at once, when host is not in a mapping, a device
    drifted (result key ``drift``: the drift entries) or the facts do not list it (listed, as for
    mapping_drift); MappingError for a bad table or a bad request.
    """
    if names is None:
        raise MappingError('name the mappings to resolve')
    host = checked_host(host)
    ignored = checked_ignore(ignore)
    entries, unmapped = host_entries(mappings, host, names)
    problems = ['host %s is not in mapping %s (mapped hosts: %s)'
                % (host, name, ', '.join(sorted(str(key) for key in mappings[name].get('hosts') or {})) or 'none')
                for name in unmapped]
    devices: Set[str] = set()
    drift: List[Drift] = []
    for entry in entries:
        if _unlisted(model, entry, listed):
            problems.append(unknown_text(entry))
            continue
        name, entry_problems = entry_drift(model, entry, ignored)
        drift += entry_problems
        if name is not None:
            devices.add(name)
    problems += [drift_text(item) for item in drift]
    if problems:
        raise MappingRefused('refusing device mappings on %s: %s'
                             % (host, '; '.join(problems)), drift=drift, unmapped=unmapped)
    return sorted(devices)


def facts_model(facts: Any) -> HostModel:
    """The HostModel of a host's facts (model_of_facts), failing with MappingError: what the mapping filters read."""
    return model_of_facts(facts, MappingError)
