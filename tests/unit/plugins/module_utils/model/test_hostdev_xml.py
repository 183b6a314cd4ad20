# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_xml: building <hostdev> XML and matching sources (not strings)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import (
    build_hostdev,
    build_interface,
    domain_uuid,
    element_xml,
    generated_mac,
    interface_macs,
    interface_settings,
    interface_updated,
    hostdev_elements,
    hostdev_source,
    hostdev_sources,
    hostdevs_text,
    network_pool,
    sources_match,
)

PCI = {'name': 'pci_0000_01_00_1', 'type': 'pci',
       'pci': {'address': '0000:01:00.1', 'domain': 0, 'bus': 1, 'slot': 0, 'function': 1}}
USB = {'name': 'usb_1_3', 'type': 'usb_device',
       'usb': {'bus': 1, 'device': 3, 'vendor_id': '0x046d', 'product_id': '0xc31c'}}
SCSI = {'name': 'scsi_2_0_3_1', 'type': 'scsi', 'scsi': {'host': 2, 'bus': 0, 'target': 3, 'lun': 1}}

# The source dicts that name those devices, as hostdev_source() reads them back.
PCI_SOURCE = {'type': 'pci', 'address': '0000:01:00.1'}
USB_SOURCE = {'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31c', 'bus': 1, 'device': 3}
SCSI_SOURCE = {'type': 'scsi', 'adapter': 'scsi_host2', 'bus': 0, 'target': 3, 'unit': 1}


def test_pci_hostdev_xml():
    element = ET.fromstring(build_hostdev(PCI))
    assert element.attrib == {'mode': 'subsystem', 'type': 'pci', 'managed': 'yes'}
    assert element.find('source/address').attrib == {
        'domain': '0x0000', 'bus': '0x01', 'slot': '0x00', 'function': '0x1'}
    assert ET.fromstring(build_hostdev(PCI, managed=False)).get('managed') == 'no'
    assert hostdev_source(element) == PCI_SOURCE


def test_usb_hostdev_xml_with_and_without_address():
    element = ET.fromstring(build_hostdev(USB))
    assert element.get('type') == 'usb'
    assert element.find('source/vendor').get('id') == '0x046d'
    assert element.find('source/product').get('id') == '0xc31c'
    assert element.find('source/address') is None
    with_address = ET.fromstring(build_hostdev(USB, usb_address=True))
    assert with_address.find('source/address').attrib == {'bus': '1', 'device': '3'}
    assert sources_match(hostdev_source(with_address), USB_SOURCE)


def test_scsi_hostdev_is_never_managed():
    element = ET.fromstring(build_hostdev(SCSI, managed=True))
    assert element.get('type') == 'scsi'
    assert 'managed' not in element.attrib
    assert element.find('source/adapter').get('name') == 'scsi_host2'
    assert element.find('source/address').attrib == {'bus': '0', 'target': '3', 'unit': '1'}
    assert hostdev_source(element) == SCSI_SOURCE


def test_build_refuses_other_types():
    with pytest.raises(ValueError):
        build_hostdev({'name': 'net_x', 'type': 'net'})


def test_sources_match_by_value_not_string():
    # libvirt writes decimal or hex, with or without the PCI domain
    stored = ET.fromstring("<hostdev mode='subsystem' type='pci' managed='yes'><source>"
                           "<address bus='1' slot='0' function='1'/></source>"
                           "<address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/></hostdev>")
    assert sources_match(hostdev_source(stored), PCI_SOURCE)
    other = dict(PCI_SOURCE, address='0000:01:00.0')
    assert not sources_match(other, PCI_SOURCE)


@pytest.mark.parametrize('source, expected', [
    ({'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31c', 'bus': None, 'device': None}, True),
    ({'type': 'usb', 'vendor_id': None, 'product_id': None, 'bus': 1, 'device': 3}, True),
    ({'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31c', 'bus': 1, 'device': 4}, False),
    ({'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31d', 'bus': None, 'device': None}, False),
    ({'type': 'usb', 'vendor_id': None, 'product_id': None, 'bus': None, 'device': None}, False),
    ({'type': 'pci', 'address': '0000:01:00.0'}, False),
])
def test_usb_sources_match_on_every_stated_part(source, expected):
    assert sources_match(source, USB_SOURCE) is expected


def test_scsi_sources_match_all_parts():
    assert sources_match(SCSI_SOURCE, dict(SCSI_SOURCE))
    assert not sources_match(SCSI_SOURCE, dict(SCSI_SOURCE, unit=0))
    assert not sources_match(SCSI_SOURCE, dict(SCSI_SOURCE, adapter='scsi_host1'))


