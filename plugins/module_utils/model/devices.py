# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the rules on one device record: its type, PCI predicates, eligibility for passthrough
with its reason codes, and what keeps a group from a guest. No I/O happens here."""

from typing import Any, List, Mapping, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.model.pci_classes import (
    PCI_CLASS_BRIDGE,
    PCI_CLASS_DISPLAY,
    parse_pci_class,
    pci_class_bytes,
    pci_class_reason,
    pci_kind_prefixes,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import Record, parse_pci_address

# Types whose devices libvirt can hand to a guest as <hostdev mode='subsystem'>.
ASSIGNABLE_TYPES = ('pci', 'usb_device', 'scsi', 'mdev')

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
    'type_not_assignable': 'only pci, usb_device, scsi and mdev devices can be passed through',
}

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
    parsed = pci_class_bytes((record.get('pci') or {}).get('class'))
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


# Host drivers that leave a PCI device free for a guest: a device bound to one of
# them (or to none) can stay in the host while a group sibling goes to a guest.
FREE_DRIVERS = ('vfio-pci', 'pci-stub')


def holds_its_group(driver: Optional[str], holders: List[str]) -> bool:
    """Whether a group member outside a guest keeps its IOMMU group from being passed through:
    bound to a host driver that is not free, or held by another domain (group_not_viable)."""
    return (driver is not None and driver not in FREE_DRIVERS) or bool(holders)
