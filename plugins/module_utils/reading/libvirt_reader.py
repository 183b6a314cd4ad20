# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: read a host's node devices and domains through libvirt.

parse_nodedev_xml() is pure (node device XML to a device record, see
model.records); read_devices() and read_domains() make the calls, on one
connection the caller owns. Mediated devices defined but not started (libvirt
7.3+ with mdevctl) are node devices too: read_devices lists them, and asks each
mdev whether it is active, persistent and autostarted.
"""

import functools
import xml.etree.ElementTree as ET
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import (
    hostdev_sources,
    interface_macs,
    network_pool,
    xml_int,
)
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import (
    error_code,
    is_libvirt_error,
    libvirt,
    libvirt_call,
    translated,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    Record,
    device_record,
    normalize_hex_id,
    normalize_uuid,
    pci_address,
    pci_address_fields,
    unique_sources,
)


def _text(element, path):
    found = element.find(path)
    if found is None or found.text is None:
        return None
    text = found.text.strip()
    return text or None


def _int(element, path):
    return xml_int(_text(element, path))


def _address_text(address):
    """The PCI address of an <address domain bus slot function/> element, or None."""
    parts = [xml_int(address.get(key)) for key in ('domain', 'bus', 'slot', 'function')]
    if None in parts:
        return None
    return pci_address(*parts)


def _id_and_name(cap, tag):
    """(normalised id, name) of a <vendor id='0x..'>Name</vendor> style element."""
    element = cap.find(tag)
    if element is None:
        return None, None
    return normalize_hex_id(element.get('id')), (element.text or '').strip() or None


def _pci(cap):
    vendor_id, vendor = _id_and_name(cap, 'vendor')
    product_id, product = _id_and_name(cap, 'product')
    address = [_int(cap, key) for key in ('domain', 'bus', 'slot', 'function')]
    group = cap.find('iommuGroup')
    numa = cap.find('numa')
    sriov = None
    mdev_types = None
    for sub in cap.findall('capability'):
        kind = sub.get('type')
        if kind == 'virt_functions':
            sriov = sriov or {}
            sriov['totalvfs'] = xml_int(sub.get('maxCount'))
            # libvirt lists them as the PF's virtfnN links go: in VF index order
            sriov['virtual_functions'] = [
                text for text in (_address_text(addr) for addr in sub.findall('address')) if text]
        elif kind == 'phys_function':
            address_element = sub.find('address')
            sriov = sriov or {}
            sriov['physical_function'] = _address_text(address_element) if address_element is not None else None
        elif kind == 'mdev_types':
            mdev_types = _mdev_type_list(sub)
    return dict(pci_address_fields(address), **{
        'class': _text(cap, 'class'),
        'vendor_id': vendor_id,
        'product_id': product_id,
        'vendor': vendor,
        'product': product,
        'iommu_group': xml_int(group.get('number')) if group is not None else None,
        'numa_node': xml_int(numa.get('node')) if numa is not None else None,
        'sriov': sriov,
        'mdev_types': mdev_types,
    })


def _mdev_type_list(cap):
    """The <type id=..> children of a PCI device's mdev_types sub-capability or of a parent's own
    mdev_types capability (libvirt reports no description: the sysfs enrichment fills it).

    libvirt 9.0 writes a parent's own capability nested in one of the same type (<capability
    type='mdev_types'><capability type='mdev_types'><type id=..>), as the lab showed with mtty:
    the types are taken at either level.
    """
    found = cap.findall('type') + cap.findall("capability[@type='mdev_types']/type")
    return [{'type': mtype.get('id'),
             'name': _text(mtype, 'name'),
             'device_api': _text(mtype, 'deviceAPI'),
             'available_instances': _int(mtype, 'availableInstances')}
            for mtype in found]


def _mdev(cap):
    """<capability type='mdev'><type id='mtty-2'/><uuid>..</uuid><parent_addr>mtty</parent_addr>
    <iommuGroup number='N'/></capability>; device_api is its type's (see model.mdev.link_mdevs), and
    active, persistent and autostart are asked of the device (read_devices)."""
    kind = cap.find('type')
    group = cap.find('iommuGroup')
    return {'type': kind.get('id') if kind is not None else None,
            'uuid': normalize_uuid(_text(cap, 'uuid')),
            'parent_address': _text(cap, 'parent_addr'),
            'iommu_group': xml_int(group.get('number')) if group is not None else None}


def _usb_device(cap):
    vendor_id, vendor = _id_and_name(cap, 'vendor')
    product_id, product = _id_and_name(cap, 'product')
    return {'bus': _int(cap, 'bus'), 'device': _int(cap, 'device'), 'vendor_id': vendor_id,
            'product_id': product_id, 'vendor': vendor, 'product': product}


def _ints(*keys):
    return lambda cap: dict((key, _int(cap, key)) for key in keys)


def _texts(*keys):
    return lambda cap: dict((key, _text(cap, key)) for key in keys)


# capability type -> the values of its record, from the <capability> element
CAPABILITY_PARSERS = {
    'pci': _pci,
    'usb_device': _usb_device,
    'usb': _ints('number', 'class', 'subclass', 'protocol'),
    'scsi': lambda cap: dict(_ints('host', 'bus', 'target', 'lun')(cap), type=_text(cap, 'type')),
    'scsi_host': _ints('host', 'unique_id'),
    'scsi_target': _texts('target'),
    'net': _texts('interface', 'address'),
    'storage': _texts('block', 'model', 'vendor', 'serial'),
    'mdev_types': lambda cap: {'types': _mdev_type_list(cap)},
    'mdev': _mdev,
}


def parse_nodedev_xml(xml: str) -> Record:
    """A device record (see records) from one node device's XML."""
    root = ET.fromstring(xml)
    cap = root.find('capability')
    kind = cap.get('type') if cap is not None else None
    parser = CAPABILITY_PARSERS.get(kind or '')
    # libvirt 9.0 nests an mdev parent's own capability in itself: that is no sub-capability
    subtypes = [sub.get('type') for sub in cap.findall('capability') if sub.get('type') != kind] if cap is not None else []
    return device_record(
        _text(root, 'name'), kind, parent=_text(root, 'parent'), path=_text(root, 'path'),
        driver=_text(root, 'driver/name'), capabilities=[subtype for subtype in subtypes if subtype],
        details=parser(cap) if parser else None)


