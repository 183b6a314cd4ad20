# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: domain <hostdev> XML of virt.hostdev: parse sources, build, match.

A *source dict* identifies the host device a domain element refers to:
  {'type': 'pci', 'address': '0000:01:00.0'}
  {'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31c', 'bus': 1, 'device': 3}
  {'type': 'scsi', 'adapter': 'scsi_host0', 'bus': 0, 'target': 0, 'unit': 0}
  {'type': 'mdev', 'uuid': 'c2177883-f1bb-47f0-914d-32a22e3a8804'}
Missing parts are None. No I/O happens here.
"""

import hashlib
import re
import xml.etree.ElementTree as ET
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    Record,
    normalize_hex_id,
    normalize_uuid,
    pci_address,
)


def xml_int(value: Optional[str]) -> Optional[int]:
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


def hostdev_source(element: ET.Element) -> Optional[Dict[str, Any]]:
    """The source dict of a <hostdev>, <interface type='hostdev'> or <actual type='hostdev'> element, or None.

    Only host devices are described (mode='subsystem' PCI/USB/SCSI with a local
    adapter, and mediated devices by UUID); iSCSI and capability-mode hostdevs return None.
    """
    source = element.find('source')
    if source is None:
        return None
    if element.tag in ('interface', 'actual'):
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
    if kind == 'mdev':
        address = source.find('address')
        uuid = normalize_uuid(address.get('uuid')) if address is not None else None
        return {'type': 'mdev', 'uuid': uuid} if uuid else None
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


def hostdev_sources(domain_xml: Union[str, bytes]) -> List[Dict[str, Any]]:
    """Source dicts of every host device a domain definition holds: its <hostdev> and
    <interface type='hostdev'> elements, and the VF a libvirt hostdev network handed to an
    <interface type='network'> (its <actual type='hostdev'>, in a running domain's state)."""
    sources = [source for _element, source in hostdev_elements(domain_xml) if source is not None]
    devices = ET.fromstring(domain_xml).find('devices')
    for interface in devices.findall('interface') if devices is not None else ():
        actual = interface.find('actual')
        if interface.get('type') == 'network' and actual is not None and actual.get('type') == 'hostdev':
            source = hostdev_source(actual)
            if source is not None:
                sources.append(source)
    return sources


def network_pool(network_xml: Union[str, bytes]) -> Optional[Dict[str, Any]]:
    """The devices a libvirt hostdev network (<forward mode='hostdev'>) hands out, or None for
    another network: {'name', 'pf': [PF interface names], 'addresses': [PCI addresses of its pool]}.
    An active network lists its PF's VFs as <address> elements too."""
    root = ET.fromstring(network_xml)
    forward = root.find('forward')
    if forward is None or forward.get('mode') != 'hostdev':
        return None
    addresses = []
    for address in forward.findall('address'):
        text = _pci_source_address(address) if address.get('type', 'pci') == 'pci' else None
        if text is not None:
            addresses.append(text)
    return {'name': root.findtext('name'), 'pf': [pf.get('dev') for pf in forward.findall('pf') if pf.get('dev')],
            'addresses': addresses}


# -- building and matching <hostdev> elements (used by domain_hostdev) ---------

def sources_match(first: Optional[Dict[str, Any]], second: Optional[Dict[str, Any]]) -> bool:
    """True when two source dicts name the same host device (not a string compare).

    PCI: same address. mdev: same UUID. SCSI: same adapter, bus, target and unit. USB: same
    bus.device when both sides give one, and same vendor:product when both give
    one (libvirt's own rule: a USB source matches on every part it states).
    """
    if not first or not second or first.get('type') != second.get('type'):
        return False
    kind = first['type']
    if kind == 'pci':
        return first.get('address') is not None and first.get('address') == second.get('address')
    if kind == 'mdev':
        return first.get('uuid') is not None and first.get('uuid') == second.get('uuid')
    if kind == 'scsi':
        keys: Tuple[str, ...] = ('adapter', 'bus', 'target', 'unit')
        return all(first.get(key) == second.get(key) for key in keys)
    if kind == 'usb':
        compared = False
        for keys in (('bus', 'device'), ('vendor_id', 'product_id')):
            if all(first.get(key) is not None for key in keys) and \
                    all(second.get(key) is not None for key in keys):
                if any(first[key] != second[key] for key in keys):
                    return False
                compared = True
        return compared
    return False


def _hex(value, width):
    return '0x%0*x' % (width, value)


def build_hostdev(record: Record, managed: bool = True, usb_address: bool = False) -> str:
    """The <hostdev> XML (a string) that passes the device record to a guest.

    PCI: <source><address domain bus slot function/></source>, managed as asked.
    USB: <source><vendor/><product/></source>, plus <address bus device/> when
    usb_address is true (the vendor:product is not unique on the host); only the
    address when the ids could not be read.
    SCSI: <source><adapter name='scsi_hostN'/><address bus target unit/></source>,
    never managed (libvirt has no managed mode for SCSI hostdevs).
    mdev: <source><address uuid/></source>, model its type's device API (vfio-pci, vfio-ccw,
    vfio-ap; vfio-pci when unknown), never managed (libvirt has no managed mode for mdevs).
    """
    kind = record.get('type')
    element = ET.Element('hostdev', {'mode': 'subsystem'})
    source = ET.SubElement(element, 'source')
    if kind == 'pci':
        pci = record['pci']
        element.set('type', 'pci')
        element.set('managed', 'yes' if managed else 'no')
        ET.SubElement(source, 'address', {
            'domain': _hex(pci['domain'], 4), 'bus': _hex(pci['bus'], 2),
            'slot': _hex(pci['slot'], 2), 'function': _hex(pci['function'], 1)})
    elif kind == 'usb_device':
        usb = record['usb']
        element.set('type', 'usb')
        element.set('managed', 'yes' if managed else 'no')
        by_ids = usb.get('vendor_id') is not None and usb.get('product_id') is not None
        by_address = usb.get('bus') is not None and usb.get('device') is not None
        if not (by_ids or by_address) or (usb_address and not by_address):
            raise ValueError('USB device %s has no readable vendor:product or bus.device' % record.get('name'))
        if by_ids:
            ET.SubElement(source, 'vendor', {'id': usb['vendor_id']})
            ET.SubElement(source, 'product', {'id': usb['product_id']})
        if usb_address or not by_ids:
            ET.SubElement(source, 'address', {'bus': str(usb['bus']), 'device': str(usb['device'])})
    elif kind == 'mdev':
        mdev = record.get('mdev') or {}
        if not mdev.get('uuid'):
            raise ValueError('mediated device %s has no readable UUID' % record.get('name'))
        element.set('type', 'mdev')
        element.set('model', mdev.get('device_api') or 'vfio-pci')
        ET.SubElement(source, 'address', {'uuid': mdev['uuid']})
    elif kind == 'scsi':
        scsi = record['scsi']
        element.set('type', 'scsi')
        ET.SubElement(source, 'adapter', {'name': 'scsi_host%d' % scsi['host']})
        ET.SubElement(source, 'address', {
            'bus': str(scsi['bus']), 'target': str(scsi['target']), 'unit': str(scsi['lun'])})
    else:
        raise ValueError('device %s of type %s cannot be a hostdev' % (record.get('name'), kind))
    return element_xml(element)


def hostdev_elements(domain_xml: Union[str, bytes]) -> List[Tuple[ET.Element, Optional[Dict[str, Any]]]]:
    """[(element, source dict)] of every <hostdev> and <interface type='hostdev'> of a domain.

    Elements whose source is not a host device (iSCSI, capability mode, ...) have source None.
    """
    root = ET.fromstring(domain_xml)
    devices = root.find('devices')
    if devices is None:
        return []
    found = []
    for element in devices:
        if element.tag == 'hostdev' or (element.tag == 'interface' and element.get('type') == 'hostdev'):
            found.append((element, hostdev_source(element)))
    return found


def element_xml(element: ET.Element) -> str:
    """One element as an indented string, without the whitespace around it."""
    copy = ET.fromstring(ET.tostring(element))
    for node in copy.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        node.tail = None
    ET.indent(copy)
    return ET.tostring(copy, encoding='unicode')


def hostdevs_text(xml_strings: Iterable[str]) -> str:
    """The text of a list of hostdev XML strings, as shown in a diff."""
    return ''.join(text.rstrip('\n') + '\n' for text in xml_strings)


# -- <interface type='hostdev'> (a network device given with a MAC and a VLAN) ---------

# A MAC as libvirt writes it (lower case; the module normalises what it is given).
MAC_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')


def domain_uuid(domain_xml: Union[str, bytes]) -> Optional[str]:
    """The <uuid> of a domain definition, lower case; None when it has none."""
    text = ET.fromstring(domain_xml).findtext('uuid')
    return text.strip().lower() if text and text.strip() else None


def generated_mac(uuid: str, address: str) -> str:
    """The stable MAC of a PCI device given to a domain as an interface.

    The first six bytes of SHA-256 over '<domain uuid>/<PCI address>' (lower case, the
    address as 0000:06:10.0), with the first byte made locally administered (bit 1 set)
    and unicast (bit 0 clear). The same domain and device give the same MAC on every run
    and every controller; another domain or another device gives another one.
    """
    digest = bytearray(hashlib.sha256(('%s/%s' % (uuid.strip().lower(), address.strip().lower()))
                                      .encode('ascii')).digest()[:6])
    digest[0] = (digest[0] | 0x02) & 0xfe
    return ':'.join('%02x' % byte for byte in digest)


def build_interface(record: Record, mac: str, vlan: Optional[int] = None) -> str:
    """The <interface type='hostdev' managed='yes'> XML (a string) that gives a PCI network device
    to a guest with this MAC and, when vlan is not None, that VLAN tag."""
    if record.get('type') != 'pci':
        raise ValueError('device %s of type %s cannot be an interface' % (record.get('name'), record.get('type')))
    pci = record['pci']
    element = ET.Element('interface', {'type': 'hostdev', 'managed': 'yes'})
    ET.SubElement(element, 'mac', {'address': mac})
    source = ET.SubElement(element, 'source')
    ET.SubElement(source, 'address', {
        'type': 'pci', 'domain': _hex(pci['domain'], 4), 'bus': _hex(pci['bus'], 2),
        'slot': _hex(pci['slot'], 2), 'function': _hex(pci['function'], 1)})
    _set_vlan(element, vlan)
    return element_xml(element)


def is_interface(element: ET.Element) -> bool:
    """Whether an element of hostdev_elements() is an <interface type='hostdev'>."""
    return element.tag == 'interface'


def interface_settings(element: ET.Element) -> Dict[str, Any]:
    """{'mac', 'vlan'} of an <interface> element: its MAC (lower case) and its one VLAN tag (None
    when it has none; a trunk of several tags is given as the list of ids)."""
    mac = element.find('mac')
    tags = [xml_int(tag.get('id')) for tag in element.findall('vlan/tag')]
    return {'mac': mac.get('address', '').lower() if mac is not None else None,
            'vlan': None if not tags else tags[0] if len(tags) == 1 else tags}


def interface_updated(element: ET.Element, mac: str, vlan: Optional[int]) -> str:
    """The XML of an existing <interface> with this MAC and VLAN, everything else (its guest
    address, alias, driver) kept, so that the guest sees the same device in the same slot."""
    copy = ET.fromstring(ET.tostring(element))
    found = copy.find('mac')
    if found is None:
        found = ET.Element('mac')
        copy.insert(0, found)
    found.attrib.clear()
    found.set('address', mac)
    _set_vlan(copy, vlan)
    return element_xml(copy)


def _set_vlan(element: ET.Element, vlan: Optional[int]) -> None:
    for old in element.findall('vlan'):
        element.remove(old)
    if vlan is not None:
        ET.SubElement(ET.SubElement(element, 'vlan'), 'tag', {'id': str(vlan)})


def interface_macs(domain_xml: Union[str, bytes]) -> List[str]:
    """The MACs (lower case, sorted, unique) of every <interface> of a domain definition, of any type."""
    devices = ET.fromstring(domain_xml).find('devices')
    if devices is None:
        return []
    return sorted(set(mac.get('address', '').lower() for interface in devices.findall('interface')
                      for mac in interface.findall('mac') if mac.get('address')))
