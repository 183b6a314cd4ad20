# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: read a host's devices and IOMMU state straight from sysfs.

The root is configurable (default /sys) so tests can point it at a fake tree.
Files that live outside /sys are read relative to the root's parent, the way
they sit on a real filesystem: ``<root>/../proc/cmdline``,
``<root>/../run/udev/data``, ``<root>/../usr/share/misc/pci.ids``,
``<root>/../etc/libvirt/qemu``. Device names follow libvirt's scheme, so a
playbook does not care which reader ran.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import xml.etree.ElementTree as ET

from ansible_collections.virt.hostdev.plugins.module_utils.device_model import (
    normalize_hex_id,
    parse_pci_address,
    pci_address,
    pci_name,
)
from ansible_collections.virt.hostdev.plugins.module_utils.domain_xml import hostdev_sources

# SCSI peripheral device types as libvirt names them.
SCSI_TYPES = {
    0x00: 'disk', 0x01: 'tape', 0x03: 'processor', 0x04: 'worm', 0x05: 'cdrom',
    0x06: 'scanner', 0x07: 'mod', 0x08: 'changer', 0x0c: 'raid', 0x0d: 'enclosure',
}

# Kernel command line parameters that shape IOMMU and VFIO behaviour.
IOMMU_ARG_PREFIXES = (
    'intel_iommu', 'amd_iommu', 'iommu', 'iommu.', 'intremap', 'pcie_acs_override',
    'vfio-pci.', 'vfio_pci.', 'vfio_iommu_type1.', 'vfio.', 'rd.driver.pre',
)

ID_DATABASES = {
    'pci': ('usr/share/misc/pci.ids', 'usr/share/hwdata/pci.ids'),
    'usb': ('usr/share/misc/usb.ids', 'usr/share/hwdata/usb.ids'),
}


def libvirt_style_name(*parts):
    """Join parts with '_' and replace every non-alphanumeric character, as libvirt does."""
    return re.sub(r'[^A-Za-z0-9]', '_', '_'.join(parts))


def parse_kernel_args(cmdline):
    """The IOMMU-related parameters of a kernel command line as {name: value or True}."""
    args = {}
    for token in (cmdline or '').split():
        name, sep, value = token.partition('=')
        if any(name == prefix or (prefix.endswith('.') and name.startswith(prefix))
               for prefix in IOMMU_ARG_PREFIXES):
            args[name] = value if sep else True
    return args


def interrupt_remapping_from(interrupts_text):
    """True when /proc/interrupts routes interrupts through a remapping domain (IR-*)."""
    if interrupts_text is None:
        return None
    return bool(re.search(r'\bIR-', interrupts_text))


