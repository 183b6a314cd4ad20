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

``address`` is a PCI address, a USB vendor:product or a USB bus.device. An entry may give
``mdev_type`` (and optionally ``parent``) instead: it names the mediated devices of that type on the
host, a pool (model.mdev_pool), not one device. *Drift* is a difference between an entry and the
host's devices, one dict per property: ``{host, mapping, property, expected, found}``; no device at
the address is drift of ``address``; an mdev entry drifts when its ``parent`` is gone, when no parent
offers its ``mdev_type`` and none of it is defined, and when none of it is free (``free_mdevs``).
A host without an entry is *not mapped*, which is not drift. The table is checked before any device
is looked at: every problem is reported at once (``MappingError``). Devices are looked up through ``HostModel``.

Compact facts leave devices out (bridges, USB hubs: facts_format.in_compact_facts): a mapped
device they do not list is *unknown*, neither drift nor a match (``MappingUnknown``); the
callers pass what the facts list (``listed``, facts_format.compact_listing).
"""

from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import (
    DeviceReferenceError,
    HostdevError,
    described,
    shown,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import CompactListing
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import model_of_facts
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.mapping_table import (  # noqa: F401 (the table's API)
    PROPERTIES,
    Entry,
    MappingError,
    Names,
    host_entries,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import state_of
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev_pool import mdev_pool
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import Record, normalize_hex_id
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import blockers


class MappingRefused(HostdevError):
    """A mapping that cannot be used on this host now: the host is not mapped, drift, or unknown."""


class MappingUnknown(HostdevError):
    """Mapped devices the facts do not list (compact facts): whether they drifted is unknown."""


Drift = Dict[str, Any]
# What compact facts list (facts_format.compact_listing), or None when the facts list every device.
Listed = Optional[CompactListing]


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
    if listed is None or entry.kind == 'mdev':  # compact facts keep every mdev and parent
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


def mdev_drift(model: HostModel, entry: Entry, free: bool = True) -> Tuple[List[str], List[Drift]]:
    """(the mdevs of an mdev entry's type on the host, its drift): its parent gone, its type neither offered nor
    defined, and with free, no mdev of it free (active and refused by nothing, held by no domain above all)."""
    pool = mdev_pool(model, entry.address, entry.parent)
    if not pool.parent_found:
        return [], [_drift(entry, 'parent', entry.parent, None)]
    if pool.missing():
        return [], [_drift(entry, 'mdev_type', entry.address, None)]
    # An mdev of unknown state may be free: the pool takes it, with a warning naming it (assigning.pools.choose).
    if free and not any(state_of(model.device(name)) is not False and not blockers(model, name)
                        for name in pool.members):
        return pool.members, [_drift(entry, 'free_mdevs', 'at least 1', 0)]
    return pool.members, []


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
    return [item for entry in entries
            for item in (mdev_drift(model, entry) if entry.kind == 'mdev' else entry_drift(model, entry, ignored))[1]]


def drift_text(drift: Drift) -> str:
    """One drift entry as a refusal message says it."""
    where = 'mapping %s on %s' % (drift['mapping'], drift['host'])
    if drift['property'] == 'address':
        if drift['found'] is None:
            return '%s: no device at %s' % (where, drift['expected'])
        return '%s: %s matches several devices (%s)' % (where, drift['expected'], drift['found'])
    if drift['property'] in ('parent', 'mdev_type') and drift['found'] is None:
        return '%s: %s' % (where, 'no mdev parent %s' % drift['expected'] if drift['property'] == 'parent' else
                           'no parent offers mdev type %s and none of it is defined' % drift['expected'])
    if drift['property'] == 'free_mdevs':
        return '%s: no mdev of its type is free (active, held by no domain, refused by nothing)' % where
    found = 'none' if drift['found'] is None else drift['found']
    return '%s: %s expected %s, found %s' % (where, drift['property'], drift['expected'], found)


def resolve_mappings(model: HostModel, mappings: Any, names: Names, host: str,
                     ignore: Any = (), listed: Listed = None, pools: bool = False) -> List[str]:
    """Sorted node device names of the named mappings on host.

    An mdev entry (mdev_type) names a pool: with pools (domain_hostdev's pool.mapping) it resolves to every
    mdev of its type, free or not (the pool chooses), refused only when its parent or type is missing;
    without, it is refused, naming the pool option to use. Raises MappingRefused, naming every problem at once, when host is not in a mapping, a device
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
        if entry.kind == 'mdev':
            if not pools:
                problems.append('mapping %s on %s names the mdevs of type %s, a pool: ask for some with pool: '
                                '{mapping: %s, count: N} (hostdev_assign_pool)'
                                % (entry.mapping, host, entry.address, entry.mapping))
                continue
            members, entry_problems = mdev_drift(model, entry, free=False)
            drift += entry_problems
            devices.update(members)
            continue
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
