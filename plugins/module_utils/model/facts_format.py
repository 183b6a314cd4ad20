# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the format of ansible_facts.hostdev, declared once: its modes, the keys of the facts and
of each device in each mode, which devices compact facts list, the counts summary facts give, and how
a device of the facts is read back as a device record. No I/O happens here.

HostModel.facts() produces the facts from this declaration; model.host_facts.host_facts() is the one
way a module builds them from a read, and model.host_facts.model_of_facts() the one way facts become a
model again. tests/unit/plugins/module_utils/model/test_facts_format.py checks this declaration
against what is produced, the facts doc fragment and hostdev_facts' RETURN.
"""

from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Set, cast

from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import (
    eligibility,
    is_display,
    is_pci_endpoint,
    is_pci_kind,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.pci_classes import PCI_CLASS_BRIDGE
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import compact_types, parent_types
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import CAPABILITY_KEYS, Record, pci_address_of_name
from ansible_collections.virt.hostdev.plugins.module_utils.model.vf_table import (
    listed_devices, with_vf_tables, with_virtual_functions)

if TYPE_CHECKING:  # the model these functions read (for the type checker only: host_model imports this file)
    from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel

# -- the declaration -------------------------------------------------------------

# What the facts give: every device with every key; the passthrough candidates with the keys that
# decide on them; or no device at all, only counts of the candidates by kind and model.
FACTS_MODES = ('full', 'compact', 'summary')
# The modes whose facts list devices (what the query filters and the device mappings need).
DEVICE_FACTS_MODES = ('full', 'compact')

# The keys of ansible_facts.hostdev in each mode (model.host_facts.host_facts gives assignable).
# Full facts carry the summary's kinds too, so what groups hosts by kinds reads either form.
FACTS_KEYS = {
    'full': ('source', 'iommu', 'devices', 'iommu_groups', 'eligible', 'assignable', 'domains', 'kinds'),
    'compact': ('source', 'iommu', 'devices', 'iommu_groups', 'assignable', 'domains'),
    'summary': ('source', 'iommu', 'kinds'),
}
# The keys of iommu (the first four are there whatever the reader found), of an IOMMU group and of a domain.
IOMMU_KEYS = ('enabled', 'groups', 'kernel_args', 'interrupt_remapping', 'units', 'unsafe_interrupts',
              'acs_override', 'hint')
IOMMU_GROUP_KEYS = ('number', 'devices')
DOMAIN_KEYS = ('name', 'active', 'hostdevs')

# Full facts: the keys of each device, besides one sub-dict per capability it has, with the keys
# records.CAPABILITIES declares. assignable and blockers come with the blockers (host_facts).
FULL_DEVICE_KEYS = ('name', 'type', 'parent', 'path', 'driver', 'iommu_group', 'assigned_to', 'held_by_network',
                    'passthrough', 'host_use', 'children', 'assignable', 'blockers')

# Compact facts: the keys of each device, and of its capability sub-dict. Each passthrough
# candidate with its IOMMU group, driver, holders (assigned_to), blockers and the ids that name
# it; eligibility is that blockers lack not_eligible. The other keys are in the full facts only.
COMPACT_DEVICE_KEYS = ('name', 'type', 'driver', 'iommu_group', 'assigned_to', 'assignable', 'blockers')
COMPACT_CAPABILITY_KEYS = {
    'pci': ('class', 'vendor_id', 'product_id', 'subsystem_vendor_id', 'subsystem_id', 'sriov'),
    'usb': ('bus', 'device', 'vendor_id', 'product_id'),
    'scsi': ('host', 'bus', 'target', 'lun', 'type'),
    # an mdev, and a parent's types (mdev_parent.types, a PCI parent's pci.mdev_types: mdev.COMPACT_TYPE_KEYS)
    'mdev': ('uuid', 'type', 'parent_address', 'active', 'persistent', 'autostart'),
    'mdev_parent': ('types',),
}

# Compact facts' pci.sriov (null for a device without SR-IOV): what a VF question needs,
# its PF and index, a PF's counts, and the MAC and VLAN the PF gives a VF (pci.sriov.link).
# A PF's VFs are rows of its vfs table, not devices of their own (model.vf_table: VF_COLUMNS);
# vfs is compact facts' own key, null where there is no table.
COMPACT_SRIOV_KEYS = ('totalvfs', 'numvfs', 'physical_function', 'vf_index', 'link', 'vfs')
COMPACT_LINK_KEYS = ('mac', 'vlan')

# The keys of a device the query filters and tests read (plugin_utils.facts_query), as
# doc_fragments/hostdev_query.py lists them; only name is required.
QUERY_DEVICE_KEYS = ('name', 'type', 'parent', 'iommu_group', 'pci.class', 'pci.address', 'passthrough.reasons',
                     'driver', 'assigned_to', 'assignable')

# The class compact facts give a bridge they leave out (HostModel.of_facts).
BRIDGE_CLASS = '0x%02x0000' % PCI_CLASS_BRIDGE

# Summary facts: the IOMMU state (SUMMARY_IOMMU_KEYS) and kinds, which maps each kind below that the
# host has to KIND_KEYS. They count the PCI devices compact facts list, of these kinds, first match
# wins; display controllers that are no GPU a guest wants come first: the BMC's (a server's remote
# console) and the boot VGA device (the host's console). The kinds guests are placed by
# (MODEL_KINDS) are also counted by model (vendor:product ids, MODEL_KEYS). What is left out (USB and
# SCSI devices, the other kinds' models, IOMMU units and kernel arguments) keeps a host's summary
# at a few KB once parsed (make bench-fleet part c), set by its kinds and models, not its device count.
SUMMARY_KINDS = ('bmc_display', 'boot_vga', 'gpu', 'nic', 'nvme', 'storage', 'usb_controller', 'fibre_channel',
                 'audio', 'multimedia', 'accelerator')
MODEL_KINDS = ('gpu', 'accelerator')
SUMMARY_IOMMU_KEYS = ('enabled', 'groups', 'interrupt_remapping', 'hint')
KIND_KEYS = ('total', 'assignable', 'held', 'blockers', 'models')
MODEL_KEYS = ('ids', 'name', 'total', 'assignable', 'blockers')

# The display controllers of baseboard management controllers, by vendor id and product ids (None:
# every product of the vendor's display): ASPEED's AST graphics, the Matrox G200 server variants
# (G200e/SE, EV, eW/WB, EH, eR, eW3, eH3) of Dell, HPE and Lenovo BMCs, HiSilicon's iBMC display.
BMC_DISPLAY_IDS = {
    '0x1a03': ('0x2000',),
    '0x102b': ('0x0522', '0x0524', '0x0530', '0x0532', '0x0533', '0x0534', '0x0536', '0x0538'),
    '0x19e5': ('0x1711',),
}


def facts_mode(mode: str) -> str:
    if mode not in FACTS_MODES:
        raise ValueError('facts mode must be one of %s, not %r' % (', '.join(FACTS_MODES), mode))
    return mode


def is_summary(facts: Any) -> bool:
    """Whether facts are summary facts: counts by kind, no device list (hostdev_facts with facts=summary)."""
    return isinstance(facts, Mapping) and 'devices' not in facts and isinstance(facts.get('kinds'), Mapping)


def in_compact_facts(record: Record, eligible: Optional[bool] = None) -> bool:
    """Whether compact facts list a device: eligible for passthrough (a candidate), a PCI endpoint (a
    group member that keeps its group viable or not), or an mdev parent. Bridges and the rest are left out.

    eligible: the device's eligibility when it is known already (HostModel remembers it).
    """
    if eligible is None:
        eligible = eligibility(record)[0]
    return eligible or is_pci_endpoint(record) or parent_types(record) is not None


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
    listed = listed_devices(listed)  # the VFs of the PFs' tables are listed too
    groups = facts.get('iommu_groups') if isinstance(facts, Mapping) else None
    # Groups given when the devices have some, though compact iommu_groups may be empty (compact_groups).
    return CompactListing(set(str(device.get('name')) for device in listed), isinstance(groups, list) and (
        bool(groups) or any(device.get('type') == 'pci' and is_int(device.get('iommu_group')) for device in listed)))


def facts_eligible(device: Mapping[str, Any]) -> bool:
    """Whether a device of the facts is eligible for passthrough: its passthrough.eligible, or in
    compact facts (no passthrough key) its blockers lacking not_eligible."""
    passthrough = device.get('passthrough')
    if isinstance(passthrough, Mapping):
        return bool(passthrough.get('eligible'))
    blockers = device.get('blockers')
    return isinstance(blockers, list) and 'not_eligible' not in blockers


def _pci_of(device: Mapping[str, Any]) -> Mapping[str, Any]:
    pci = device.get('pci')
    return pci if isinstance(pci, Mapping) else {}


def is_bmc_display(device: Mapping[str, Any]) -> bool:
    """A display controller of a baseboard management controller (BMC_DISPLAY_IDS)."""
    pci = _pci_of(device)
    products = BMC_DISPLAY_IDS.get(str(pci.get('vendor_id')).lower())
    return is_display(cast(Record, device)) and products is not None and str(pci.get('product_id')).lower() in products


def is_boot_vga(device: Mapping[str, Any]) -> bool:
    """The boot VGA device: pci.boot_vga (records, full facts); in compact facts, a display controller
    whose blockers have not_eligible (a display controller is eligible unless it is the boot VGA)."""
    pci = _pci_of(device)
    if not is_display(cast(Record, device)):
        return False
    if 'boot_vga' in pci:
        return bool(pci['boot_vga'])
    return not facts_eligible(device) and 'passthrough' not in device and isinstance(device.get('blockers'), list)


def summary_kind(device: Mapping[str, Any]) -> Optional[str]:
    """The kind of SUMMARY_KINDS a PCI record or device of the facts counts as; None for the others."""
    if is_bmc_display(device):
        return 'bmc_display'
    if is_boot_vga(device):
        return 'boot_vga'
    return next((kind for kind in SUMMARY_KINDS[2:] if is_pci_kind(device, kind)), None)


def model_ids(device: Mapping[str, Any]) -> Optional[str]:
    """vendor:product ids of a PCI device ('10de:24b0'); None when either is unknown."""
    pci = _pci_of(device)
    vendor, product = (str(pci.get(key) or '').lower() for key in ('vendor_id', 'product_id'))
    if not vendor or not product:
        return None
    return '%s:%s' % tuple(value[2:] if value.startswith('0x') else value for value in (vendor, product))


def model_name(device: Mapping[str, Any]) -> Optional[str]:
    """Vendor and product names of a PCI device, as the readers filled them; None when neither is known."""
    pci = _pci_of(device)
    return ' '.join(str(pci[key]) for key in ('vendor', 'product') if pci.get(key)) or None


def kinds_of(devices: Iterable[Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Summary facts' kinds: the PCI devices of the facts that compact facts list, counted by
    summary_kind (and the MODEL_KINDS by model), each count with how many are assignable, held by a
    domain (kinds only), and the blocker codes of the others ({code: devices}). Kinds in SUMMARY_KINDS
    order, models by ids."""
    kinds = {}  # type: Dict[str, Dict[str, Any]]
    models = {}  # type: Dict[str, Dict[Optional[str], Dict[str, Any]]]
    for device in listed_devices(devices):
        kind = summary_kind(device) if is_pci_endpoint(cast(Record, device)) else None
        if kind is None:
            continue
        entry = kinds.setdefault(kind, dict(total=0, assignable=0, held=0, blockers={}, models=[]))
        counted = [entry]
        if kind in MODEL_KINDS:
            ids = model_ids(device)
            counted.append(models.setdefault(kind, {}).setdefault(ids, dict(
                ids=ids, name=model_name(device), total=0, assignable=0, blockers={})))
        entry['held'] += 1 if device.get('assigned_to') else 0
        for counts in counted:
            counts['total'] += 1
            if device.get('assignable') is True:
                counts['assignable'] += 1
                continue
            for code in device.get('blockers') or ():
                counts['blockers'][code] = counts['blockers'].get(code, 0) + 1
    for kind, by_ids in models.items():
        kinds[kind]['models'] = [by_ids[ids] for ids in sorted(by_ids, key=lambda ids: (ids is None, ids or ''))]
    return dict((kind, kinds[kind]) for kind in SUMMARY_KINDS if kind in kinds)


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
            'held_by_network': model.held_by_network(name),
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
            compact = dict((field, values.get(field)) for field in COMPACT_CAPABILITY_KEYS[key])
            if key == 'pci' and values.get('sriov') is not None:
                compact['sriov'] = compact_sriov(values['sriov'])
            types_key = {'pci': 'mdev_types', 'mdev_parent': 'types'}.get(key) if parent_types(record) else None
            if types_key:  # a parent's types, what placing mdevs needs of them (a PCI parent's only where it is one)
                compact[types_key] = compact_types(values[types_key])
            facts[key] = compact
    return facts