class SysfsReader:
    """Reads one host's sysfs tree. Each attribute is read at most once per run."""

    def __init__(self, root='/sys'):
        self.root = os.path.abspath(root)
        self.host_root = os.path.dirname(self.root)
        self.warnings = []
        self._id_names = {}

    # -- small readers: an unreadable attribute is None ------------------

    def _read(self, path):
        try:
            with open(path) as handle:
                return handle.read().strip()
        except (IOError, OSError, UnicodeDecodeError):
            return None

    def _read_int(self, path, base=10):
        text = self._read(path)
        if text is None:
            return None
        try:
            return int(text, base)
        except ValueError:
            return None

    def _link_name(self, path):
        try:
            return os.path.basename(os.readlink(path))
        except OSError:
            return None

    def _listdir(self, path):
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def host_file(self, relative):
        return os.path.join(self.host_root, relative)

    def libvirt_path(self, real_path):
        """The /sys/... path libvirt reports for a device directory under the root."""
        relative = os.path.relpath(real_path, self.root)
        return '/sys' if relative == '.' else '/sys/' + relative

    def real_path(self, libvirt_path):
        """Where libvirt's /sys/... path of a device lives under this root, or None."""
        if not libvirt_path or not libvirt_path.startswith('/sys/'):
            return None
        path = os.path.join(self.root, libvirt_path[len('/sys/'):])
        return path if os.path.isdir(path) else None

    # -- vendor and product names ----------------------------------------

    def _ids(self, kind):
        """{vendor_id: (name, {product_id: name})} from pci.ids or usb.ids, if present."""
        if kind in self._id_names:
            return self._id_names[kind]
        table = {}
        for relative in ID_DATABASES[kind]:
            path = self.host_file(relative)
            if os.path.isfile(path):
                table = _parse_ids(path)
                break
        self._id_names[kind] = table
        return table

    def id_names(self, kind, vendor_id, product_id):
        vendor = self._ids(kind).get(vendor_id)
        if vendor is None:
            return None, None
        return vendor[0], vendor[1].get(product_id)

    # -- devices -----------------------------------------------------------

    def pci_attributes(self, path, name):
        """The pci sub-dict of a device record from its sysfs directory."""
        address = parse_pci_address(os.path.basename(path)) or _address_from_name(name)
        vendor_id = normalize_hex_id(self._read(os.path.join(path, 'vendor')))
        product_id = normalize_hex_id(self._read(os.path.join(path, 'device')))
        vendor, product = self.id_names('pci', vendor_id, product_id)
        pci_class = self._read(os.path.join(path, 'class'))
        group = self._link_name(os.path.join(path, 'iommu_group'))
        numa_node = self._read_int(os.path.join(path, 'numa_node'))
        boot_vga = self._read(os.path.join(path, 'boot_vga'))
        reset_method = self._read(os.path.join(path, 'reset_method'))
        return {
            'address': pci_address(*address),
            'domain': address[0],
            'bus': address[1],
            'slot': address[2],
            'function': address[3],
            'class': normalize_hex_id(pci_class, 6),
            'vendor_id': vendor_id,
            'product_id': product_id,
            'vendor': vendor,
            'product': product,
            'subsystem_vendor_id': normalize_hex_id(self._read(os.path.join(path, 'subsystem_vendor'))),
            'subsystem_id': normalize_hex_id(self._read(os.path.join(path, 'subsystem_device'))),
            'iommu_group': int(group) if group and group.isdigit() else None,
            'numa_node': numa_node if numa_node is not None and numa_node >= 0 else None,
            'boot_vga': None if boot_vga is None else boot_vga == '1',
            'reset_method': reset_method.split() if reset_method else None,
            'sriov': self._sriov(path),
            'mdev_types': self._mdev_types(path),
        }

    def _sriov(self, path):
        totalvfs = self._read_int(os.path.join(path, 'sriov_totalvfs'))
        physfn = self._link_name(os.path.join(path, 'physfn'))
        if totalvfs is None and physfn is None:
            return None
        virtfns = []
        for entry in self._listdir(path):
            if entry.startswith('virtfn'):
                target = self._link_name(os.path.join(path, entry))
                address = parse_pci_address(target or '')
                if address:
                    virtfns.append(pci_name(*address))
        physical = parse_pci_address(physfn) if physfn else None
        return {
            'totalvfs': totalvfs,
            'numvfs': len(virtfns) if totalvfs is not None else None,
            'virtual_functions': sorted(virtfns),
            'physical_function': pci_name(*physical) if physical else None,
        }

    def _mdev_types(self, path):
        types_dir = os.path.join(path, 'mdev_supported_types')
        if not os.path.isdir(types_dir):
            return None
        result = []
        for type_id in self._listdir(types_dir):
            base = os.path.join(types_dir, type_id)
            result.append({
                'type': type_id,
                'name': self._read(os.path.join(base, 'name')),
                'device_api': self._read(os.path.join(base, 'device_api')),
                'available_instances': self._read_int(os.path.join(base, 'available_instances')),
            })
        return result

    def usb_attributes(self, path):
        vendor_id = normalize_hex_id(self._read(os.path.join(path, 'idVendor')))
        product_id = normalize_hex_id(self._read(os.path.join(path, 'idProduct')))
        vendor, product = self.id_names('usb', vendor_id, product_id)
        device_class = self._read(os.path.join(path, 'bDeviceClass'))
        return {
            'bus': self._read_int(os.path.join(path, 'busnum')),
            'device': self._read_int(os.path.join(path, 'devnum')),
            'vendor_id': vendor_id,
            'product_id': product_id,
            'vendor': vendor or self._read(os.path.join(path, 'manufacturer')),
            'product': product or self._read(os.path.join(path, 'product')),
            'class': normalize_hex_id(device_class, 2),
        }

    def driver_of(self, path):
        return self._link_name(os.path.join(path, 'driver'))

    def _device_dirs(self):
        """(real directory, record without parent) of every device this reader lists."""
        found = []
        pci_root = os.path.join(self.root, 'bus', 'pci', 'devices')
        for entry in self._listdir(pci_root):
            address = parse_pci_address(entry)
            if address is None:
                continue
            name = pci_name(*address)
            found.append((os.path.join(pci_root, entry), {'name': name, 'type': 'pci'}))
        usb_root = os.path.join(self.root, 'bus', 'usb', 'devices')
        for entry in self._listdir(usb_root):
            kind = 'usb' if ':' in entry else 'usb_device'
            found.append((os.path.join(usb_root, entry),
                          {'name': libvirt_style_name('usb', entry), 'type': kind}))
        scsi_root = os.path.join(self.root, 'bus', 'scsi', 'devices')
        for entry in self._listdir(scsi_root):
            if re.match(r'^host\d+$', entry):
                kind = 'scsi_host'
            elif re.match(r'^target\d+:\d+:\d+$', entry):
                kind = 'scsi_target'
            elif re.match(r'^\d+:\d+:\d+:\d+$', entry):
                kind = 'scsi'
            else:
                continue
            found.append((os.path.join(scsi_root, entry),
                          {'name': libvirt_style_name('scsi', entry), 'type': kind}))
        net_root = os.path.join(self.root, 'class', 'net')
        for entry in self._listdir(net_root):
            mac = self._read(os.path.join(net_root, entry, 'address')) or ''
            found.append((os.path.join(net_root, entry),
                          {'name': libvirt_style_name('net', entry, mac) if mac else libvirt_style_name('net', entry),
                           'type': 'net', 'net': {'interface': entry, 'address': mac or None}}))
        block_root = os.path.join(self.root, 'class', 'block')
        for entry in self._listdir(block_root):
            base = os.path.join(block_root, entry)
            # Whole disks with a backing device only, as libvirt lists them.
            if os.path.exists(os.path.join(base, 'partition')) or not os.path.exists(os.path.join(base, 'device')):
                continue
            serial = self._udev_property(base, 'ID_SERIAL')
            parts = ['block', entry] + ([serial] if serial else [])
            found.append((base, {'name': libvirt_style_name(*parts), 'type': 'storage',
                                 'storage': {'block': '/dev/' + entry,
                                             'model': self._read(os.path.join(base, 'device', 'model')),
                                             'vendor': self._read(os.path.join(base, 'device', 'vendor')),
                                             'serial': serial}}))
        return found

    def _udev_property(self, block_dir, key):
        dev = self._read(os.path.join(block_dir, 'dev'))
        if not dev:
            return None
        text = self._read(self.host_file(os.path.join('run', 'udev', 'data', 'b' + dev)))
        for line in (text or '').splitlines():
            if line.startswith('E:%s=' % key):
                return line.split('=', 1)[1] or None
        return None

    def read_devices(self):
        """Device records of every device, with libvirt-style names and parents."""
        if not os.path.isdir(os.path.join(self.root, 'devices')):
            self.warnings.append('%s does not look like a sysfs tree (no devices/ directory)' % self.root)
        listed = []
        by_real_path = {}
        for link, record in self._device_dirs():
            real = os.path.realpath(link)
            if not os.path.isdir(real):
                self.warnings.append('device %s vanished while it was read; skipped' % record['name'])
                continue
            if real in by_real_path:
                continue
            by_real_path[real] = record['name']
            listed.append((real, record))
        records = [{'name': 'computer', 'type': 'system', 'parent': None, 'path': None, 'driver': None,
                    'capabilities': []}]
        for real, record in listed:
            record['parent'] = self._parent_name(real, by_real_path)
            record['path'] = self.libvirt_path(real)
            record['driver'] = self.driver_of(real)
            record['capabilities'] = []
            self._fill(real, record)
            records.append(record)
        return records

    def _parent_name(self, real, by_real_path):
        devices_root = os.path.join(self.root, 'devices')
        current = os.path.dirname(real)
        while current.startswith(devices_root) and current != devices_root:
            if current in by_real_path:
                return by_real_path[current]
            current = os.path.dirname(current)
        return 'computer'

    def _fill(self, real, record):
        kind = record['type']
        entry = os.path.basename(real)
        if kind == 'pci':
            record['pci'] = self.pci_attributes(real, record['name'])
        elif kind == 'usb_device':
            record['usb'] = self.usb_attributes(real)
        elif kind == 'usb':
            record['usb_interface'] = {
                key: self._read_int(os.path.join(real, attr), 16)
                for key, attr in (('number', 'bInterfaceNumber'), ('class', 'bInterfaceClass'),
                                  ('subclass', 'bInterfaceSubClass'), ('protocol', 'bInterfaceProtocol'))}
        elif kind == 'scsi_host':
            number = int(entry[len('host'):])
            record['scsi_host'] = {
                'host': number,
                'unique_id': self._read_int(os.path.join(real, 'scsi_host', entry, 'unique_id')),
            }
            if os.path.isdir(os.path.join(real, 'fc_host')):
                record['capabilities'].append('fc_host')
        elif kind == 'scsi_target':
            record['scsi_target'] = {'target': entry}
        elif kind == 'scsi':
            host, bus, target, lun = (int(part) for part in entry.split(':'))
            scsi_type = self._read_int(os.path.join(real, 'type'))
            record['scsi'] = {'host': host, 'bus': bus, 'target': target, 'lun': lun,
                              'type': SCSI_TYPES.get(scsi_type)}

    # -- host state ----------------------------------------------------------

    def read_iommu_state(self):
        """The host's IOMMU posture: on or off, groups, kernel arguments, remapping."""
        iommu_units = self._listdir(os.path.join(self.root, 'class', 'iommu'))
        groups = [entry for entry in self._listdir(os.path.join(self.root, 'kernel', 'iommu_groups'))
                  if entry.isdigit()]
        enabled = bool(iommu_units or groups)
        kernel_args = parse_kernel_args(self._read(self.host_file('proc/cmdline')))
        remapping = interrupt_remapping_from(self._read(self.host_file('proc/interrupts')))
        if remapping is False and not enabled:
            remapping = None
        unsafe = self._read(os.path.join(
            self.root, 'module', 'vfio_iommu_type1', 'parameters', 'allow_unsafe_interrupts'))
        return {
            'enabled': enabled,
            'groups': len(groups),
            'units': iommu_units,
            'kernel_args': kernel_args,
            'interrupt_remapping': remapping,
            'unsafe_interrupts': None if unsafe is None else unsafe in ('Y', '1'),
            'acs_override': 'pcie_acs_override' in kernel_args,
        }

    def read_host_usage(self):
        """What the host itself runs on: {device directory: [uses]}.

        Disks holding a mounted filesystem or active swap (a partition counts for
        its disk, a device-mapper or md device for the disks below it), and the
        network interfaces carrying a default route (a bridge, bond or VLAN
        counts for the interfaces below it). Best effort: an unreadable file
        gives no uses.
        """
        usage = {}

        def add(path, use):
            uses = usage.setdefault(path, [])
            if use not in uses:
                uses.append(use)

        for line in (self._read(self.host_file('proc/mounts')) or '').splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0].startswith('/dev/'):
                for disk in self._disks_below(fields[0]):
                    add(disk, 'mounted at %s' % fields[1].replace('\\040', ' '))
        for line in (self._read(self.host_file('proc/swaps')) or '').splitlines()[1:]:
            fields = line.split()
            if fields and fields[0].startswith('/dev/'):
                for disk in self._disks_below(fields[0]):
                    add(disk, 'swap')
        for interface in self._default_route_interfaces():
            for lower in self._interfaces_below(interface):
                add(lower, 'default route' if lower.endswith('/' + interface) else
                    'default route (through %s)' % interface)
        return usage

    def _block_dir(self, device):
        """The sysfs directory of a /dev block device node, or None."""
        name = os.path.basename(device)
        if device.startswith('/dev/mapper/'):
            for entry in self._listdir(os.path.join(self.root, 'class', 'block')):
                if self._read(os.path.join(self.root, 'class', 'block', entry, 'dm', 'name')) == name:
                    name = entry
                    break
        path = os.path.join(self.root, 'class', 'block', name)
        return os.path.realpath(path) if os.path.exists(path) else None

    def _disks_below(self, device):
        """Real directories of the whole disks a block device node lives on."""
        start = self._block_dir(device)
        disks, queue, seen = [], [start] if start else [], set()
        while queue:
            current = queue.pop()
            if current in seen:
                continue
            seen.add(current)
            if os.path.exists(os.path.join(current, 'partition')):
                queue.append(os.path.dirname(current))
                continue
            slaves = self._listdir(os.path.join(current, 'slaves'))
            if slaves:
                queue.extend(os.path.realpath(os.path.join(current, 'slaves', slave)) for slave in slaves)
            elif current not in disks:
                disks.append(current)
        return disks

    def _default_route_interfaces(self):
        names = []
        for line in (self._read(self.host_file('proc/net/route')) or '').splitlines()[1:]:
            fields = line.split()
            if len(fields) > 2 and fields[1] == '00000000' and fields[0] not in names:
                names.append(fields[0])
        for line in (self._read(self.host_file('proc/net/ipv6_route')) or '').splitlines():
            fields = line.split()
            if len(fields) == 10 and fields[0] == '0' * 32 and fields[1] == '00' and \
                    fields[9] != 'lo' and fields[9] not in names:
                names.append(fields[9])
        return names

    def _interfaces_below(self, interface):
        """Real directories of an interface and of the interfaces below it (bridge ports, bond slaves)."""
        start = os.path.join(self.root, 'class', 'net', interface)
        found, queue = [], [start] if os.path.exists(start) else []
        while queue:
            current = os.path.realpath(queue.pop())
            if current in found:
                continue
            found.append(current)
            queue.extend(os.path.join(current, entry) for entry in self._listdir(current)
                         if entry.startswith('lower_'))
        return found

    def read_domains(self):
        """Domains from libvirt's own state files, for when the daemon is not asked.

        Persistent definitions in /etc/libvirt/qemu and the live state of running
        domains in /run/libvirt/qemu; best effort, unreadable files are skipped.
        """
        domains = {}
        for relative, active in (('etc/libvirt/qemu', False), ('run/libvirt/qemu', True)):
            directory = self.host_file(relative)
            for entry in self._listdir(directory):
                if not entry.endswith('.xml'):
                    continue
                text = self._read(os.path.join(directory, entry))
                if not text:
                    continue
                try:
                    root = ET.fromstring(text)
                    domain = root.find('domain') if root.tag == 'domstatus' else root
                    if domain is None or domain.tag != 'domain':
                        continue
                    name = domain.findtext('name') or entry[:-len('.xml')]
                    sources = hostdev_sources(ET.tostring(domain))
                except ET.ParseError:
                    self.warnings.append('domain file %s is not valid XML; skipped' % entry)
                    continue
                dom = domains.setdefault(name, {'name': name, 'active': False, 'hostdevs': []})
                dom['active'] = dom['active'] or active
                for source in sources:
                    if source not in dom['hostdevs']:
                        dom['hostdevs'].append(source)
        return [domains[name] for name in sorted(domains)]


def _address_from_name(name):
    parts = name.split('_')[1:]
    return tuple(int(part, 16) for part in parts)


def _parse_ids(path):
    """Parse a pci.ids/usb.ids file: vendor lines, then tab-indented product lines."""
    table = {}
    vendor = None
    try:
        with open(path, 'rb') as handle:
            for raw in handle:
                line = raw.decode('utf-8', 'replace').rstrip('\n')
                if not line or line.startswith('#'):
                    continue
                if line[0] != '\t':
                    match = re.match(r'^([0-9a-fA-F]{4})\s+(.*)$', line)
                    vendor = None
                    if match:
                        vendor = (match.group(2).strip(), {})
                        table[normalize_hex_id(match.group(1))] = vendor
                elif vendor is not None and not line.startswith('\t\t'):
                    match = re.match(r'^\t([0-9a-fA-F]{4})\s+(.*)$', line)
                    if match:
                        vendor[1][normalize_hex_id(match.group(1))] = match.group(2).strip()
    except (IOError, OSError):
        return {}
    return table