DOMAIN = """<domain type='qemu'><name>d</name><devices>
  <disk type='file' device='disk'><source file='/x'/><target dev='vda'/></disk>
  <hostdev mode='subsystem' type='pci' managed='yes'><source>
    <address domain='0x0000' bus='0x01' slot='0x00' function='0x1'/></source></hostdev>
  <interface type='hostdev'><source><address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/></source></interface>
  <interface type='network'><source network='default'/></interface>
  <hostdev mode='subsystem' type='scsi'><source protocol='iscsi' name='iqn.x/1'><host name='h'/></source></hostdev>
</devices></domain>"""


def test_hostdev_elements_lists_hostdevs_and_hostdev_interfaces_only():
    found = hostdev_elements(DOMAIN)
    assert [element.tag for element, _source in found] == ['hostdev', 'interface', 'hostdev']
    assert found[0][1] == {'type': 'pci', 'address': '0000:01:00.1'}
    assert found[1][1] == {'type': 'pci', 'address': '0000:02:00.0'}
    assert found[2][1] is None  # iSCSI: not a host device


def test_element_xml_is_stable_and_diff_text_ends_lines():
    element = hostdev_elements(DOMAIN)[0][0]
    text = element_xml(element)
    assert text == element_xml(ET.fromstring(text))
    assert text.startswith('<hostdev ') and text.endswith('</hostdev>')
    assert hostdevs_text([text, text]).count('</hostdev>\n') == 2
    assert hostdevs_text([]) == ''


# A running domain's state: a VF as an <interface type='hostdev'>, and one a hostdev network handed to an
# <interface type='network'> (libvirt's <actual type='hostdev'>); a bridged interface holds no device.
RUNNING = """<domain type='kvm'><name>vm</name><devices>
  <interface type='hostdev' managed='yes'><mac address='52:54:00:6d:90:02'/>
    <source><address type='pci' domain='0x0000' bus='0x81' slot='0x10' function='0x1'/></source>
    <vlan><tag id='100'/></vlan></interface>
  <interface type='network'><mac address='52:54:00:6d:90:03'/><source network='sriov-pool'/>
    <actual type='hostdev' managed='yes'>
      <source><address type='pci' domain='0x0000' bus='0x81' slot='0x10' function='0x2'/></source>
    </actual></interface>
  <interface type='network'><source network='default'/><actual type='bridge'><source bridge='virbr0'/></actual>
    </interface>
  <interface type='network'><source network='sriov-pool'/></interface>
</devices></domain>"""


def test_a_domain_holds_its_hostdev_interfaces_and_what_a_hostdev_network_handed_it():
    assert hostdev_sources(RUNNING) == [{'type': 'pci', 'address': '0000:81:10.1'},
                                        {'type': 'pci', 'address': '0000:81:10.2'}]


def test_a_network_interface_without_an_actual_hostdev_is_no_hostdev_element():
    """hostdev_elements is what domain_hostdev matches and edits: only the elements it wrote."""
    assert [element.get('type') for element, _source in hostdev_elements(RUNNING)] == ['hostdev']


@pytest.mark.parametrize('xml, expected', [
    ("<network><name>pool</name><forward mode='hostdev' managed='yes'><pf dev='enp129s0f0'/></forward></network>",
     {'name': 'pool', 'pf': ['enp129s0f0'], 'addresses': []}),
    ("<network><name>pool</name><forward mode='hostdev'><pf dev='enp129s0f0'/>"
     "<address type='pci' domain='0x0000' bus='0x81' slot='0x10' function='0x0'/>"
     "<address type='pci' bus='0x81' slot='0x10' function='0x1'/><address type='pci' bus='junk'/></forward></network>",
     {'name': 'pool', 'pf': ['enp129s0f0'], 'addresses': ['0000:81:10.0', '0000:81:10.1']}),
    ("<network><name>default</name><forward mode='nat'/></network>", None),
    ("<network><name>isolated</name></network>", None),
])
def test_network_pool(xml, expected):
    assert network_pool(xml) == expected


def test_interface_xml_and_its_settings_read_back():
    xml = build_interface(PCI, '02:00:00:00:00:01', vlan=100)
    element = ET.fromstring(xml)
    assert (element.tag, element.get('type'), element.get('managed')) == ('interface', 'hostdev', 'yes')
    assert hostdev_source(element) == PCI_SOURCE
    assert interface_settings(element) == {'mac': '02:00:00:00:00:01', 'vlan': 100}
    assert interface_settings(ET.fromstring(build_interface(PCI, '02:00:00:00:00:01'))) == {
        'mac': '02:00:00:00:00:01', 'vlan': None}
    with pytest.raises(ValueError):
        build_interface(USB, '02:00:00:00:00:01')


