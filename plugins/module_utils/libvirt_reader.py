# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: read a host's node devices and domains through libvirt.

parse_nodedev_xml() is pure (node device XML to a device record, see
device_model); read_devices() and read_domains() make the calls, on one
connection the caller owns.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET

from ansible_collections.virt.hostdev.plugins.module_utils.device_model import (
    normalize_hex_id,
    pci_address,
    pci_name,
)
from ansible_collections.virt.hostdev.plugins.module_utils.domain_xml import hostdev_sources, xml_int
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import (
    HostdevError,
    describe,
    error_code,
    is_libvirt_error,
    is_not_found,
    libvirt,
    translated,
)


def _text(element, path):
    found = element.find(path)
    if found is None or found.text is None:
        return None
    text = found.text.strip()
    return text or None


def _int(element, path):
    return xml_int(_text(element, path))


def _address_name(address):
    parts = [xml_int(address.get(key)) for key in ('domain', 'bus', 'slot', 'function')]
    if None in parts:
        return None
    return pci_name(*parts)


def _pci(cap):
    domain, bus, slot, function = (_int(cap, key) for key in ('domain', 'bus', 'slot', 'function'))
    vendor = cap.find('vendor')
    product = cap.find('product')
    group = cap.find('iommuGroup')
    numa = cap.find('numa')
    pci_class = _text(cap, 'class')
    sriov = None
    mdev_types = None
    for sub in cap.findall('capability'):
        kind = sub.get('type')
        if kind == 'virt_functions':
            sriov = sriov or {}
            sriov['totalvfs'] = xml_int(sub.get('maxCount'))
            sriov['virtual_functions'] = sorted(
                name for name in (_address_name(addr) for addr in sub.findall('address')) if name)
        elif kind == 'phys_function':
            address = sub.find('address')
            sriov = sriov or {}
            sriov['physical_function'] = _address_name(address) if address is not None else None
        elif kind == 'mdev_types':
            mdev_types = sorted(
                ({'type': mtype.get('id'),
                  'name': _text(mtype, 'name'),
                  'device_api': _text(mtype, 'deviceAPI'),
                  'available_instances': _int(mtype, 'availableInstances')}
                 for mtype in sub.findall('type')),
                key=lambda item: item['type'])
    if sriov is not None:
        sriov = normalize_sriov(sriov)
    return {
        'address': pci_address(domain, bus, slot, function),
        'domain': domain,
        'bus': bus,
        'slot': slot,
        'function': function,
        'class': normalize_hex_id(pci_class, 6) if pci_class else None,
        'vendor_id': normalize_hex_id(vendor.get('id')) if vendor is not None else None,
        'product_id': normalize_hex_id(product.get('id')) if product is not None else None,
        'vendor': (vendor.text or '').strip() or None if vendor is not None else None,
        'product': (product.text or '').strip() or None if product is not None else None,
        'subsystem_vendor_id': None,
        'subsystem_id': None,
        'iommu_group': xml_int(group.get('number')) if group is not None else None,
        'numa_node': _numa(numa),
        'boot_vga': None,
        'reset_method': None,
        'sriov': sriov,
        'mdev_types': mdev_types,
    }


def normalize_sriov(sriov):
    """One shape for SR-IOV facts whichever reader found them."""
    return {
        'totalvfs': sriov.get('totalvfs'),
        'numvfs': len(sriov['virtual_functions']) if sriov.get('virtual_functions') is not None
        else sriov.get('numvfs'),
        'virtual_functions': sriov.get('virtual_functions') or [],
        'physical_function': sriov.get('physical_function'),
    }


def _numa(numa):
    if numa is None:
        return None
    node = xml_int(numa.get('node'))
    return node if node is not None and node >= 0 else None


def _usb_device(cap):
    vendor = cap.find('vendor')
    product = cap.find('product')
    return {
        'bus': _int(cap, 'bus'),
        'device': _int(cap, 'device'),
        'vendor_id': normalize_hex_id(vendor.get('id')) if vendor is not None else None,
        'product_id': normalize_hex_id(product.get('id')) if product is not None else None,
        'vendor': (vendor.text or '').strip() or None if vendor is not None else None,
        'product': (product.text or '').strip() or None if product is not None else None,
        'class': None,
    }