Result = TypeVar('Result')

# libvirt's error codes for a call or flag the driver does not have (the test driver's node devices).
_UNSUPPORTED = tuple(getattr(libvirt, code) for code in ('VIR_ERR_NO_SUPPORT', 'VIR_ERR_INVALID_ARG')
                     if hasattr(libvirt, code))
# ... and for a call a read-only connection may not make (libvirt 9.0: virNodeDeviceGetAutostart).
_UNKNOWN_STATE = _UNSUPPORTED + tuple(getattr(libvirt, code) for code in ('VIR_ERR_OPERATION_DENIED',)
                                      if hasattr(libvirt, code))


def _read_or_skip(read: Callable[[], Result], what: str, warnings: List[str]) -> Optional[Result]:
    """read(), or None with a warning when the object vanished meanwhile.

    Any other libvirt error becomes a HostdevError naming what was read, so a
    failure half-way through a listing is a message, not a traceback.
    """
    return libvirt_call(read, 'cannot read %s' % what, missing='skip',
                        missing_message='%s vanished while it was read; skipped' % what, warnings=warnings)


def _list_devices(conn: Any) -> List[Any]:
    """Every node device, defined-but-inactive mdevs too.

    Both state flags ask for both kinds where the binding has them (libvirt 7.3+ filters by state,
    and lists both without a flag too); a driver that refuses them (the test driver) is asked again
    without flags, which lists every device it has.
    """
    flags = (getattr(libvirt, 'VIR_CONNECT_LIST_NODE_DEVICES_ACTIVE', 0)
             | getattr(libvirt, 'VIR_CONNECT_LIST_NODE_DEVICES_INACTIVE', 0))
    if flags:
        try:
            return conn.listAllDevices(flags)
        except Exception as error:  # pylint: disable=broad-except
            if not is_libvirt_error(error) or error_code(error) not in _UNSUPPORTED:
                raise
    return conn.listAllDevices(0)


