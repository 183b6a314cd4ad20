# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: domain <hostdev> XML of virt.hostdev: parse sources, build, match.

A *source dict* identifies the host device a domain element refers to:
  {'type': 'pci', 'address': '0000:01:00.0'}
  {'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31c', 'bus': 1, 'device': 3}
  {'type': 'scsi', 'adapter': 'scsi_host0', 'bus': 0, 'target': 0, 'unit': 0}
Missing parts are None. No I/O happens here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET

from ansible_collections.virt.hostdev.plugins.module_utils.device_model import (
    normalize_hex_id,
    pci_address,
)


def xml_int(value):
    """libvirt writes numbers as decimal or 0x-hex; None stays None."""
    if value is None:
        return None
    text = value.strip().lower()
    try:
        return int(text, 16) if text.startswith('0x') else int(text, 10)
    except ValueError:
        return None


def _pci_source_address(address):
    parts = [xml_int(address.get(key)) for key in ('domain', 'bus', 'slot', 'function')]
    if parts[0] is None:
        parts[0] = 0
    if None in parts:
        return None
    return pci_address(*parts)


def hostdev_source(element):
    """The source dict of a <hostdev> or <interface type='hostdev'> element, or None.

    Only host devices are described (mode='subsystem' PCI/USB/SCSI with a local
    adapter); iSCSI, mdev and capability-mode hostdevs return None.
    """
    source = element.find('source')
    if source is None:
        return None
    if element.tag == 'interface':
        address = source.find('address')
        if address is None or address.get('type', 'pci') != 'pci':
            return None
        text = _pci_source_address(address)
        return {'type': 'pci', 'address': text} if text else None
    if element.get('mode', 'subsystem') != 'subsystem':
        return None
    kind = element.get('type')
    if kind == 'pci':
        address = source.find('address')
        text = _pci_source_address(address) if address is not None else None
        return {'type': 'pci', 'address': text} if text else None
    if kind == 'usb':
        vendor = source.find('vendor')
        product = source.find('product')
        address = source.find('address')
        return {
            'type': 'usb',
            'vendor_id': normalize_hex_id(vendor.get('id')) if vendor is not None else None,
            'product_id': normalize_hex_id(product.get('id')) if product is not None else None,
            'bus': xml_int(address.get('bus')) if address is not None else None,
            'device': xml_int(address.get('device')) if address is not None else None,
        }
    if kind == 'scsi':
        if source.get('protocol') not in (None, 'adapter'):
            return None
        adapter = source.find('adapter')
        address = source.find('address')
        if adapter is None or address is None:
            return None
        return {
            'type': 'scsi',
            'adapter': adapter.get('name'),
            'bus': xml_int(address.get('bus')),
            'target': xml_int(address.get('target')),
            'unit': xml_int(address.get('unit')),
        }
    return None


def hostdev_sources(domain_xml):
    """Source dicts of every host device a domain definition refers to."""
    root = ET.fromstring(domain_xml)
    devices = root.find('devices')
    if devices is None:
        return []
    sources = []
    for element in list(devices.findall('hostdev')) + [
            iface for iface in devices.findall('interface') if iface.get('type') == 'hostdev']:
        source = hostdev_source(element)
        if source is not None:
            sources.append(source)
    return sources
