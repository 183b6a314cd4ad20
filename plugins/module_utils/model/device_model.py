# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the host device model of virt.hostdev. No I/O happens here.

Readers (libvirt_reader, sysfs_reader) turn a host into *device records*: plain
dicts with the keys ``name``, ``type`` (libvirt capability), ``parent``,
``path``, ``driver`` and one sub-dict per capability (``pci``, ``usb``, ``scsi``,
...). ``HostModel`` takes those records once and answers every question from
indexes built in one pass, so each query is linear in the number of devices.
"""

import re
from collections import deque
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, shown
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    CAPABILITY_KEYS,
    USB_BUS_DEVICE_RE,
    USB_ID_RE,
    Record,
    normalize_hex_id,
    parse_pci_address,
    pci_address,
    pci_address_of_name,
    pci_class_code,
    pci_name,
)

# Types whose devices libvirt can hand to a guest as <hostdev mode='subsystem'>.
ASSIGNABLE_TYPES = ('pci', 'usb_device', 'scsi')

# Reason codes for devices that are not eligible for passthrough. They are a
# stable interface: playbooks match on them.
REASONS = {
    'pci_bridge': 'PCI bridge (class 0x06): passing it through would cut off the devices behind it',
    'pci_memory_controller': 'PCI memory controller (class 0x05) belongs to the host',
    'pci_processor': 'PCI processor (class 0x0b) belongs to the host',
    'pci_smbus': 'SMBus controller (class 0x0c05) belongs to the host',
    'pci_class_unknown': 'the PCI class of the device could not be read',
    'boot_vga': 'the boot VGA device drives the host console and firmware framebuffer',
    'usb_root_hub': 'USB root hub (vendor 0x1d6b) is part of the host controller',
    'usb_hub': 'USB hub (device class 9): assign the devices behind it instead',
    'usb_unaddressable': 'neither the vendor:product nor the bus.device of the USB device could be read',
    'type_not_assignable': 'only pci, usb_device and scsi devices can be passed through',
}


class HostdevModelError(HostdevError):
    """A question the model cannot answer because the input names something wrong."""


class UnknownDeviceError(HostdevModelError):
    pass


class DeviceReferenceError(HostdevModelError):
    pass


class UnknownKindError(HostdevModelError):
    pass


# PCI base classes (the top byte of the class code) that the device rules name.
PCI_CLASS_DISPLAY = 0x03
PCI_CLASS_MEMORY = 0x05
PCI_CLASS_BRIDGE = 0x06
PCI_CLASS_PROCESSOR = 0x0b
PCI_CLASS_SERIAL_BUS = 0x0c
PCI_SUBCLASS_SMBUS = 0x05  # of PCI_CLASS_SERIAL_BUS


def parse_pci_class(pci_class: Optional[str]) -> Optional[Tuple[int, int]]:
    """(base class, subclass) of a PCI class code: '0x030200' -> (0x03, 0x02).

    None when the class is absent or unreadable (not hexadecimal, wider than 24 bits).
    """
    parsed = _pci_class_bytes(pci_class)
    return None if parsed is None else parsed[:2]


# Names of the PCI base classes, as pci.ids gives them (lower case): for messages and reports.
PCI_CLASS_NAMES: Dict[int, str] = {
    0x00: 'unclassified device',
    0x01: 'mass storage controller',
    0x02: 'network controller',
    0x03: 'display controller',
    0x04: 'multimedia controller',
    0x05: 'memory controller',
    0x06: 'bridge',
    0x07: 'communication controller',
    0x08: 'generic system peripheral',
    0x09: 'input device controller',
    0x0a: 'docking station',
    0x0b: 'processor',
    0x0c: 'serial bus controller',
    0x0d: 'wireless controller',
    0x0e: 'intelligent controller',
    0x0f: 'satellite communications controller',
    0x10: 'encryption controller',
    0x11: 'signal processing controller',
    0x12: 'processing accelerator',
    0x13: 'non-essential instrumentation',
    0x40: 'coprocessor',
}

# Names of the common subclasses, keyed by (base class, subclass) or, where the programming
# interface tells more, (base class, subclass, programming interface).
PCI_SUBCLASS_NAMES: Dict[Tuple[int, ...], str] = {
    (0x01, 0x00): 'SCSI controller',
    (0x01, 0x01): 'IDE controller',
    (0x01, 0x04): 'RAID controller',
    (0x01, 0x06): 'SATA controller',
    (0x01, 0x07): 'SAS controller',
    (0x01, 0x08): 'non-volatile memory controller',
    (0x01, 0x08, 0x02): 'NVMe controller',
    (0x02, 0x00): 'Ethernet controller',
    (0x02, 0x07): 'InfiniBand controller',
    (0x03, 0x00): 'VGA controller',
    (0x03, 0x01): 'XGA controller',
    (0x03, 0x02): '3D controller',
    (0x04, 0x01): 'audio controller',
    (0x04, 0x03): 'audio device',
    (0x06, 0x00): 'host bridge',
    (0x06, 0x01): 'ISA bridge',
    (0x06, 0x04): 'PCI bridge',
    (0x0c, 0x03): 'USB controller',
    (0x0c, 0x04): 'Fibre Channel controller',
    (0x0c, 0x05): 'SMBus controller',
}

# Device kinds a playbook asks for by name, each as the PCI class prefixes that make it:
# (base class,), (base class, subclass) or (base class, subclass, programming interface).
PCI_KINDS: Dict[str, Tuple[Tuple[int, ...], ...]] = {
    'accelerator': ((0x12,),),
    'audio': ((0x04, 0x01), (0x04, 0x03)),
    'fibre_channel': ((PCI_CLASS_SERIAL_BUS, 0x04),),
    'gpu': ((PCI_CLASS_DISPLAY,),),
    'multimedia': ((0x04,),),
    'nic': ((0x02,),),
    'nvme': ((0x01, 0x08, 0x02),),
    'raid': ((0x01, 0x04),),
    'sas': ((0x01, 0x07),),
    'sata': ((0x01, 0x06),),
    'storage': ((0x01,),),
    'usb_controller': ((PCI_CLASS_SERIAL_BUS, 0x03),),
}

_PCI_CLASS_PREFIX_RE = re.compile(r'^0x(?:[0-9a-f]{2}){1,3}$')


def _pci_class_bytes(pci_class: Optional[str]) -> Optional[Tuple[int, int, int]]:
    """(base class, subclass, programming interface) of a readable PCI class code, else None.

    Remembered per class code: a host has thousands of devices and a few dozen classes.
    """
    if isinstance(pci_class, str) and pci_class in _CLASS_BYTES:
        return _CLASS_BYTES[pci_class]
    value = pci_class_code(pci_class)
    parsed = None if value is None else (value >> 16, (value >> 8) & 0xff, value & 0xff)
    if isinstance(pci_class, str):
        if len(_CLASS_BYTES) >= 4096:
            _CLASS_BYTES.clear()
        _CLASS_BYTES[pci_class] = parsed
    return parsed


_CLASS_BYTES: Dict[str, Optional[Tuple[int, int, int]]] = {}


def pci_class_name(pci_class: Optional[str]) -> Optional[str]:
    """The name of the base class of a PCI class code: '0x030200' -> 'display controller'.

    None when the class is absent, unreadable or of a base class without a name here.
    """
    parsed = _pci_class_bytes(pci_class)
    return PCI_CLASS_NAMES.get(parsed[0]) if parsed else None


def pci_subclass_name(pci_class: Optional[str]) -> Optional[str]:
    """The most specific common name of a PCI class code: '0x030200' -> '3D controller',
    '0x010802' -> 'NVMe controller'. None when the subclass is not one of PCI_SUBCLASS_NAMES."""
    parsed = _pci_class_bytes(pci_class)
    if parsed is None:
        return None
    return PCI_SUBCLASS_NAMES.get(parsed) or PCI_SUBCLASS_NAMES.get(parsed[:2])


def pci_kind_prefixes(kind: str) -> Tuple[Tuple[int, ...], ...]:
    """The PCI class prefixes of a device kind: a name of PCI_KINDS, or a class prefix of
    one to three bytes in hexadecimal ('0x03', '0x0c03', '0x010802')."""
    text = str(kind).strip().lower()
    if text in PCI_KINDS:
        return PCI_KINDS[text]
    if _PCI_CLASS_PREFIX_RE.match(text):
        digits = text[2:]
        return (tuple(int(digits[start:start + 2], 16) for start in range(0, len(digits), 2)),)
    raise UnknownKindError(
        'unknown device kind %r: the kinds are %s, or a PCI class prefix of one to three bytes '
        'such as 0x03, 0x0c03 or 0x010802' % (shown(kind), ', '.join(sorted(PCI_KINDS))))


def pci_class_reason(pci_class: Optional[str]) -> Optional[str]:
    """The reason code that makes a PCI class ineligible (pci_class_unknown when unreadable), or None."""
    parsed = parse_pci_class(pci_class)
    if parsed is None:
        return 'pci_class_unknown'
    base, subclass = parsed
    if base == PCI_CLASS_BRIDGE:
        return 'pci_bridge'
    if base == PCI_CLASS_MEMORY:
        return 'pci_memory_controller'
    if base == PCI_CLASS_PROCESSOR:
        return 'pci_processor'
    if (base, subclass) == (PCI_CLASS_SERIAL_BUS, PCI_SUBCLASS_SMBUS):
        return 'pci_smbus'
    return None


# -- predicates on one device record -------------------------------------------

def is_assignable_type(record: Record) -> bool:
    """Whether libvirt can hand a device of this type to a guest (ASSIGNABLE_TYPES)."""
    return record.get('type') in ASSIGNABLE_TYPES


def _pci_base_class(record):
    """The base class of a PCI device; None for other types and an absent or unreadable class."""
    if record.get('type') != 'pci':
        return None
    parsed = parse_pci_class((record.get('pci') or {}).get('class'))
    return parsed[0] if parsed else None


def is_pci_bridge(record: Record) -> bool:
    """A PCI bridge (base class 0x06): it never needs assigning, the devices behind it do."""
    return _pci_base_class(record) == PCI_CLASS_BRIDGE


def is_pci_endpoint(record: Record) -> bool:
    """A PCI device that is not a bridge: what a guest gets, and what makes a group viable or not."""
    return record.get('type') == 'pci' and not is_pci_bridge(record)


def is_display(record: Record) -> bool:
    """A PCI display controller (base class 0x03: VGA, 3D, ...)."""
    return _pci_base_class(record) == PCI_CLASS_DISPLAY


def is_pci_kind(record: Mapping[str, Any], kind: str) -> bool:
    """A PCI device of a kind (see pci_kind_prefixes): is_pci_kind(record, 'gpu'), (record, '0x0c03').

    False for other types and for an absent or unreadable class; an unknown kind raises UnknownKindError.
    """
    prefixes = pci_kind_prefixes(kind)
    if record.get('type') != 'pci':
        return False
    parsed = _pci_class_bytes((record.get('pci') or {}).get('class'))
    return parsed is not None and any(parsed[:len(prefix)] == prefix for prefix in prefixes)


def pci_slot(record: Record) -> Optional[Tuple[int, int, int]]:
    """(domain, bus, slot) of a PCI device, from pci.address: the functions of one card share it.

    None for other types and for an absent or unreadable address.
    """
    if record.get('type') != 'pci':
        return None
    address = (record.get('pci') or {}).get('address')
    parsed = parse_pci_address(address) if isinstance(address, str) else None
    return parsed[:3] if parsed else None


def usb_has_ids(record: Record) -> bool:
    """A USB device whose vendor and product ids were both read (a hostdev can name it by them)."""
    usb = record.get('usb') or {}
    return usb.get('vendor_id') is not None and usb.get('product_id') is not None


def usb_has_address(record: Record) -> bool:
    """A USB device whose bus and device numbers were both read (a hostdev can name it by them)."""
    usb = record.get('usb') or {}
    return usb.get('bus') is not None and usb.get('device') is not None


def eligibility(record: Record) -> Tuple[bool, List[str]]:
    """(eligible, reasons) of one device record, from the device alone.

    Host readiness (IOMMU off, device held by a domain) is deliberately not part
    of this: it is reported elsewhere, so the answer does not change with the
    host's boot options.
    """
    device_type = record.get('type')
    reasons = []
    if not is_assignable_type(record):
        reasons.append('type_not_assignable')
    elif device_type == 'pci':
        pci = record.get('pci') or {}
        class_reason = pci_class_reason(pci.get('class'))
        if class_reason:
            reasons.append(class_reason)
        if pci.get('boot_vga'):
            reasons.append('boot_vga')
    elif device_type == 'usb_device':
        usb = record.get('usb') or {}
        if usb.get('vendor_id') == '0x1d6b':
            reasons.append('usb_root_hub')
        if usb.get('class') == '0x09':
            reasons.append('usb_hub')
        if not usb_has_ids(record) and not usb_has_address(record):
            reasons.append('usb_unaddressable')
    return (not reasons, reasons)


class HostModel:
    """Every question about one host's devices, answered from one read of it.

    devices: iterable of device records (see the module docstring).
    domains: iterable of {'name', 'active', 'hostdevs': [source dicts]} where a
        source dict is what domain_xml.hostdev_source() returns.
    iommu: the host's IOMMU state dict (reported as is).
    """

    def __init__(self, devices: Iterable[Record], domains: Iterable[Dict[str, Any]] = (),
                 iommu: Optional[Dict[str, Any]] = None) -> None:
        self.warnings = []
        self.iommu = dict(iommu or {})
        self._devices: Dict[str, Record] = {}
        for record in devices:
            name = record['name']
            if name in self._devices:
                self.warnings.append('device %s was reported twice; the first report is kept' % name)
                continue
            self._devices[name] = record
        self._names = sorted(self._devices)
        self._children: Dict[str, List[str]] = {}
        for name in self._names:
            parent = self._devices[name].get('parent')
            if parent is None:
                continue
            if parent not in self._devices:
                self.warnings.append(
                    'parent %s of device %s does not exist (stale node device); '
                    'the device is listed without inheriting from it' % (parent, name))
                continue
            self._children.setdefault(parent, []).append(name)
        self._groups = self._compute_groups()
        self._taken_with_group: Dict[Optional[int], List[str]] = {}
        self._group_devices: Dict[int, List[str]] = {}
        for name in self._names:
            group = self._groups[name]
            if group is not None:
                self._taken_with_group.setdefault(group, []).append(name)
            own = (self._devices[name].get('pci') or {}).get('iommu_group')
            if own is not None:
                self._group_devices.setdefault(own, []).append(name)
        self._unknown_groups = set(
            name for name in self._names
            if self._group_devices and self._devices[name].get('type') == 'pci' and self._groups[name] is None)
        for name in sorted(self._unknown_groups):
            self.warnings.append('PCI device %s has no readable IOMMU group although the host has IOMMU groups: '
                                 'its group is unknown, so it cannot be assigned' % name)
        self._indexes = self._build_reference_indexes()
        self.domains = sorted(domains, key=lambda dom: dom['name'])
        self._assigned = self._compute_assignments()
        self._eligibility: Dict[str, Tuple[bool, List[str]]] = {}

    # -- tree and groups -------------------------------------------------

    def _compute_groups(self):
        """Own or inherited IOMMU group of every device, in one pass.

        A PCI device's group is its own: the kernel gives every PCI device one when
        the IOMMU is on, so a PCI device without one has an unknown group (None),
        never its bridge's. Any other device takes the group of its nearest PCI
        ancestor. Each device is resolved once (memoised), so the pass is linear;
        a parent cycle in broken input ends the walk instead of looping. A device
        whose ancestors end before a PCI device keeps the group its record states
        (a facts device's iommu_group: compact facts list USB and SCSI devices
        without their parents), else it has none.
        """
        groups = {}
        for name in self._names:
            chain = []
            seen = set()
            current = name
            group = None
            found = False
            while current is not None and current in self._devices and current not in groups:
                if current in seen:
                    self.warnings.append('parent cycle through device %s ignored' % current)
                    break
                seen.add(current)
                chain.append(current)
                if self._devices[current].get('type') == 'pci':
                    group = (self._devices[current].get('pci') or {}).get('iommu_group')
                    found = True
                    break
                current = self._devices[current].get('parent')
            else:
                if current in groups:
                    group = groups[current]
                    found = True
            for member in chain:
                groups[member] = group if found else _stated_group(self._devices[member])
        return groups

    def names(self) -> List[str]:
        return list(self._names)

    def __contains__(self, name):
        return name in self._devices

    def device(self, name: str) -> Record:
        try:
            return self._devices[name]
        except KeyError:
            raise UnknownDeviceError('device %s does not exist on this host' % shown(name))

    def children(self, name: str) -> List[str]:
        return list(self._children.get(name, ()))

    def descendants(self, name: str) -> List[str]:
        """All devices below name, in breadth-first order."""
        result = []
        queue = deque(self._children.get(name, ()))
        while queue:
            current = queue.popleft()
            result.append(current)
            queue.extend(self._children.get(current, ()))
        return result

    def iommu_group(self, name: str) -> Optional[int]:
        """The device's own or inherited IOMMU group, or None."""
        self.device(name)
        return self._groups[name]

    def group_unknown(self, name: str) -> bool:
        """True for a PCI device without an IOMMU group on a host that has groups."""
        self.device(name)
        return name in self._unknown_groups

    def group_devices(self, group: int) -> List[str]:
        """Sorted names of the PCI devices the kernel puts in IOMMU group group."""
        return list(self._group_devices.get(group, ()))

    def iommu_groups(self) -> Dict[int, List[str]]:
        """{group number: sorted PCI device names the kernel puts in it}."""
        return dict((group, list(names)) for group, names in self._group_devices.items())

    def taken_with_group(self, group: Optional[int]) -> List[str]:
        """Sorted names of every device whose own or inherited IOMMU group is group.

        That is the group's PCI devices and every device below them that has no
        group of its own: all that leaves the host when the group goes to a guest.
        """
        return list(self._taken_with_group.get(group, ()))

    def group_endpoints(self, name: str) -> List[str]:
        """Sorted PCI endpoints (not bridges) in name's IOMMU group, name included.

        A device without a group, or that is not PCI, is alone: [name].
        """
        record = self.device(name)
        group = self._groups[name]
        if group is None or record.get('type') != 'pci':
            return [name]
        return sorted(set(self.group_endpoints_in(group)) | set([name]))

    def group_endpoints_in(self, group: Optional[int]) -> List[str]:
        """Sorted names of the PCI endpoints (not bridges) in IOMMU group group; [] for None."""
        if group is None:
            return []
        return [member for member in self.group_devices(group) if is_pci_endpoint(self._devices[member])]

    def group_bridges(self, group: Optional[int]) -> List[str]:
        """Sorted names of the PCI bridges in IOMMU group group; they never need assigning."""
        return [member for member in self._taken_with_group.get(group, ())
                if is_pci_bridge(self._devices[member])]

    def host_use(self, name: str) -> List[str]:
        """What the host itself uses the device for ('mounted at /', 'swap', 'default route')."""
        return list(self.device(name).get('host_use') or ())

    # -- eligibility and filters -----------------------------------------

    def eligibility(self, name: str) -> Tuple[bool, List[str]]:
        """eligibility() of the device, worked out once per model (a copy of the reasons)."""
        known = self._eligibility.get(name)
        if known is None:
            known = self._eligibility[name] = eligibility(self.device(name))
        return known[0], list(known[1])

    def eligible_names(self) -> List[str]:
        return [name for name in self._names if self.eligibility(name)[0]]

    def filter_names(self, cap: Optional[str] = None, passthrough: Optional[bool] = None) -> List[str]:
        """Kimchi's listing: names by capability, optionally only eligible ones."""
        names = self._names
        if cap is not None:
            names = [name for name in names if self._has_capability(name, cap)]
        if passthrough:
            names = [name for name in names if self.eligibility(name)[0]]
        return list(names)

    def _has_capability(self, name, cap):
        record = self._devices[name]
        if record.get('type') == cap:
            return True
        # fc_host and vports are sub-capabilities of scsi_host in libvirt.
        return cap in (record.get('capabilities') or ())

    def affected_by(self, name: str) -> List[str]:
        """Sorted names of the devices a passthrough of name takes from the host.

        PCI device in an IOMMU group: the other members of its group with all
        their descendants (every device whose own or inherited group is the
        same) plus the device's own descendants. PCI device on a host without
        groups: its descendants (Kimchi's fallback). Any other type (USB, SCSI):
        its descendants, since IOMMU groups do not apply to them.
        """
        record = self.device(name)
        affected = set(self.descendants(name))
        group = self._groups[name]
        if record.get('type') == 'pci' and group is not None:
            affected.update(self._taken_with_group.get(group, ()))
        affected.discard(name)
        return sorted(affected)

    # -- domains ---------------------------------------------------------

    def _build_reference_indexes(self):
        by_pci = {}
        by_usb_ids = {}
        by_usb_bus = {}
        by_scsi = {}
        for name in self._names:
            record = self._devices[name]
            if record.get('type') == 'pci' and record.get('pci'):
                pci = record['pci']
                by_pci[pci['address']] = name
            elif record.get('type') == 'usb_device' and record.get('usb'):
                usb = record['usb']
                # A device whose ids or address could not be read is not found by them.
                if usb_has_ids(record):
                    by_usb_ids.setdefault((usb['vendor_id'], usb['product_id']), []).append(name)
                if usb_has_address(record):
                    by_usb_bus[(usb['bus'], usb['device'])] = name
            elif record.get('type') == 'scsi' and record.get('scsi'):
                scsi = record['scsi']
                by_scsi[(scsi['host'], scsi['bus'], scsi['target'], scsi['lun'])] = name
        return {'pci': by_pci, 'usb_ids': by_usb_ids, 'usb_bus': by_usb_bus, 'scsi': by_scsi}

    def usb_devices_with_ids(self, vendor_id: Optional[str], product_id: Optional[str]) -> List[str]:
        """Sorted names of the USB devices with this vendor:product ('0x046d', '0xc31c')."""
        return list(self._indexes['usb_ids'].get((vendor_id, product_id), ()))

    def match_source(self, source: Dict[str, Any]) -> List[str]:
        """Names of the host devices a domain hostdev source refers to."""
        kind = source.get('type')
        if kind == 'pci':
            name = self._indexes['pci'].get(source.get('address'))
            return [name] if name else []
        if kind == 'usb':
            if source.get('bus') is not None and source.get('device') is not None:
                name = self._indexes['usb_bus'].get((source['bus'], source['device']))
                if name:
                    return [name]
                # libvirt matches on vendor/product too when both are given.
                if source.get('vendor_id') is None:
                    return []
            return self.usb_devices_with_ids(source.get('vendor_id'), source.get('product_id'))
        if kind == 'scsi':
            host = _scsi_host_number(source.get('adapter'))
            key = (host, source.get('bus'), source.get('target'), source.get('unit'))
            name = self._indexes['scsi'].get(key)
            return [name] if name else []
        return []

    def _compute_assignments(self):
        return self.assignments_in(self.domains)

    def assignments_in(self, domains: Iterable[Dict[str, Any]]) -> Dict[str, List[str]]:
        """{device name: sorted names of the domains that reference it} among domains.

        domains as the readers give them; used for the host's domains, and for a
        fresh read after an edit (a run that bypassed the host lock).
        """
        assigned: Dict[str, set] = {}
        for dom in domains:
            for source in dom.get('hostdevs', ()):
                for name in self.match_source(source):
                    assigned.setdefault(name, set()).add(dom['name'])
        return dict((name, sorted(doms)) for name, doms in assigned.items())

    def assigned_to(self, name: str) -> List[str]:
        """Sorted names of the domains (defined or running) that reference name."""
        self.device(name)
        return list(self._assigned.get(name, ()))

    # -- references --------------------------------------------------------

    def resolve_reference(self, reference: Any) -> str:
        """Turn a user's device reference into a node device name.

        Accepted: a node device name, a PCI address (DDDD:BB:SS.F or BB:SS.F),
        a USB vendor:product (046d:c31c) or a USB bus.device (1.3).
        """
        text = str(reference).strip()
        if text in self._devices:
            return text
        address = parse_pci_address(text)
        if address is not None:
            name = pci_name(*address)
            if name in self._devices:
                return name
            raise DeviceReferenceError(
                'no PCI device at address %s (%s) on this host' % (pci_address(*address), shown(text)))
        match = USB_ID_RE.match(text)
        if match:
            candidates = self.usb_devices_with_ids(normalize_hex_id(match.group('vendor')),
                                                   normalize_hex_id(match.group('product')))
            if len(candidates) == 1:
                return candidates[0]
            if not candidates:
                raise DeviceReferenceError('no USB device with vendor:product %s on this host' % text)
            raise DeviceReferenceError(
                'USB vendor:product %s is ambiguous: it matches %s; use a node device name or bus.device'
                % (text, ', '.join(candidates)))
        match = USB_BUS_DEVICE_RE.match(text)
        if match:
            key = (int(match.group('bus')), int(match.group('device')))
            name = self._indexes['usb_bus'].get(key)
            if name:
                return name
            raise DeviceReferenceError('no USB device at bus.device %s on this host' % text)
        close = [name for name in self._names if text.lower() in name.lower()][:5]
        hint = '; similar names: %s' % ', '.join(close) if close else ''
        raise DeviceReferenceError(
            'device reference %r is not a node device name, a PCI address, a USB vendor:product '
            'or a USB bus.device known on this host%s' % (shown(text), hint))

    # -- facts ------------------------------------------------------------

    def device_facts(self, name: str, blockers: Optional[Mapping[str, List[str]]] = None,
                     mode: str = 'full') -> Dict[str, Any]:
        """The facts of one device; with blockers (name: codes), also assignable and blockers.

        mode: 'full' (every key) or 'compact' (COMPACT_DEVICE_KEYS and COMPACT_CAPABILITY_KEYS).
        """
        record = self.device(name)
        if _facts_mode(mode) == 'compact':
            facts = {
                'name': name,
                'type': record.get('type'),
                'driver': record.get('driver'),
                'iommu_group': self._groups[name],
                'assigned_to': self.assigned_to(name),
            }
        else:
            eligible, reasons = self.eligibility(name)
            facts = {
                'name': name,
                'type': record.get('type'),
                'parent': record.get('parent'),
                'path': record.get('path'),
                'driver': record.get('driver'),
                'iommu_group': self._groups[name],
                'assigned_to': self.assigned_to(name),
                'passthrough': {'eligible': eligible, 'reasons': reasons},
                'host_use': self.host_use(name),
                'children': self.children(name),
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

    def facts_names(self, mode: str = 'full') -> List[str]:
        """Sorted names of the devices the facts list: every one, or in compact mode in_compact_facts()."""
        if _facts_mode(mode) == 'full':
            return list(self._names)
        return [name for name in self._names if in_compact_facts(self._devices[name], self.eligibility(name)[0])]

    def facts(self, source: str, blockers: Optional[Mapping[str, List[str]]] = None,
              mode: str = 'full') -> Dict[str, Any]:
        """ansible_facts.hostdev. blockers: {name: problem codes} from assignment.assignability(),
        which adds assignable and blockers to each device and the top-level assignable list
        (in compact mode, blockers of the listed devices are enough).

        mode: 'full', every device with every key; or 'compact', the devices of facts_names('compact')
        with the keys of device_facts(mode='compact'), and no eligible list (the devices say it: see
        facts_eligible). The other keys are the same in both.
        """
        groups = self.iommu_groups()
        iommu = dict(self.iommu)
        iommu.setdefault('enabled', bool(groups))
        iommu.setdefault('groups', len(groups))
        iommu.setdefault('kernel_args', {})
        iommu.setdefault('interrupt_remapping', None)
        iommu['hint'] = iommu_hint(iommu)
        listed = self.facts_names(mode)
        return {
            'source': source,
            'iommu': iommu,
            'devices': [self.device_facts(name, blockers, mode) for name in listed],
            'iommu_groups': [{'number': number, 'devices': groups[number]} for number in sorted(groups)],
            **({'eligible': self.eligible_names()} if mode == 'full' else {}),
            **({'assignable': [name for name in listed if not blockers[name]]} if blockers is not None else {}),
            'domains': [
                {'name': dom['name'], 'active': bool(dom.get('active')),
                 'hostdevs': sorted(set(name for source_ in dom.get('hostdevs', ())
                                        for name in self.match_source(source_)))}
                for dom in self.domains],
        }

    # -- a model of facts ---------------------------------------------------

    @classmethod
    def of_facts(cls, devices: Iterable[Mapping[str, Any]], iommu: Optional[Mapping[str, Any]] = None,
                 iommu_groups: Any = None) -> 'HostModel':
        """The model of a host's facts (ansible_facts.hostdev, full or compact): its devices
        (facts_record of each) and, for compact facts, the bridges iommu_groups names.

        The facts are not changed. A PCI device that iommu_groups names and devices leave out
        is a bridge (compact facts leave bridges out: see in_compact_facts), in its group.
        """
        records = [facts_record(device) for device in devices]
        listed = set(record.get('name') for record in records)
        for group in iommu_groups if isinstance(iommu_groups, list) else ():
            number = group.get('number') if isinstance(group, Mapping) else None
            members = group.get('devices') if isinstance(group, Mapping) else None
            if not _is_int(number) or not isinstance(members, list):
                continue
            for member in members:
                address = pci_address_of_name(member)
                if address is not None and member not in listed:
                    listed.add(member)
                    records.append({'name': member, 'type': 'pci', 'parent': None,
                                    'pci': {'address': address, 'class': BRIDGE_CLASS, 'iommu_group': number}})
        return cls(records, iommu=dict(iommu) if isinstance(iommu, Mapping) else None)


# -- facts ---------------------------------------------------------------------

# What the facts give: every device with every key, or a summary of the passthrough candidates.
FACTS_MODES = ('full', 'compact')

# Compact facts: the keys of each device, and of its capability sub-dict. Each passthrough
# candidate with its IOMMU group, driver, holders (assigned_to), blockers and the ids that name
# it; eligibility is that blockers lack not_eligible. The other keys are in the full facts only.
COMPACT_DEVICE_KEYS = ('name', 'type', 'driver', 'iommu_group', 'assigned_to', 'assignable', 'blockers')
COMPACT_CAPABILITY_KEYS = {
    'pci': ('class', 'vendor_id', 'product_id', 'subsystem_vendor_id', 'subsystem_id'),
    'usb': ('bus', 'device', 'vendor_id', 'product_id'),
    'scsi': ('host', 'bus', 'target', 'lun', 'type'),
}

# The class compact facts give a bridge they leave out (HostModel.of_facts).
BRIDGE_CLASS = '0x%02x0000' % PCI_CLASS_BRIDGE


def _facts_mode(mode: str) -> str:
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


def facts_eligible(device: Mapping[str, Any]) -> bool:
    """Whether a device of the facts is eligible for passthrough: its passthrough.eligible, or in
    compact facts (no passthrough key) its blockers lacking not_eligible."""
    passthrough = device.get('passthrough')
    if isinstance(passthrough, Mapping):
        return bool(passthrough.get('eligible'))
    blockers = device.get('blockers')
    return isinstance(blockers, list) and 'not_eligible' not in blockers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _stated_group(record: Record) -> Optional[int]:
    """The iommu_group a record states itself (facts devices do; readers' records do not)."""
    group = record.get('iommu_group')
    return group if _is_int(group) else None


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
        if pci.get('iommu_group') is None and _stated_group(record) is not None:
            pci['iommu_group'] = record['iommu_group']
        if pci.get('address') is None:
            pci['address'] = pci_address_of_name(record.get('name'))
        passthrough = record.get('passthrough')
        reasons = passthrough.get('reasons') if isinstance(passthrough, Mapping) else None
        if pci.get('class') is None and isinstance(reasons, list) and 'pci_bridge' in reasons:
            pci['class'] = BRIDGE_CLASS  # a bridge whose class was left out: it stays a bridge
        record['pci'] = pci
    return record


IOMMU_OFF_HINT = (
    'the IOMMU is off: enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware and add '
    'intel_iommu=on (Intel) or amd_iommu=on (AMD) to the kernel command line, then reboot')


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


def _scsi_host_number(adapter):
    if adapter is None:
        return None
    match = re.match(r'^scsi_host(\d+)$', str(adapter))
    return int(match.group(1)) if match else None