def _state(device: Any, method: str) -> Optional[bool]:
    """device.<method>() as a bool; None where the binding or the driver lacks it, or a read-only
    connection may not ask it (unknown: the sysfs enrichment fills it from mdevctl's definitions)."""
    call = getattr(device, method, None)
    if call is None:
        return None
    try:
        return bool(call())
    except Exception as error:  # pylint: disable=broad-except
        if is_libvirt_error(error) and error_code(error) in _UNKNOWN_STATE:
            return None
        raise


def _mdev_state(device: Any) -> Dict[str, Optional[bool]]:
    return {'active': _state(device, 'isActive'), 'persistent': _state(device, 'isPersistent'),
            'autostart': _state(device, 'autostart')}


def read_devices(conn: Any, warnings: List[str]) -> List[Record]:
    """Device records of every node device; one that vanishes mid-scan is skipped."""
    with translated('cannot list node devices'):
        devices = _list_devices(conn)
    records = []
    for device in devices:
        read = _read_or_skip(functools.partial(_name_and_xml, device), 'a node device', warnings)
        if read is None:
            continue
        name, xml = read
        try:
            record = parse_nodedev_xml(xml)
        except ET.ParseError as error:
            warnings.append('node device %s has unreadable XML (%s); skipped' % (name, error))
            continue
        if record.get('type') == 'mdev':
            state = _read_or_skip(functools.partial(_mdev_state, device), 'mdev %s' % name, warnings)
            if state is None:
                continue
            record['mdev'].update(state)
        records.append(record)
    return records


def _name_and_xml(device: Any) -> Tuple[str, str]:
    return device.name(), device.XMLDesc(0)


def _domain_hostdevs(dom: Any) -> Tuple[str, bool, List[Dict[str, Any]], List[str]]:
    """(name, active, source dicts, interface MACs of its persistent and live definitions) of one domain."""
    active = bool(dom.isActive())
    sources = []
    macs: List[str] = []
    definitions = []
    if dom.isPersistent():
        definitions.append(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    if active:
        definitions.append(dom.XMLDesc(0))
    for xml in definitions:
        sources.extend(hostdev_sources(xml))
        macs.extend(interface_macs(xml))
    return dom.name(), active, sources, sorted(set(macs))


def read_domains(conn: Any, warnings: List[str]) -> List[Dict[str, Any]]:
    """Every domain with the host devices its persistent and live definitions use."""
    with translated('cannot list domains'):
        domains = conn.listAllDomains(0)
    result = []
    for dom in domains:
        read = _read_or_skip(functools.partial(_domain_hostdevs, dom), 'a domain', warnings)
        if read is not None:
            name, active, sources, macs = read
            # macs: what domain_hostdev's mac_in_use refusal compares a new interface's MAC with.
            result.append({'name': name, 'active': active, 'hostdevs': unique_sources(sources), 'macs': macs})
    return result


def _network_pool(net: Any) -> Optional[Dict[str, Any]]:
    """network_pool() of one network's live definition, with whether it is active."""
    pool = network_pool(net.XMLDesc(0))
    if pool is not None:
        pool['active'] = bool(net.isActive())
    return pool


def read_networks(conn: Any, warnings: List[str]) -> List[Dict[str, Any]]:
    """The libvirt hostdev networks (<forward mode='hostdev'>): {'name', 'active', 'pf', 'addresses'}
    (see hostdev_xml.network_pool). A driver without networks, or one that vanishes, is no network."""
    try:
        with translated('cannot list networks'):
            networks = conn.listAllNetworks(0)
    except HostdevError as error:
        # A daemon without its network driver has no hostdev network to hand VFs out.
        warnings.append('%s: the VFs of libvirt hostdev networks are not known as held by them' % error.message)
        return []
    pools = []
    for net in networks:
        try:
            pool = _read_or_skip(functools.partial(_network_pool, net), 'a network', warnings)
        except ET.ParseError as error:
            warnings.append('a network has unreadable XML (%s); skipped' % error)
            continue
        if pool is not None:
            pools.append(pool)
    return sorted(pools, key=lambda pool: pool['name'] or '')
