# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the format of ansible_facts.hostdev, declared once: its modes, the keys of the facts and
of each device in each mode, which devices compact facts list, and how a device of the facts is read
back as a device record. No I/O happens here.

HostModel.facts() produces the facts from this declaration; model.facts.host_facts() is the one
way a module builds them from a read, and model.facts.model_of_facts() the one way facts become a
model again. tests/unit/plugins/module_utils/model/test_facts_schema.py checks this declaration
against what is produced, the facts doc fragment and hostdev_facts' RETURN.
"""

from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Set

from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import eligibility, is_pci_endpoint
from ansible_collections.virt.hostdev.plugins.module_utils.model.pci_classes import PCI_CLASS_BRIDGE
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    CAPABILITY_KEYS,
    Record,
    pci_address_of_name,
)

if TYPE_CHECKING:  # the model these functions read (for the type checker only: host_model imports this file)
    from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel

# -- the declaration -------------------------------------------------------------

# What the facts give: every device with every key, or a summary of the passthrough candidates.
FACTS_MODES = ('full', 'compact')

# The keys of ansible_facts.hostdev in each mode (model.host_facts.host_facts gives assignable).
FACTS_KEYS = {
    'full': ('source', 'iommu', 'devices', 'iommu_groups', 'eligible', 'assignable', 'domains'),
    'compact': ('source', 'iommu', 'devices', 'iommu_groups', 'assignable', 'domains'),
}
# The keys of iommu (the first four are there whatever the reader found), of an IOMMU group and of a domain.
IOMMU_KEYS = ('enabled', 'groups', 'kernel_args', 'interrupt_remapping', 'units', 'unsafe_interrupts',
              'acs_override', 'hint')
IOMMU_GROUP_KEYS = ('number', 'devices')
DOMAIN_KEYS = ('name', 'active', 'hostdevs')

# Full facts: the keys of each device, besides one sub-dict per capability it has, with the keys
# records.CAPABILITIES declares. assignable and blockers come with the blockers (host_facts).
FULL_DEVICE_KEYS = ('name', 'type', 'parent', 'path', 'driver', 'iommu_group', 'assigned_to', 'passthrough',
                    'host_use', 'children', 'assignable', 'blockers')

# Compact facts: the keys of each device, and of its capability sub-dict. Each passthrough
# candidate with its IOMMU group, driver, holders (assigned_to), blockers and the ids that name
# it; eligibility is that blockers lack not_eligible. The other keys are in the full facts only.
COMPACT_DEVICE_KEYS = ('name', 'type', 'driver', 'iommu_group', 'assigned_to', 'assignable', 'blockers')
COMPACT_CAPABILITY_KEYS = {
    'pci': ('class', 'vendor_id', 'product_id', 'subsystem_vendor_id', 'subsystem_id'),
    'usb': ('bus', 'device', 'vendor_id', 'product_id'),
    'scsi': ('host', 'bus', 'target', 'lun', 'type'),
}

# The keys of a device the query filters and tests read (plugin_utils.facts_query), as
# doc_fragments/hostdev_query.py lists them; only name is required.
QUERY_DEVICE_KEYS = ('name', 'type', 'parent', 'iommu_group', 'pci.class', 'pci.address', 'passthrough.reasons',
                     'driver', 'assigned_to', 'assignable')

# The class compact facts give a bridge they leave out (HostModel.of_facts).
BRIDGE_CLASS = '0x%02x0000' % PCI_CLASS_BRIDGE


def facts_mode(mode: str) -> str:
    if mode not in FACTS_MODES:
        raise ValueError('facts mode must be one of %s, not %r' % (', '.join(FACTS_MODES), mode))
    return mode


def in_compact_facts(record: Record, eligible: Optional[bool] = None) -> bool:
    """Whether compact facts list a device: eligible for passthrough (a candidate), or a PCI
    endpoint (a group member that keeps its group viable or not). Bridges and the rest are left out.

    eligible: the device's eligibility when it is known already (HostModel remembers it).
    """
    if eligible is None:
        eligible = eligibility(record)[0]
    return eligible or is_pci_endpoint(record)


class CompactListing(NamedTuple):
    """What compact facts say of which devices. devices: the names they list, with their properties.
    every_pci: whether they name every PCI device, the bridges in iommu_groups (the IOMMU on and the
    groups given), so that a PCI address they do not name has no device."""
    devices: Set[str]
    every_pci: bool


def compact_listing(facts: Any) -> Optional[CompactListing]:
    """What compact facts list; None for full facts, which list every device with every key.

    facts: ansible_facts.hostdev or its devices. Compact facts leave devices out (in_compact_facts): one
    they do not list may still be on the host, with properties they do not say. They are told apart by
    the keys only full facts give each device.
    """
    devices = facts.get('devices') if isinstance(facts, Mapping) else facts
    listed = [device for device in devices if isinstance(device, Mapping)] if isinstance(devices, list) else []
    full_only = set(FULL_DEVICE_KEYS) - set(COMPACT_DEVICE_KEYS)
    if not listed or any(full_only.intersection(device) for device in listed):
        return None
    groups = facts.get('iommu_groups') if isinstance(facts, Mapping) else None
    return CompactListing(set(str(device.get('name')) for device in listed),
                          isinstance(groups, list) and bool(groups))


def facts_eligible(device: Mapping[str, Any]) -> bool:
    """Whether a device of the facts is eligible for passthrough: its passthrough.eligible, or in
    compact facts (no passthrough key) its blockers lacking not_eligible."""
    passthrough = device.get('passthrough')
    if isinstance(passthrough, Mapping):
        return bool(passthrough.get('eligible'))
    blockers = device.get('blockers')
    return isinstance(blockers, list) and 'not_eligible' not in blockers


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def stated_group(record: Record) -> Optional[int]:
    """The iommu_group a record states itself (facts devices do; readers' records do not)."""
    group = record.get('iommu_group')
    return group if is_int(group) else None


def facts_record(device: Mapping[str, Any]) -> Record:
    """The device record of one device of the facts, for HostModel (a copy: the facts are not changed).

    Facts devices are device records (HostModel.device_facts made them). A PCI device whose pci
    sub-dict is missing or incomplete (compact facts) takes its top-level iommu_group (for a PCI
    device always its own group), the address its node device name gives, and a bridge class when
    passthrough.reasons says pci_bridge, so the model still counts it in its group and keeps bridges
    aside. Values of the wrong type (junk) are dropped rather than failing deep in the model.
    """
    record = dict(device)
    if not isinstance(record.get('parent'), str):
        record['parent'] = None
    for key in CAPABILITY_KEYS:
        if not isinstance(record.get(key), Mapping):
            record.pop(key, None)
    if record.get('type') == 'pci':
        pci = dict(record.get('pci') or {})
        if pci.get('iommu_group') is None and stated_group(record) is not None:
            pci['iommu_group'] = record['iommu_group']
        if pci.get('address') is None:
            pci['address'] = pci_address_of_name(record.get('name'))
        passthrough = record.get('passthrough')
        reasons = passthrough.get('reasons') if isinstance(passthrough, Mapping) else None
        if pci.get('class') is None and isinstance(reasons, list) and 'pci_bridge' in reasons:
            pci['class'] = BRIDGE_CLASS  # a bridge whose class was left out: it stays a bridge
        record['pci'] = pci
    return record


# What turns the IOMMU on: AMD's driver has no "on" option (amd_iommu=on only logs "Unknown option";
# the AMD IOMMU is on whenever the firmware describes it and nothing turns it off).
IOMMU_OFF_HINT = (
    'the IOMMU is off: enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware; on Intel add '
    'intel_iommu=on to the kernel command line (AMD needs no argument); remove intel_iommu=off, '
    'amd_iommu=off or iommu=off where the command line has them; then reboot')


def iommu_hint(iommu: Dict[str, Any]) -> Optional[str]:
    """What an operator should do about the host's IOMMU state, or None when it is fine."""
    if not iommu.get('enabled'):
        return IOMMU_OFF_HINT
    if iommu.get('acs_override'):
        return ('pcie_acs_override is set: the kernel reports IOMMU groups smaller than the '
                'hardware isolates, so devices that can reach each other may go to different guests')
    if iommu.get('unsafe_interrupts'):
        return ('vfio_iommu_type1.allow_unsafe_interrupts is on: a guest can forge interrupts '
                'without interrupt remapping')
    return None


# -- a model's facts, and a model of facts (HostModel's facts methods and HostModel.of_facts) ----

def device_facts(model: 'HostModel', name: str, blockers: Optional[Mapping[str, List[str]]] = None,
                 mode: str = 'full') -> Dict[str, Any]:
    """The facts of one device; with blockers (name: codes), also assignable and blockers.

    mode: 'full' (every key) or 'compact' (COMPACT_DEVICE_KEYS and COMPACT_CAPABILITY_KEYS).
    """
    record = model.device(name)
    if facts_mode(mode) == 'compact':
        facts = {
            'name': name,
            'type': record.get('type'),
            'driver': record.get('driver'),
            'iommu_group': model.iommu_group(name),
            'assigned_to': model.assigned_to(name),
        }
    else:
        eligible, reasons = model.eligibility(name)
        facts = {
            'name': name,
            'type': record.get('type'),
            'parent': record.get('parent'),
            'path': record.get('path'),
            'driver': record.get('driver'),
            'iommu_group': model.iommu_group(name),
            'assigned_to': model.assigned_to(name),
            'passthrough': {'eligible': eligible, 'reasons': reasons},
            'host_use': model.host_use(name),
            'children': model.children(name),
        }
    if blockers is not None:
        facts['assignable'] = not blockers[name]
        facts['blockers'] = list(blockers[name])
    for key in CAPABILITY_KEYS:
        values = record.get(key)
        if values is None:
            continue
        if mode == 'full':
            facts[key] = dict(values)
        elif key in COMPACT_CAPABILITY_KEYS:
            facts[key] = dict((field, values.get(field)) for field in COMPACT_CAPABILITY_KEYS[key])
    return facts


def facts_names(model: 'HostModel', mode: str = 'full') -> List[str]:
    """Sorted names of the devices the facts list: every one, or in compact mode in_compact_facts()."""
    if facts_mode(mode) == 'full':
        return model.names()
    return [name for name in model.names() if in_compact_facts(model.device(name), model.eligibility(name)[0])]


def facts_of(model: 'HostModel', source: str, blockers: Optional[Mapping[str, List[str]]] = None,
             mode: str = 'full') -> Dict[str, Any]:
    """ansible_facts.hostdev. blockers: {name: problem codes} from refusals.assignability(),
    which adds assignable and blockers to each device and the top-level assignable list
    (in compact mode, blockers of the listed devices are enough).

    mode: 'full', every device with every key; or 'compact', the devices of facts_names('compact')
    with the keys of device_facts(mode='compact'), and no eligible list (the devices say it: see
    facts_eligible). The other keys are the same in both.
    """
    groups = model.iommu_groups()
    iommu = dict(model.iommu)
    iommu.setdefault('enabled', bool(groups))
    iommu.setdefault('groups', len(groups))
    iommu.setdefault('kernel_args', {})
    iommu.setdefault('interrupt_remapping', None)
    iommu['hint'] = iommu_hint(iommu)
    listed = facts_names(model, mode)
    return {
        'source': source,
        'iommu': iommu,
        'devices': [device_facts(model, name, blockers, mode) for name in listed],
        'iommu_groups': [{'number': number, 'devices': groups[number]} for number in sorted(groups)],
        **({'eligible': model.eligible_names()} if mode == 'full' else {}),
        **({'assignable': [name for name in listed if not blockers[name]]} if blockers is not None else {}),
        'domains': [
            {'name': dom['name'], 'active': bool(dom.get('active')),
             'hostdevs': sorted(set(name for source_ in dom.get('hostdevs', ())
                                    for name in model.match_source(source_)))}
            for dom in model.domains],
    }


def records_of_facts(devices: Iterable[Mapping[str, Any]], iommu_groups: Any = None) -> List[Record]:
    """The device records of a host's facts (ansible_facts.hostdev, full or compact): its devices
    (facts_record of each) and, for compact facts, the bridges iommu_groups names.

    The facts are not changed. A PCI device that iommu_groups names and devices leave out
    is a bridge (compact facts leave bridges out: see in_compact_facts), in its group.
    """
    records = [facts_record(device) for device in devices]
    listed = set(record.get('name') for record in records)
    for group in iommu_groups if isinstance(iommu_groups, list) else ():
        number = group.get('number') if isinstance(group, Mapping) else None
        members = group.get('devices') if isinstance(group, Mapping) else None
        if not is_int(number) or not isinstance(members, list):
            continue
        for member in members:
            address = pci_address_of_name(member)
            if address is not None and member not in listed:
                listed.add(member)
                records.append({'name': member, 'type': 'pci', 'parent': None,
                                'pci': {'address': address, 'class': BRIDGE_CLASS, 'iommu_group': number}})
    return records
