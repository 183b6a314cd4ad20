# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: PCI class codes: their names, the device kinds a playbook asks for, and the classes
the host keeps. No I/O happens here."""

import re
from typing import Dict, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import UnknownKindError, shown
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import pci_class_code

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
    parsed = pci_class_bytes(pci_class)
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


def pci_class_bytes(pci_class: Optional[str]) -> Optional[Tuple[int, int, int]]:
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
    parsed = pci_class_bytes(pci_class)
    return PCI_CLASS_NAMES.get(parsed[0]) if parsed else None


def pci_subclass_name(pci_class: Optional[str]) -> Optional[str]:
    """The most specific common name of a PCI class code: '0x030200' -> '3D controller',
    '0x010802' -> 'NVMe controller'. None when the subclass is not one of PCI_SUBCLASS_NAMES."""
    parsed = pci_class_bytes(pci_class)
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