def test_an_updated_interface_keeps_everything_but_mac_and_vlan():
    stored = ET.fromstring(build_interface(PCI, '02:00:00:00:00:01', vlan=100).replace(
        '</interface>', "<alias name='hostdev0'/><address type='pci' bus='0x07'/></interface>"))
    updated = ET.fromstring(interface_updated(stored, '02:00:00:00:00:02', None))
    assert interface_settings(updated) == {'mac': '02:00:00:00:00:02', 'vlan': None}
    assert updated.find('alias').get('name') == 'hostdev0' and updated.find('address').get('bus') == '0x07'
    assert hostdev_source(updated) == PCI_SOURCE


def test_generated_mac_is_stable_local_unicast_and_follows_uuid_and_address():
    uuid = '6695EB01-F6A4-8304-79AA-97F2502E193F'
    mac = generated_mac(uuid, '0000:06:10.0')
    assert mac == generated_mac(uuid.lower(), '0000:06:10.0')
    assert int(mac[:2], 16) & 3 == 2 and len(mac.split(':')) == 6
    assert mac != generated_mac(uuid, '0000:06:10.2')
    assert mac != generated_mac('00000000-0000-0000-0000-000000000000', '0000:06:10.0')


def test_every_interface_mac_of_a_domain_and_its_uuid():
    xml = ("<domain><uuid> 6695EB01-f6a4-8304-79aa-97f2502e193f </uuid><devices>"
           "<interface type='network'><mac address='52:54:00:AA:00:01'/></interface>"
           "<interface type='hostdev'><mac address='02:00:00:00:00:01'/></interface>"
           "<interface type='user'/><hostdev mode='subsystem' type='pci'/></devices></domain>")
    assert interface_macs(xml) == ['02:00:00:00:00:01', '52:54:00:aa:00:01']
    assert domain_uuid(xml) == '6695eb01-f6a4-8304-79aa-97f2502e193f'
    assert interface_macs('<domain/>') == [] and domain_uuid('<domain/>') is None


MDEV_UUID = 'c2177883-f1bb-47f0-914d-32a22e3a8804'
MDEV = {'name': 'mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_mtty', 'type': 'mdev',
        'mdev': {'uuid': MDEV_UUID, 'type': 'mtty-2', 'device_api': 'vfio-pci'}}


def test_mdev_hostdev_xml_is_by_uuid_with_its_device_api_and_never_managed():
    element = ET.fromstring(build_hostdev(MDEV, managed=True))
    assert (element.get('mode'), element.get('type'), element.get('model')) == ('subsystem', 'mdev', 'vfio-pci')
    assert 'managed' not in element.attrib
    assert element.find('source/address').attrib == {'uuid': MDEV_UUID}
    assert hostdev_source(element) == {'type': 'mdev', 'uuid': MDEV_UUID}
    ccw = dict(MDEV, mdev=dict(MDEV['mdev'], device_api='vfio-ccw'))
    assert ET.fromstring(build_hostdev(ccw)).get('model') == 'vfio-ccw'
    with pytest.raises(ValueError):
        build_hostdev(dict(MDEV, mdev={'uuid': None}))


@pytest.mark.parametrize('uuid, expected', [
    (MDEV_UUID.upper(), {'type': 'mdev', 'uuid': MDEV_UUID}),  # libvirt accepts either case
    ('not-a-uuid', None),
    (None, None),
])
def test_mdev_source_is_its_uuid_lower_case(uuid, expected):
    address = "<address uuid='%s'/>" % uuid if uuid else ''
    element = ET.fromstring("<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source>%s</source></hostdev>"
                            % address)
    assert hostdev_source(element) == expected


def test_mdev_sources_match_by_uuid_only():
    first = {'type': 'mdev', 'uuid': MDEV_UUID}
    assert sources_match(first, dict(first))
    assert not sources_match(first, {'type': 'mdev', 'uuid': MDEV_UUID.replace('c2', 'd2')})
    assert not sources_match({'type': 'mdev', 'uuid': None}, {'type': 'mdev', 'uuid': None})


def test_a_domain_holds_its_mdevs():
    xml = ("<domain><devices><hostdev mode='subsystem' type='mdev' model='vfio-pci'><source>"
           "<address uuid='%s'/></source></hostdev></devices></domain>" % MDEV_UUID)
    assert hostdev_sources(xml) == [{'type': 'mdev', 'uuid': MDEV_UUID}]
