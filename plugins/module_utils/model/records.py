# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the device record of virt.hostdev, declared once. No I/O happens here.

A *device record* is what a reader (libvirt_reader, sysfs_reader) makes of one
node device: the keys in ``DEVICE_KEYS`` plus, for the capability types in
``CAPABILITIES``, one sub-dict (``pci``, ``usb``, ``scsi``, ...) with exactly
the keys declared there. Readers build records only through ``device_record()``
and ``capability_record()``, so both readers give the same shape and the rules
that shape values (NUMA node, SR-IOV, IDs) live here. Host usage adds
``host_use`` (a list of uses) to the records of the devices the host runs on.

Also here: how devices are named and identified (PCI addresses, libvirt node
device names, hex IDs), which every other module needs.
"""

import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

# -- identifiers -------------------------------------------------------------

PCI_ADDRESS_RE = re.compile(
    r'^(?:(?P<domain>[0-9a-fA-F]{1,4}):)?(?P<bus>[0-9a-fA-F]{1,2}):'
    r'(?P<slot>[0-9a-fA-F]{1,2})\.(?P<function>[0-7])$')
USB_ID_RE = re.compile(r'^(?P<vendor>[0-9a-fA-F]{4}):(?P<product>[0-9a-fA-F]{4})$')
# [0-9], not \d: \d also matches other scripts' digits, which int() then accepts.
USB_BUS_DEVICE_RE = re.compile(r'^(?P<bus>[0-9]{1,3})\.(?P<device>[0-9]{1,3})$')

PciAddress = Tuple[int, int, int, int]

# A device record (see the module docstring): the dict a reader makes of one node device.
Record = Dict[str, Any]


def pci_name(domain: int, bus: int, slot: int, function: int) -> str:
    """libvirt's node device name of a PCI address, e.g. pci_0000_01_00_0."""
    return 'pci_%04x_%02x_%02x_%x' % (domain, bus, slot, function)


def pci_address(domain: int, bus: int, slot: int, function: int) -> str:
    """The canonical PCI address string, e.g. 0000:01:00.0."""
    return '%04x:%02x:%02x.%x' % (domain, bus, slot, function)


# libvirt's name of a PCI node device, pci_DDDD_BB_SS_F (pci_name makes it).
PCI_NAME_RE = re.compile(r'^pci_([0-9a-f]{4})_([0-9a-f]{2})_([0-9a-f]{2})_([0-7])$')


UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')


def normalize_uuid(value: Any) -> Optional[str]:
    """A UUID as libvirt and sysfs write it (lower case, dashed), or None when value is not one."""
    text = str(value).strip().lower() if isinstance(value, str) else ''
    return text if UUID_RE.match(text) else None


def mdev_name(uuid: str, parent_address: Optional[str]) -> str:
    """The node device name libvirt (7.6 and later) gives a mediated device: mdev_<uuid>_<parent>,
    every character but letters and digits made '_' (mdev_<uuid> when the parent is unknown).

    parent_address is the parent's sysfs name: 0000:00:02.0 for a PCI parent, mtty for mtty.
    """
    parts = ['mdev', uuid] + ([parent_address] if parent_address else [])
    return re.sub(r'[^A-Za-z0-9]', '_', '_'.join(parts))


def pci_address_of_name(name: Any) -> Optional[str]:
    """The PCI address a node device name gives: pci_0000_01_00_0 -> 0000:01:00.0; None for other names."""
    match = PCI_NAME_RE.match(name) if isinstance(name, str) else None
    if match is None:
        return None
    domain, bus, slot, function = (int(part, 16) for part in match.groups())
    return pci_address(domain, bus, slot, function)


def parse_pci_address(text: str) -> Optional[PciAddress]:
    """Parse 'DDDD:BB:SS.F' or 'BB:SS.F' into (domain, bus, slot, function) or None."""
    match = PCI_ADDRESS_RE.match(text.strip())
    if not match:
        return None
    domain = int(match.group('domain') or '0', 16)
    return (domain, int(match.group('bus'), 16), int(match.group('slot'), 16),
            int(match.group('function')))


def pci_address_fields(address: PciAddress) -> Dict[str, Any]:
    """The address keys of a PCI record: the canonical string and its four numbers."""
    domain, bus, slot, function = address
    return {'address': pci_address(domain, bus, slot, function), 'domain': domain, 'bus': bus,
            'slot': slot, 'function': function}


