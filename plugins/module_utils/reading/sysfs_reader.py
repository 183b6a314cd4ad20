# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: read a host's devices straight from sysfs, named as libvirt names them.

Device names follow libvirt's scheme, so a playbook does not care which reader
ran; the records are built through records.py, as libvirt_reader builds its.
The IOMMU state, the host's own use of devices, libvirt's domain files and the
id names each have a module of their own, reading through the same SysfsTree.
"""

import os
import re
from typing import Any, Dict, List, Optional, Tuple, Union

from ansible_collections.virt.hostdev.plugins.module_utils.reading.id_names import fill_names
from ansible_collections.virt.hostdev.plugins.module_utils.reading.mdev_definitions import (
    Definitions,
    definition_states,
    read_definitions,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import parent_address, parent_types
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    device_record,
    mdev_name,
    normalize_hex_id,
    normalize_uuid,
    parse_pci_address,
    pci_address_fields,
    pci_name,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_sriov import SriovLinks, read_sriov, vf_indexes
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

# SCSI peripheral device types as libvirt names them.
SCSI_TYPES = {
    0x00: 'disk', 0x01: 'tape', 0x03: 'processor', 0x04: 'worm', 0x05: 'cdrom',
    0x06: 'scanner', 0x07: 'mod', 0x08: 'changer', 0x0c: 'raid', 0x0d: 'enclosure',
}

# The entries of /sys/bus/scsi/devices, by the type of device they are.
SCSI_ENTRY_PATTERNS = {
    'scsi_host': re.compile(r'^host[0-9]+$'),
    'scsi_target': re.compile(r'^target[0-9]+:[0-9]+:[0-9]+$'),
    'scsi': re.compile(r'^[0-9]+:[0-9]+:[0-9]+:[0-9]+$'),
}

# The kernel prints a type's available_instances as an unsigned int.
MAX_AVAILABLE_INSTANCES = 0xffffffff

# The ranges of the other numbers read (anything else is junk, unknown with a warning): a NUMA node (-1:
# none; MAX_NUMNODES is at most 1 << 10), USB bus and device numbers (a byte each, as libusb holds them),
# the bytes of a USB interface descriptor (hexadecimal), a SCSI host's unique_id (an unsigned int) and a
# SCSI device's peripheral type (a byte).
NUMA_NODES = (-1, 1023)
MAX_USB_BYTE = 0xff
MAX_SCSI_UNIQUE_ID = 0xffffffff
MAX_SCSI_TYPE = 0xff

USB_INTERFACE_ATTRIBUTES = (('number', 'bInterfaceNumber'), ('class', 'bInterfaceClass'),
                            ('subclass', 'bInterfaceSubClass'), ('protocol', 'bInterfaceProtocol'))


def libvirt_style_name(*parts: str) -> str:
    """Join parts with '_' and replace every non-alphanumeric character, as libvirt does."""
    return re.sub(r'[^A-Za-z0-9]', '_', '_'.join(parts))


class SysfsReader:
    """Reads one host's devices from sysfs. Each attribute is read at most once per run."""

    def __init__(self, tree: Union[SysfsTree, str] = '/sys') -> None:
        self.tree = tree if isinstance(tree, SysfsTree) else SysfsTree(tree)
        self._definitions: Optional[Definitions] = None
        self._definitions_read = False
        self._sriov_links = SriovLinks()

    def definitions(self) -> Optional[Definitions]:
        """mdevctl's definitions (mdev_definitions.read_definitions), read once per reader."""
        if not self._definitions_read:
            self._definitions = read_definitions(self.tree)
            self._definitions_read = True
        return self._definitions

    @property
    def warnings(self) -> List[str]:
        return self.tree.warnings

    def _attr(self, path: str, name: str) -> Optional[str]:
        return self.tree.read(os.path.join(path, name))

    def _attr_int(self, path: str, name: str, maximum: int, minimum: int = 0, base: int = 10) -> Optional[int]:
        return self.tree.read_int(os.path.join(path, name), maximum, minimum, base)

    # -- capabilities, from one device directory -----------------------------

    def pci_details(self, path: str, name: str) -> Optional[Dict[str, Any]]:
        """The values of a PCI record (see records.CAPABILITIES) from its sysfs directory.

        The names (vendor, product, class_name) are left empty: read_devices fills them
        for every device at once (id_names.fill_names), as host_reader does after enrichment.
        """
        address = parse_pci_address(os.path.basename(path)) or parse_pci_address(_address_text(name))
        if address is None:
            return None
        vendor_id = normalize_hex_id(self._attr(path, 'vendor'))
        product_id = normalize_hex_id(self._attr(path, 'device'))
        group = self._iommu_group(path, name)
        boot_vga = self._attr(path, 'boot_vga')
        reset_method = self._attr(path, 'reset_method')
        return dict(pci_address_fields(address), **{
            'class': self._attr(path, 'class'),
            'vendor_id': vendor_id,
            'product_id': product_id,
            'subsystem_vendor_id': normalize_hex_id(self._attr(path, 'subsystem_vendor')),
            'subsystem_id': normalize_hex_id(self._attr(path, 'subsystem_device')),
            'iommu_group': group,
            'numa_node': self._attr_int(path, 'numa_node', NUMA_NODES[1], NUMA_NODES[0]),
            'boot_vga': None if boot_vga is None else boot_vga == '1',
            'reset_method': reset_method.split() if reset_method else None,
            'sriov': read_sriov(self.tree, path, self._sriov_links),
            'mdev_types': self._mdev_types(path),
        })

    def _iommu_group(self, path: str, name: str) -> Optional[int]:
        """The device's IOMMU group number; None without one, with a warning when its link is junk."""
        link = os.path.join(path, 'iommu_group')
        target = self.tree.link_name(link)
        if target is not None and target.isdigit() and target.isascii():
            return int(target)
        if target is not None or os.path.lexists(link):
            self.tree.warnings.append('the iommu_group link of %s cannot be read as a group number (%s); '
                                      'its IOMMU group is unknown' % (name, target or 'unreadable'))
        return None

    def _mdev_types(self, path):
        """The types an mdev parent offers (its mdev_supported_types/), None for no parent."""
        types_dir = os.path.join(path, 'mdev_supported_types')
        if not os.path.isdir(types_dir):
            return None
        types = []
        for type_id in self.tree.listdir(types_dir):
            directory = os.path.join(types_dir, type_id)
            types.append({'type': type_id, 'name': self.tree.read_text(os.path.join(directory, 'name')),
                          'device_api': self.tree.read_text(os.path.join(directory, 'device_api')),
                          'available_instances': self.tree.read_count(os.path.join(directory, 'available_instances'),
                                                                      MAX_AVAILABLE_INSTANCES),
                          'description': self.tree.read_text(os.path.join(directory, 'description'))})
        return types

    def mdev_details(self, path: str, name: str) -> Optional[Dict[str, Any]]:
        """The values of an mdev record from its directory (/sys/bus/mdev/devices/<uuid>'s target),
        with persistent and autostart from mdevctl's definitions (None without mdevctl)."""
        uuid = normalize_uuid(os.path.basename(path))
        if uuid is None:
            return None
        parent = os.path.basename(os.path.dirname(path))
        persistent, autostart = definition_states(self.definitions(), uuid, parent)
        type_dir = self._mdev_type_dir(path, uuid)
        return {'uuid': uuid, 'type': os.path.basename(type_dir) if type_dir else None,
                'device_api': self.tree.read_text(os.path.join(type_dir, 'device_api')) if type_dir else None,
                'parent_address': parent, 'iommu_group': self._iommu_group(path, name),
                'active': True,
                'persistent': persistent, 'autostart': autostart}

    def _mdev_type_dir(self, path: str, uuid: str) -> Optional[str]:
        """The directory of an mdev's type: where its mdev_type link leads, when that is a type its parent
        offers (<parent>/mdev_supported_types/<type>); None, with a warning, when it is not (missing,
        dangling, or leading elsewhere: the link's last word would be a type read from junk)."""
        link = os.path.join(path, 'mdev_type')
        real = self.tree.resolved(link)
        if os.path.dirname(real) == os.path.join(os.path.dirname(path), 'mdev_supported_types') and os.path.isdir(real):
            return real
        self.tree.warnings.append('the mdev_type link of mdev %s (%s) names no type its parent offers: its type is '
                                  'unknown' % (uuid, self.tree.libvirt_path(link)))
        return None

    def usb_details(self, path: str) -> Dict[str, Any]:
        """The values of a usb_device record from its sysfs directory (names: see read_devices)."""
        return {
            'bus': self._attr_int(path, 'busnum', MAX_USB_BYTE),
            'device': self._attr_int(path, 'devnum', MAX_USB_BYTE),
            'vendor_id': normalize_hex_id(self._attr(path, 'idVendor')),
            'product_id': normalize_hex_id(self._attr(path, 'idProduct')),
            'class': normalize_hex_id(self._attr(path, 'bDeviceClass'), 2),
        }

    def details(self, device_type: Optional[str], path: str, name: str) -> Optional[Dict[str, Any]]:
        """The capability values of a device of device_type from its directory, or None."""
        entry = os.path.basename(path)
        pattern = SCSI_ENTRY_PATTERNS.get(device_type or '')
        if pattern is not None and not pattern.match(entry):
            return None  # not a directory this reader knows how to read (enrichment of libvirt's path)
        if device_type == 'pci':
            return self.pci_details(path, name)
        if device_type == 'usb_device':
            return self.usb_details(path)
        if device_type == 'mdev':
            return self.mdev_details(path, name)
        if device_type == 'mdev_types':
            return {'types': self._mdev_types(path)}
        if device_type == 'usb':
            return dict((key, self._attr_int(path, attr, MAX_USB_BYTE, base=16)) for key, attr in USB_INTERFACE_ATTRIBUTES)
        if device_type == 'scsi_host':
            return {'host': int(entry[len('host'):]),
                    'unique_id': self._attr_int(os.path.join(path, 'scsi_host', entry), 'unique_id', MAX_SCSI_UNIQUE_ID)}
        if device_type == 'scsi_target':
            return {'target': entry}
        if device_type == 'scsi':
            host, bus, target, lun = (int(part) for part in entry.split(':'))
            scsi_type = self._attr_int(path, 'type', MAX_SCSI_TYPE)
            return {'host': host, 'bus': bus, 'target': target, 'lun': lun,
                    'type': SCSI_TYPES.get(scsi_type) if scsi_type is not None else None}
        return None

    def driver_of(self, path: str) -> Optional[str]:
        return self.tree.link_name(os.path.join(path, 'driver'))

    def record_at(self, path: str, name: str, device_type: Optional[str],
                  details: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """The record of the device in directory path, without its parent (see read_devices).

        details: capability values already read while listing (net, storage).
        """
        if details is None:
            details = self.details(device_type, path, name)
        return device_record(name, device_type, path=self.tree.libvirt_path(path),
                             driver=self.driver_of(path), details=details)

    # -- listing ---------------------------------------------------------------

    def _listed(self) -> List[Tuple[str, Dict[str, Any]]]:
        """(directory, record without parent) of every device this reader lists."""
        tree = self.tree
        found: List[Tuple[str, str, str, Optional[Dict[str, Any]]]] = []
        pci_root = tree.path('bus', 'pci', 'devices')
        for entry in tree.listdir(pci_root):
            address = parse_pci_address(entry)
            if address is not None:
                found.append((os.path.join(pci_root, entry), pci_name(*address), 'pci', None))
        usb_root = tree.path('bus', 'usb', 'devices')
        for entry in tree.listdir(usb_root):
            found.append((os.path.join(usb_root, entry), libvirt_style_name('usb', entry),
                          'usb' if ':' in entry else 'usb_device', None))
        scsi_root = tree.path('bus', 'scsi', 'devices')
        for entry in tree.listdir(scsi_root):
            for kind, pattern in SCSI_ENTRY_PATTERNS.items():
                if pattern.match(entry):
                    found.append((os.path.join(scsi_root, entry), libvirt_style_name('scsi', entry), kind, None))
        net_root = tree.path('class', 'net')
        for entry in tree.listdir(net_root):
            mac = self._attr(os.path.join(net_root, entry), 'address') or None
            found.append((os.path.join(net_root, entry), libvirt_style_name('net', entry, *[mac] if mac else []),
                          'net', {'interface': entry, 'address': mac}))
        block_root = tree.path('class', 'block')
        for entry in tree.listdir(block_root):
            base = os.path.join(block_root, entry)
            # Whole disks with a backing device only, as libvirt lists them.
            if os.path.exists(os.path.join(base, 'partition')) or not os.path.exists(os.path.join(base, 'device')):
                continue
            serial = self._udev_property(base, 'ID_SERIAL')
            found.append((base, libvirt_style_name('block', entry, *[serial] if serial else []), 'storage',
                          {'block': '/dev/' + entry, 'model': self._attr(os.path.join(base, 'device'), 'model'),
                           'vendor': self._attr(os.path.join(base, 'device'), 'vendor'), 'serial': serial}))
        found.extend(self._mdev_entries())
        listed = []
        seen = set()
        for link, name, kind, details in found:
            real = tree.resolved(link)
            if not os.path.isdir(real):
                tree.warnings.append(self._missing(link, name))
                continue
            if real in seen:
                continue
            seen.add(real)
            listed.append((real, self.record_at(real, name, kind, details)))
        return listed

    def _mdev_entries(self) -> List[Tuple[str, str, str, Optional[Dict[str, Any]]]]:
        """(link, name, kind, details) of the mdev parents that are not PCI devices (a PCI parent is
        listed as PCI) and of the mdevs that exist, named as libvirt's udev backend names them:
        a parent <subsystem>_<sysname> (mtty_mtty), an mdev mdev_<uuid>_<parent's sysfs name>."""
        tree = self.tree
        found: List[Tuple[str, str, str, Optional[Dict[str, Any]]]] = []
        bus_root = tree.path('class', 'mdev_bus')
        for entry in tree.listdir(bus_root):
            if parse_pci_address(entry) is None:  # a PCI parent is listed as PCI, with its pci.mdev_types
                found.append((os.path.join(bus_root, entry), self._parent_node_name(
                    tree.resolved(os.path.join(bus_root, entry))), 'mdev_types', None))
        mdev_root = tree.path('bus', 'mdev', 'devices')
        for entry in tree.listdir(mdev_root):
            uuid = normalize_uuid(entry)
            if uuid is not None:
                real = tree.resolved(os.path.join(mdev_root, entry))
                if os.path.isdir(real) and normalize_uuid(os.path.basename(real)) != uuid:
                    # The kernel names the link as the directory: this one would give B's values A's name.
                    tree.warnings.append('bus/mdev/devices/%s leads to %s, the directory of another mdev: skipped'
                                         % (entry, tree.libvirt_path(real)))
                    continue
                parent = os.path.basename(os.path.dirname(real))
                found.append((os.path.join(mdev_root, entry), mdev_name(uuid, parent), 'mdev', None))
        return found

    def _parent_node_name(self, real: str) -> str:
        """The node device name of the mdev parent in directory real: a PCI device's, else <subsystem>_<sysname>."""
        entry = os.path.basename(real)
        address = parse_pci_address(entry)
        if address is not None:
            return pci_name(*address)
        return libvirt_style_name(self.tree.link_name(os.path.join(real, 'subsystem')) or 'mdev_bus', entry)

    def defined_mdevs(self, records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Records of mdevctl's defined mdevs that do not exist now (active false), their parent the
        record of their parent's sysfs name when the host has it (None: the parent is gone)."""
        existing = set((record.get('mdev') or {}).get('uuid') for record in records if record.get('type') == 'mdev')
        parents = dict((parent_address(record), record['name']) for record in records if parent_types(record) is not None)
        defined = []
        for uuid, definition in sorted((self.definitions() or {}).items()):
            if uuid in existing or not definition.understood:
                continue  # a file not understood names no type or parent to list it by (read_definitions warned)
            defined.append(device_record(
                mdev_name(uuid, definition.parent_address), 'mdev', parent=parents.get(definition.parent_address),
                details={'uuid': uuid, 'type': definition.type, 'parent_address': definition.parent_address,
                         'active': False, 'persistent': True, 'autostart': definition.autostart}))
        return defined

    def _missing(self, link: str, name: str) -> str:
        """The warning for a listed device whose directory is not there.

        A link still there that leads nowhere is a dangling link, which a live sysfs does not
        have (it removes a device's links first) but a partial copy of a tree does; a link gone
        too is a device removed while it was read (hot-unplug).
        """
        target = self.tree.link_target(link)
        if target is None:
            return 'device %s vanished while it was read; skipped' % name
        return ('the link %s points to %s, which is not in the tree (a dangling link: is the tree an '
                'incomplete copy?); device %s skipped' % (os.path.relpath(link, self.tree.root), target, name))

    def _udev_property(self, block_dir, key):
        dev = self._attr(block_dir, 'dev')
        if not dev:
            return None
        text = self.tree.read(self.tree.host_file(os.path.join('run', 'udev', 'data', 'b' + dev)))
        for line in (text or '').splitlines():
            if line.startswith('E:%s=' % key):
                return line.split('=', 1)[1] or None
        return None

    def read_devices(self) -> List[Dict[str, Any]]:
        """Device records of every device, with libvirt-style names, parents and vendor, product
        and class names."""
        listed = self._listed()
        by_real_path = dict((real, record['name']) for real, record in listed)
        records = [device_record('computer', 'system')]
        for real, record in listed:
            if record['type'] == 'mdev':  # its parent, listed or not (stale): never an ancestor further up
                record['parent'] = by_real_path.get(os.path.dirname(real)) or self._parent_node_name(os.path.dirname(real))
            else:
                record['parent'] = self._parent_name(real, by_real_path)
            if record['type'] == 'scsi_host' and os.path.isdir(os.path.join(real, 'fc_host')):
                record['capabilities'] = ['fc_host']
            if record['type'] == 'pci' and (record.get('pci') or {}).get('mdev_types') is not None:
                record['capabilities'] = ['mdev_types']  # libvirt's sub-capability of a PCI parent
            records.append(record)
        vf_indexes(records, self._sriov_links, self.tree.warnings)
        records.extend(self.defined_mdevs(records))
        fill_names(records, self.tree)
        return records

    def _parent_name(self, real, by_real_path):
        devices_root = self.tree.path('devices')
        current = os.path.dirname(real)
        while current.startswith(devices_root) and current != devices_root:
            if current in by_real_path:
                return by_real_path[current]
            current = os.path.dirname(current)
        return 'computer'


def _address_text(name):
    """'0000:01:00.0' from libvirt's name pci_0000_01_00_0 (anything else gives no address)."""
    parts = name.split('_')
    if len(parts) != 5 or parts[0] != 'pci':
        return ''
    return '%s:%s:%s.%s' % tuple(parts[1:])