def compact_sriov(sriov: Mapping[str, Any]) -> Dict[str, Any]:
    """Compact facts' pci.sriov (COMPACT_SRIOV_KEYS), with its link's COMPACT_LINK_KEYS."""
    compact = dict((key, sriov.get(key)) for key in COMPACT_SRIOV_KEYS)
    link = sriov.get('link')
    compact['link'] = dict((key, link.get(key)) for key in COMPACT_LINK_KEYS) if isinstance(link, Mapping) else None
    compact['vfs'] = None  # facts_of puts the PF's VFs in it (vf_table.with_vf_tables)
    return compact


def compact_groups(groups: Mapping[int, List[str]], listed: Iterable[str]) -> List[Dict[str, Any]]:
    """Compact facts' iommu_groups: the groups that are not one listed device alone, whose
    iommu_group says the group whole. What is left: groups of several devices, and those with a
    device compact facts leave out (a bridge)."""
    names = set(listed)
    return [{'number': number, 'devices': groups[number]} for number in sorted(groups)
            if len(groups[number]) != 1 or groups[number][0] not in names]


def facts_names(model: 'HostModel', mode: str = 'full') -> List[str]:
    """Sorted names of the devices the facts list: every one, or in compact mode in_compact_facts()
    (which summary facts count)."""
    if facts_mode(mode) == 'full':
        return model.names()
    return [name for name in model.names() if in_compact_facts(model.device(name), model.eligibility(name)[0])]