def _usb_interface(cap):
    return {key: _int(cap, key) for key in ('number', 'class', 'subclass', 'protocol')}


def _scsi(cap):
    return {
        'host': _int(cap, 'host'),
        'bus': _int(cap, 'bus'),
        'target': _int(cap, 'target'),
        'lun': _int(cap, 'lun'),
        'type': _text(cap, 'type'),
    }


def _storage(cap):
    return {key: _text(cap, key) for key in ('block', 'model', 'vendor', 'serial')}


def parse_nodedev_xml(xml):
    """A device record (see device_model) from one node device's XML."""
    root = ET.fromstring(xml)
    cap = root.find('capability')
    record = {
        'name': _text(root, 'name'),
        'type': cap.get('type') if cap is not None else None,
        'parent': _text(root, 'parent'),
        'path': _text(root, 'path'),
        'driver': _text(root, 'driver/name'),
        'capabilities': [],
    }
    if cap is None:
        return record
    kind = record['type']
    record['capabilities'] = sorted(sub.get('type') for sub in cap.findall('capability') if sub.get('type'))
    if kind == 'pci':
        record['pci'] = _pci(cap)
    elif kind == 'usb_device':
        record['usb'] = _usb_device(cap)
    elif kind == 'usb':
        record['usb_interface'] = _usb_interface(cap)
    elif kind == 'scsi':
        record['scsi'] = _scsi(cap)
    elif kind == 'scsi_host':
        record['scsi_host'] = {'host': _int(cap, 'host'), 'unique_id': _int(cap, 'unique_id')}
    elif kind == 'scsi_target':
        record['scsi_target'] = {'target': _text(cap, 'target')}
    elif kind == 'net':
        record['net'] = {'interface': _text(cap, 'interface'), 'address': _text(cap, 'address')}
    elif kind == 'storage':
        record['storage'] = _storage(cap)
    return record


def _read_or_skip(read, what, warnings):
    """read(), or None with a warning when the object vanished meanwhile.

    Any other libvirt error becomes a HostdevError naming what was read, so a
    failure half-way through a listing is a message, not a traceback.
    """
    try:
        return read()
    except Exception as error:  # pylint: disable=broad-except
        if not is_libvirt_error(error):
            raise
        if is_not_found(error):
            warnings.append(describe(error, '%s vanished while it was read; skipped' % what))
            return None
        raise HostdevError(describe(error, 'cannot read %s' % what), code=error_code(error))


def read_devices(conn, warnings):
    """Device records of every node device; one that vanishes mid-scan is skipped."""
    with translated('cannot list node devices'):
        devices = conn.listAllDevices(0)
    records = []
    for device in devices:
        read = _read_or_skip(lambda device=device: (device.name(), device.XMLDesc(0)), 'a node device', warnings)
        if read is None:
            continue
        name, xml = read
        try:
            records.append(parse_nodedev_xml(xml))
        except ET.ParseError as error:
            warnings.append('node device %s has unreadable XML (%s); skipped' % (name, error))
    return records


def _domain_hostdevs(dom):
    """(name, active, source dicts of its persistent and live definitions) of one domain."""
    active = bool(dom.isActive())
    sources = []
    if dom.isPersistent():
        sources.extend(hostdev_sources(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
    if active:
        sources.extend(hostdev_sources(dom.XMLDesc(0)))
    return dom.name(), active, sources


def read_domains(conn, warnings):
    """Every domain with the host devices its persistent and live definitions use."""
    with translated('cannot list domains'):
        domains = conn.listAllDomains(0)
    result = []
    for dom in domains:
        read = _read_or_skip(lambda dom=dom: _domain_hostdevs(dom), 'a domain', warnings)
        if read is not None:
            name, active, sources = read
            result.append({'name': name, 'active': active, 'hostdevs': _unique(sources)})
    return result


def _unique(sources):
    seen = []
    for source in sources:
        if source not in seen:
            seen.append(source)
    return seen