def pci_class_code(value: Any) -> Optional[int]:
    """The 24-bit PCI class code of '0x030200' (or '030200'); None when unreadable or wider."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text.startswith('0x'):
        text = text[2:]
    if not text or len(text) > 6 or any(char not in '0123456789abcdef' for char in text):
        return None
    return int(text, 16)


def normalize_pci_class(value: Any) -> Optional[str]:
    """'0x030200' for a readable 24-bit PCI class, else None (the class is unknown)."""
    code = pci_class_code(value)
    return None if code is None else '0x%06x' % code


def normalize_hex_id(value: Any, width: int = 4) -> Optional[str]:
    """'10de', '0x10DE' or 4318 -> '0x10de'; None (or anything unreadable) gives None."""
    if value is None:
        return None
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip().lower()
        if not text:
            return None
        try:
            number = int(text, 16)
        except ValueError:
            return None
    return '0x%0*x' % (width, number)


# -- the record layout ---------------------------------------------------------

# Every record has these keys; 'capabilities' lists libvirt's sub-capabilities
# (fc_host, vports, virt_functions, ...), sorted.
DEVICE_KEYS = ('name', 'type', 'parent', 'path', 'driver', 'capabilities')

# libvirt capability type -> (the record's key for its sub-dict, the sub-dict's keys).
CAPABILITIES = {
    'pci': ('pci', (
        'address', 'domain', 'bus', 'slot', 'function', 'class', 'class_name', 'vendor_id', 'product_id',
        'vendor', 'product', 'subsystem_vendor_id', 'subsystem_id', 'iommu_group', 'numa_node',
        'boot_vga', 'reset_method', 'sriov', 'mdev_types')),
    'usb_device': ('usb', ('bus', 'device', 'vendor_id', 'product_id', 'vendor', 'product', 'class')),
    'usb': ('usb_interface', ('number', 'class', 'subclass', 'protocol')),
    'scsi': ('scsi', ('host', 'bus', 'target', 'lun', 'type')),
    'scsi_host': ('scsi_host', ('host', 'unique_id')),
    'scsi_target': ('scsi_target', ('target',)),
    'net': ('net', ('interface', 'address')),
    'storage': ('storage', ('block', 'model', 'vendor', 'serial')),
    # A mediated device (MDEV_KEYS), and a parent of mdevs that is not a PCI device (mtty, css,
    # ap_matrix): its types (MDEV_TYPE_KEYS). A PCI parent's types are its pci.mdev_types.
    'mdev': ('mdev', ('uuid', 'type', 'device_api', 'parent_address', 'iommu_group', 'active', 'persistent',
                      'autostart')),
    'mdev_types': ('mdev_parent', ('types',)),
}

# Every capability name libvirt's node devices use (formatnode; virsh nodedev-list --cap),
# including sub-capabilities such as fc_host and vports: what a `cap` filter may name.
NODEDEV_CAPABILITIES = (
    'system', 'pci', 'usb_device', 'usb', 'net', 'scsi_host', 'scsi_target', 'scsi', 'storage',
    'fc_host', 'vports', 'scsi_generic', 'drm', 'mdev_types', 'mdev', 'ccw', 'css', 'vdpa',
    'ap_card', 'ap_queue', 'ap_matrix', 'vpd')

# The per-type sub-dict keys a record may carry, in a stable order.
CAPABILITY_KEYS = tuple(key for key, _fields in CAPABILITIES.values())

# pci.sriov of a physical function (PF: totalvfs set) or a virtual function (VF: physical_function
# set); one shape for both, what does not apply is None. virtual_functions and physical_function
# are PCI addresses; virtual_functions is in VF index order. netdev: the function's network
# interface. link: what the PF says of a VF (SRIOV_LINK_KEYS: `ip link`); vgpu: NVIDIA's vGPU
# attributes of a VF (SRIOV_VGPU_KEYS). offset and stride: a PF's sriov_offset and sriov_stride, where
# its VFs go (model.sriov). drivers_autoprobe, offset, stride, link and vgpu come from the host alone
# (sysfs, `ip link`): a read through libvirt alone leaves them None.
SRIOV_KEYS = ('totalvfs', 'numvfs', 'drivers_autoprobe', 'offset', 'stride', 'virtual_functions',
              'physical_function', 'vf_index', 'netdev', 'link', 'vgpu')
SRIOV_LINK_KEYS = ('mac', 'vlan', 'qos', 'spoof_check', 'trust', 'link_state')
SRIOV_VGPU_KEYS = ('creatable_types', 'current_type')
MDEV_TYPE_KEYS = ('type', 'name', 'device_api', 'available_instances', 'description')


def numa_node(value: Optional[int]) -> Optional[int]:
    """The NUMA node of a device; the kernel and libvirt say -1 for 'none'."""
    return value if value is not None and value >= 0 else None


def _declared(values: Any, keys: Tuple[str, ...]) -> Optional[Dict[str, Any]]:
    return dict((key, values.get(key)) for key in keys) if isinstance(values, dict) else None


def sriov(values: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """One shape for SR-IOV facts whichever reader found them (None: not SR-IOV).

    numvfs is the count the reader read (sysfs: sriov_numvfs), else the number of virtual functions
    listed, when they are listed; the readers list them in VF index order (virtfnN in sysfs,
    libvirt's own order), which is kept.
    """
    if values is None:
        return None
    functions = values.get('virtual_functions')
    shaped = dict((key, values.get(key)) for key in SRIOV_KEYS)
    if shaped['numvfs'] is None and functions is not None:
        shaped['numvfs'] = len(functions)
    shaped['virtual_functions'] = list(functions or [])
    shaped['link'] = _declared(values.get('link'), SRIOV_LINK_KEYS)
    shaped['vgpu'] = _declared(values.get('vgpu'), SRIOV_VGPU_KEYS)
    return shaped


def mdev_types(types: Optional[Iterable[Dict[str, Any]]]) -> Optional[List[Dict[str, Any]]]:
    """Mediated device types sorted by type id, each with exactly MDEV_TYPE_KEYS."""
    if types is None:
        return None
    shaped = [dict((key, item.get(key)) for key in MDEV_TYPE_KEYS) for item in types]
    return sorted(shaped, key=lambda item: item['type'] or '')


# (capability type, key) -> the rule that shapes the value a reader found.
_SHAPERS: Dict[Tuple[str, str], Callable[[Any], Any]] = {
    ('pci', 'class'): normalize_pci_class,
    ('pci', 'numa_node'): numa_node,
    ('pci', 'sriov'): sriov,
    ('pci', 'mdev_types'): mdev_types,
    ('mdev_types', 'types'): mdev_types,
}


def capability_record(device_type: str, **values: Any) -> Dict[str, Any]:
    """The sub-dict of a capability type with every declared key (None when not given).

    A key the declaration does not know is a programming error (ValueError), so
    a reader cannot grow a key the other reader lacks.
    """
    _key, fields = CAPABILITIES[device_type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError('%s record has no key %s' % (device_type, ', '.join(unknown)))
    record = {}
    for field in fields:
        value = values.get(field)
        shaper = _SHAPERS.get((device_type, field))
        record[field] = shaper(value) if shaper else value
    return record


def device_record(name: Optional[str], device_type: Optional[str], parent: Optional[str] = None,
                  path: Optional[str] = None, driver: Optional[str] = None,
                  capabilities: Iterable[str] = (),
                  details: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A device record. details: the capability's values (see capability_record)."""
    record: Dict[str, Any] = {
        'name': name,
        'type': device_type,
        'parent': parent,
        'path': path,
        'driver': driver,
        'capabilities': sorted(capabilities),
    }
    if device_type in CAPABILITIES and details is not None:
        record[CAPABILITIES[device_type][0]] = capability_record(device_type, **details)
    return record


def capability_of(record: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The capability sub-dict of a record (its 'pci', 'usb', ... dict), or None."""
    declared = CAPABILITIES.get(record.get('type') or '')
    return record.get(declared[0]) if declared else None


def fill_gaps(record: Dict[str, Any], other: Dict[str, Any]) -> None:
    """Fill the None values of record (its driver and declared capability keys) from other.

    Both records describe the same device of the same type; record's values win.
    """
    if record.get('driver') is None:
        record['driver'] = other.get('driver')
    mine, theirs = capability_of(record), capability_of(other)
    if mine is None or theirs is None or record.get('type') != other.get('type'):
        return
    for field in CAPABILITIES[record['type']][1]:
        if mine.get(field) is None:
            mine[field] = theirs.get(field)
        elif field == 'sriov' and isinstance(theirs.get(field), dict):
            # libvirt says what a PF has; sysfs adds what libvirt does not say (drivers_autoprobe, vgpu)
            for key, value in theirs[field].items():
                if mine[field].get(key) is None:
                    mine[field][key] = value
        elif field in ('mdev_types', 'types') and isinstance(theirs.get(field), list):
            # libvirt lists a parent's types; sysfs adds what libvirt does not say (description)
            their_types = dict((item.get('type'), item) for item in theirs[field])
            for item in mine[field]:
                for key, value in their_types.get(item.get('type'), {}).items():
                    if item.get(key) is None:
                        item[key] = value


def link_virtual_functions(records: Iterable[Record]) -> None:
    """Fill what a function's SR-IOV facts take from the other records of the same read: a VF's
    vf_index (its place in its own PF's list) and each function's netdev (its net child's interface).

    One pass over the records, so a host of thousands of VFs costs what its records do.
    """
    records = list(records)
    interfaces: Dict[str, List[str]] = {}
    for record in records:
        interface = (record.get('net') or {}).get('interface') if record.get('type') == 'net' else None
        if interface and record.get('parent'):
            interfaces.setdefault(record['parent'], []).append(interface)
    # By (PF, VF): a VF another PF lists too (junk in a tree) takes its index from its own PF's list.
    index_of: Dict[Tuple[Any, str], int] = {}
    functions = []
    for record in records:
        values = (record.get('pci') or {}).get('sriov') if record.get('type') == 'pci' else None
        if not values:
            continue
        functions.append((record, values))
        for index, address in enumerate(values.get('virtual_functions') or ()):
            index_of[(record['pci'].get('address'), address)] = index
    for record, values in functions:
        if values.get('netdev') is None and record['name'] in interfaces:
            values['netdev'] = sorted(interfaces[record['name']])[0]
        if values.get('physical_function') is not None and values.get('vf_index') is None:
            values['vf_index'] = index_of.get((values['physical_function'], record['pci'].get('address')))


def unique_sources(sources: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Domain hostdev source dicts without repeats (persistent and live name the same device)."""
    unique = []
    for source in sources:
        if source not in unique:
            unique.append(source)
    return unique