def facts_of(model: 'HostModel', source: str, blockers: Optional[Mapping[str, List[str]]] = None,
             mode: str = 'full') -> Dict[str, Any]:
    """ansible_facts.hostdev. blockers: {name: problem codes} from refusals.assignability(),
    which adds assignable and blockers to each device, the top-level assignable list and the kinds
    (in compact and summary mode, blockers of the listed devices are enough).

    mode: 'full', every device with every key; 'compact', the devices of facts_names('compact')
    with the keys of device_facts(mode='compact'), and no eligible list (the devices say it: see
    facts_eligible), nor kinds; 'summary', no device: the IOMMU state and the kinds of the devices
    compact facts list (kinds_of), which full facts have too.
    """
    groups = model.iommu_groups()
    iommu = dict(model.iommu)
    iommu.setdefault('enabled', bool(groups))
    iommu.setdefault('groups', len(groups))
    iommu.setdefault('kernel_args', {})
    iommu.setdefault('interrupt_remapping', None)
    iommu['hint'] = iommu_hint(iommu)
    listed = facts_names(model, mode)
    if mode == 'summary':
        # full device facts of the candidates (names, boot_vga), counted and let go
        return {'source': source, 'iommu': dict((key, iommu.get(key)) for key in SUMMARY_IOMMU_KEYS),
                'kinds': kinds_of(device_facts(model, name, blockers) for name in listed
                                  if model.device(name).get('type') == 'pci')}
    devices = [device_facts(model, name, blockers, mode) for name in listed]
    return {
        'source': source,
        'iommu': iommu,
        'devices': devices if mode == 'full' else with_vf_tables(devices),
        'iommu_groups': ([{'number': number, 'devices': groups[number]} for number in sorted(groups)]
                         if mode == 'full' else compact_groups(groups, listed)),
        **({'eligible': model.eligible_names()} if mode == 'full' else {}),
        **({'assignable': [name for name in listed if not blockers[name]]} if blockers is not None else {}),
        'domains': [
            {'name': dom['name'], 'active': bool(dom.get('active')),
             'hostdevs': sorted(set(name for source_ in dom.get('hostdevs', ())
                                    for name in model.match_source(source_)))}
            for dom in model.domains],
        **({'kinds': kinds_of(devices)} if mode == 'full' and blockers is not None else {}),
    }


def records_of_facts(devices: Iterable[Mapping[str, Any]], iommu_groups: Any = None) -> List[Record]:
    """The device records of a host's facts (ansible_facts.hostdev, full or compact): its devices and
    VF rows (facts_record of each of vf_table.listed_devices) and, in compact facts, the bridges iommu_groups names.

    The facts are not changed. A PCI device that iommu_groups names and devices leave out
    is a bridge (compact facts leave bridges out: see in_compact_facts), in its group.
    """
    records = [facts_record(device) for device in listed_devices(devices)]
    listed = set(record.get('name') for record in records)
    with_virtual_functions(records)
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
