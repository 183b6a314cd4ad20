"""libvirt reader: node device XML parsing, and reads through libvirt's test driver."""

import libvirt
import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import connection
from ansible_collections.virt.hostdev.plugins.module_utils.reading.libvirt_reader import (
    parse_nodedev_xml,
    read_devices,
    read_domains,
    read_networks,
)
from fixtures.sample_host import MTTY_PARENT_XML

SRIOV_PF = """
<device>
  <name>pci_0000_3b_00_0</name>
  <path>/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0</path>
  <parent>pci_0000_3a_00_0</parent>
  <driver><name>ice</name></driver>
  <capability type='pci'>
    <class>0x020000</class>
    <domain>0</domain><bus>59</bus><slot>0</slot><function>0</function>
    <product id='0x1593'>Ethernet Controller E810-C for SFP</product>
    <vendor id='0x8086'>Intel Corporation</vendor>
    <capability type='virt_functions' maxCount='64'>
      <address domain='0x0000' bus='0x3b' slot='0x01' function='0x0'/>
      <address domain='0x0000' bus='0x3b' slot='0x01' function='0x1'/>
    </capability>
    <capability type='mdev_types'>
      <type id='nvidia-35'>
        <name>GRID M60-2Q</name>
        <deviceAPI>vfio-pci</deviceAPI>
        <availableInstances>4</availableInstances>
      </type>
    </capability>
    <iommuGroup number='27'>
      <address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/>
    </iommuGroup>
    <numa node='1'/>
    <pci-express><link validity='cap' port='0' speed='16' width='16'/></pci-express>
  </capability>
</device>
"""

SRIOV_VF = """
<device>
  <name>pci_0000_3b_01_0</name>
  <parent>pci_0000_3a_00_0</parent>
  <capability type='pci'>
    <domain>0</domain><bus>59</bus><slot>1</slot><function>0</function>
    <product id='0x1889'/>
    <vendor id='0x8086'/>
    <capability type='phys_function'>
      <address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/>
    </capability>
    <numa node='-1'/>
  </capability>
</device>
"""


def test_pci_device_with_sriov_and_mdev_types():
    record = parse_nodedev_xml(SRIOV_PF)
    assert record['name'] == 'pci_0000_3b_00_0'
    assert record['parent'] == 'pci_0000_3a_00_0'
    assert record['driver'] == 'ice'
    pci = record['pci']
    assert (pci['address'], pci['bus'], pci['class']) == ('0000:3b:00.0', 0x3b, '0x020000')
    assert (pci['vendor_id'], pci['product_id']) == ('0x8086', '0x1593')
    assert pci['product'] == 'Ethernet Controller E810-C for SFP'
    assert pci['iommu_group'] == 27
    assert pci['numa_node'] == 1
    # What only sysfs gives (drivers_autoprobe, offset, stride, vgpu) and what takes the whole read (index, netdev, link)
    # stay None here.
    assert pci['sriov'] == {'totalvfs': 64, 'numvfs': 2, 'drivers_autoprobe': None, 'offset': None, 'stride': None,
                            'physical_function': None,
                            'virtual_functions': ['0000:3b:01.0', '0000:3b:01.1'], 'vf_index': None,
                            'netdev': None, 'link': None, 'vgpu': None}
    assert pci['mdev_types'] == [{'type': 'nvidia-35', 'name': 'GRID M60-2Q', 'device_api': 'vfio-pci',
                                  'available_instances': 4, 'description': None}]
    assert 'virt_functions' in record['capabilities']


def test_virtual_function_without_class_names_or_numa():
    pci = parse_nodedev_xml(SRIOV_VF)['pci']
    assert pci['class'] is None and pci['class_name'] is None
    assert pci['vendor'] is None and pci['product'] is None
    assert pci['numa_node'] is None
    assert pci['iommu_group'] is None
    assert pci['sriov']['physical_function'] == '0000:3b:00.0'


@pytest.mark.parametrize('xml, key, expected', [
    ("<device><name>usb_1_3</name><parent>usb_usb1</parent><capability type='usb_device'><bus>1</bus>"
     "<device>3</device><product id='0xc31c'>Keyboard K120</product><vendor id='0x046d'>Logitech, Inc.</vendor>"
     "</capability></device>", 'usb',
     {'bus': 1, 'device': 3, 'vendor_id': '0x046d', 'product_id': '0xc31c', 'vendor': 'Logitech, Inc.',
      'product': 'Keyboard K120', 'class': None}),
    ("<device><name>usb_1_3_1_0</name><capability type='usb'><number>0</number><class>3</class>"
     "<subclass>1</subclass><protocol>1</protocol></capability></device>", 'usb_interface',
     {'number': 0, 'class': 3, 'subclass': 1, 'protocol': 1}),
    ("<device><name>scsi_0_0_0_0</name><capability type='scsi'><host>0</host><bus>0</bus><target>0</target>"
     "<lun>0</lun><type>disk</type></capability></device>", 'scsi',
     {'host': 0, 'bus': 0, 'target': 0, 'lun': 0, 'type': 'disk'}),
    ("<device><name>block_sda_X</name><capability type='storage'><block>/dev/sda</block><model>M</model>"
     "<vendor>ATA</vendor><serial>X</serial></capability></device>", 'storage',
     {'block': '/dev/sda', 'model': 'M', 'vendor': 'ATA', 'serial': 'X'}),
    ("<device><name>net_eth0_52_54_00_00_00_01</name><capability type='net'><interface>eth0</interface>"
     "<address>52:54:00:00:00:01</address><link state='up'/></capability></device>", 'net',
     {'interface': 'eth0', 'address': '52:54:00:00:00:01'}),
    ("<device><name>scsi_host3</name><capability type='scsi_host'><host>3</host><unique_id>4</unique_id>"
     "<capability type='fc_host'><wwnn>1</wwnn></capability></capability></device>", 'scsi_host',
     {'host': 3, 'unique_id': 4}),
])
def test_other_capabilities(xml, key, expected):
    assert parse_nodedev_xml(xml)[key] == expected


def test_fc_host_is_a_sub_capability_of_scsi_host():
    xml = ("<device><name>scsi_host3</name><capability type='scsi_host'><host>3</host>"
           "<capability type='fc_host'/><capability type='vports'/></capability></device>")
    assert parse_nodedev_xml(xml)['capabilities'] == ['fc_host', 'vports']


def test_sample_host_through_the_test_driver(sample_uri):
    warnings = []
    with connection(sample_uri, readonly=True) as conn:
        records = read_devices(conn, warnings)
        domains = read_domains(conn, warnings)
    by_name = dict((record['name'], record) for record in records)
    assert len(by_name) == 36
    assert by_name['scsi_target6_0_0']['parent'] == 'scsi_host6'
    assert by_name['pci_0000_01_00_0']['pci']['iommu_group'] == 1
    assert by_name['usb_1_3']['usb']['product_id'] == '0xc31c'
    # The test driver (libvirt 9.0) lists mdevs, drops their driver and parent_addr and has no node device state
    # calls (active, persistent, autostart unknown); it refuses the state flags, asked again without.
    assert by_name[HELD]['mdev'] == {'uuid': HELD_UUID, 'type': 'mtty-2', 'device_api': None, 'parent_address': None,
                                     'iommu_group': 10, 'active': None, 'persistent': None, 'autostart': None}
    assert by_name[HELD]['parent'] == 'mtty_mtty' and by_name[HELD]['driver'] is None
    assert domains == [{'name': 'ci-runner', 'active': True,
                        'hostdevs': [{'type': 'pci', 'address': '0000:02:00.0'}, {'type': 'mdev', 'uuid': HELD_UUID}],
                        'macs': []}]
    assert warnings == []


HELD_UUID = 'c2177883-f1bb-47f0-914d-32a22e3a8804'
HELD = 'mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_mtty'


def vanished_error():
    error = libvirt.libvirtError('Node device not found')
    error.err = (libvirt.VIR_ERR_NO_NODE_DEVICE, libvirt.VIR_FROM_NODEDEV, 'Node device not found',
                 libvirt.VIR_ERR_ERROR, None, None, None, -1, -1)
    return error


class FakeDevice:
    def __init__(self, name, xml=None):
        self._name = name
        self._xml = xml

    def name(self):
        return self._name

    def XMLDesc(self, _flags):
        if self._xml is None:
            raise vanished_error()
        return self._xml


class FakeConnection:
    def __init__(self, devices):
        self.devices = devices

    def listAllDevices(self, _flags):
        return self.devices


def test_device_that_vanishes_mid_scan_is_skipped_with_a_warning():
    kept = "<device><name>computer</name><capability type='system'/></device>"
    warnings = []
    records = read_devices(FakeConnection([FakeDevice('pci_0000_05_00_0'), FakeDevice('computer', kept)]), warnings)
    assert [record['name'] for record in records] == ['computer']
    assert len(warnings) == 1 and 'vanished' in warnings[0] and 'Node device not found' in warnings[0]


def test_other_libvirt_errors_are_not_swallowed():
    class Broken(FakeConnection):
        def listAllDevices(self, _flags):
            raise libvirt.libvirtError('internal error: udev gone')

    with pytest.raises(HostdevError, match='cannot list node devices: .*udev gone'):
        read_devices(Broken([]), [])


def test_unreachable_daemon_message_names_the_uri(tmp_path):
    uri = 'qemu:///system?socket=%s/none' % tmp_path
    with pytest.raises(HostdevError, match='cannot connect to libvirt at qemu:///system\\?socket='):
        with connection(uri, readonly=True):
            pass


def test_other_errors_while_reading_a_device_become_a_message():
    class Denied(FakeDevice):
        def XMLDesc(self, _flags):
            error = libvirt.libvirtError('access denied')
            error.err = (libvirt.VIR_ERR_ACCESS_DENIED, libvirt.VIR_FROM_NODEDEV, 'access denied',
                         libvirt.VIR_ERR_ERROR, None, None, None, -1, -1)
            raise error

    with pytest.raises(HostdevError, match='cannot read a node device: access denied'):
        read_devices(FakeConnection([Denied('pci_0000_05_00_0')]), [])


def test_domain_that_vanishes_mid_scan_is_skipped_with_a_warning():
    class Gone:
        def name(self):
            return 'gone'

        def isActive(self):
            raise vanished_error()

    class Connection:
        def listAllDomains(self, _flags):
            return [Gone()]

    warnings = []
    assert read_domains(Connection(), warnings) == []
    assert len(warnings) == 1 and 'a domain vanished while it was read' in warnings[0]


def test_hostdev_networks_through_the_test_driver(sample_uri):
    """The test driver keeps networks: the hostdev ones are read with their pools, active or not."""
    with connection(sample_uri) as conn:
        conn.networkCreateXML("<network><name>sriov-pool</name><forward mode='hostdev' managed='yes'>"
                              "<pf dev='enp2s0'/></forward></network>")
        conn.networkDefineXML("<network><name>by-address</name><forward mode='hostdev'>"
                              "<address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x1'/>"
                              "</forward></network>")
        warnings = []
        networks = read_networks(conn, warnings)
    assert networks == [
        {'name': 'by-address', 'pf': [], 'addresses': ['0000:02:10.1'], 'active': False},
        {'name': 'sriov-pool', 'pf': ['enp2s0'], 'addresses': [], 'active': True}]
    assert warnings == []


def test_a_daemon_without_networks_holds_none_and_says_so():
    class NoNetworkDriver:
        def listAllNetworks(self, _flags):
            raise libvirt.libvirtError('this function is not supported by the connection driver: virConnectListAllNetworks')
    warnings = []
    assert read_networks(NoNetworkDriver(), warnings) == []
    assert warnings == ['cannot list networks: this function is not supported by the connection driver: '
                        'virConnectListAllNetworks: the VFs of libvirt hostdev networks are not known as held by them']


# -- mediated devices: the XML libvirt 9.0 gives (lab recipe, layer F) and the state calls ---------

# libvirt 9.0 nests a parent's own mdev_types capability in one of the same type (seen in the lab).

# MTTY_PARENT_XML: the sample host's mtty parent, as libvirt 9.0 gives it (fixtures.sample_host).

MTTY_MDEV_XML = """<device>
  <name>mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_mtty</name>
  <path>/sys/devices/virtual/mtty/mtty/c2177883-f1bb-47f0-914d-32a22e3a8804</path>
  <parent>mtty_mtty</parent>
  <driver><name>mtty</name></driver>
  <capability type='mdev'>
    <type id='mtty-2'/>
    <uuid>C2177883-F1BB-47F0-914D-32A22E3A8804</uuid>
    <parent_addr>mtty</parent_addr>
    <iommuGroup number='14'/>
  </capability>
</device>"""

# A defined mdev not started: libvirt knows no path, driver nor group of it.
DEFINED_MDEV_XML = """<device>
  <name>mdev_5e3c1d9a_0f4b_4c2e_8a61_7d2b9e0c4f13_mtty</name>
  <parent>mtty_mtty</parent>
  <capability type='mdev'>
    <type id='mtty-1'/>
    <uuid>5e3c1d9a-0f4b-4c2e-8a61-7d2b9e0c4f13</uuid>
    <parent_addr>mtty</parent_addr>
    <iommuGroup number='0'/>
  </capability>
</device>"""


def test_a_parent_that_is_no_pci_device_lists_its_types():
    record = parse_nodedev_xml(MTTY_PARENT_XML)
    assert (record['type'], record['parent'], record['capabilities']) == ('mdev_types', 'computer', [])
    assert record['mdev_parent'] == {'types': [
        {'type': 'mtty-1', 'name': 'Single port serial', 'device_api': 'vfio-pci', 'available_instances': 20,
         'description': None},
        {'type': 'mtty-2', 'name': 'Dual port serial', 'device_api': 'vfio-pci', 'available_instances': 10,
         'description': None}]}


def test_a_parents_types_are_read_at_either_level():
    flat = MTTY_PARENT_XML.replace("    <capability type='mdev_types'>\n", '', 1).replace('    </capability>\n', '', 1)
    assert flat.count("<capability type='mdev_types'>") == 1
    assert parse_nodedev_xml(flat)['mdev_parent'] == parse_nodedev_xml(MTTY_PARENT_XML)['mdev_parent']
    assert len(parse_nodedev_xml(flat)['mdev_parent']['types']) == 2


def test_an_mdev_gives_its_type_uuid_parent_and_group():
    record = parse_nodedev_xml(MTTY_MDEV_XML)
    assert (record['type'], record['parent'], record['driver']) == ('mdev', 'mtty_mtty', 'mtty')
    assert record['mdev'] == {'uuid': HELD_UUID, 'type': 'mtty-2', 'device_api': None, 'parent_address': 'mtty',
                              'iommu_group': 14, 'active': None, 'persistent': None, 'autostart': None}


def libvirt_error(code, message):
    error = libvirt.libvirtError(message)
    error.err = (code, libvirt.VIR_FROM_NODEDEV, message, libvirt.VIR_ERR_ERROR, None, None, None, -1, -1)
    return error


class StatefulDevice(FakeDevice):
    def __init__(self, name, xml, active, persistent, autostart):
        super().__init__(name, xml)
        self.state = (active, persistent, autostart)

    def isActive(self):
        return self.state[0]

    def isPersistent(self):
        return self.state[1]

    def autostart(self):
        if isinstance(self.state[2], Exception):
            raise self.state[2]
        return self.state[2]


class FlaggedConnection(FakeConnection):
    """A daemon of libvirt 7.3+: lists defined-but-inactive node devices only when asked to by flag."""

    def __init__(self, devices, inactive):
        super().__init__(devices)
        self.inactive = inactive
        self.asked = []

    def listAllDevices(self, flags):
        self.asked.append(flags)
        wanted = flags & libvirt.VIR_CONNECT_LIST_NODE_DEVICES_INACTIVE
        return self.devices + (self.inactive if wanted else [])


def test_defined_mdevs_are_listed_with_their_state():
    active = StatefulDevice(HELD, MTTY_MDEV_XML, 1, 1, 1)
    defined = StatefulDevice('mdev_5e3c1d9a_0f4b_4c2e_8a61_7d2b9e0c4f13_mtty', DEFINED_MDEV_XML, 0, 1, 0)
    conn = FlaggedConnection([FakeDevice('mtty_mtty', MTTY_PARENT_XML), active], [defined])
    warnings = []
    records = dict((record['name'], record) for record in read_devices(conn, warnings))
    assert conn.asked == [libvirt.VIR_CONNECT_LIST_NODE_DEVICES_ACTIVE | libvirt.VIR_CONNECT_LIST_NODE_DEVICES_INACTIVE]
    assert sorted(records) == sorted(['mtty_mtty', HELD, defined.name()])
    assert [records[name]['mdev'][key] for name in (HELD, defined.name()) for key in ('active', 'persistent', 'autostart')
            ] == [True, True, True, False, True, False]
    assert records[defined.name()]['path'] is None and warnings == []


def test_a_driver_that_refuses_the_state_flags_is_asked_without():
    class Refusing(FakeConnection):
        asked = []

        def listAllDevices(self, flags):
            self.asked.append(flags)
            if flags:
                raise libvirt_error(libvirt.VIR_ERR_INVALID_ARG, 'unsupported flags (0xc0000000)')
            return self.devices

    conn = Refusing([FakeDevice('mtty_mtty', MTTY_PARENT_XML)])
    assert [record['name'] for record in read_devices(conn, [])] == ['mtty_mtty']
    assert conn.asked[-1] == 0 and len(conn.asked) == 2


def test_a_read_only_connection_leaves_autostart_unknown_and_other_errors_are_messages():
    denied = libvirt_error(libvirt.VIR_ERR_OPERATION_DENIED,
                           'operation forbidden: read only access prevents virNodeDeviceGetAutostart')
    records = read_devices(FakeConnection([StatefulDevice(HELD, MTTY_MDEV_XML, 1, 0, denied)]), [])
    assert [records[0]['mdev'][key] for key in ('active', 'persistent', 'autostart')] == [True, False, None]
    broken = libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, 'internal error: mdevctl failed')
    with pytest.raises(HostdevError, match='cannot read mdev %s: internal error: mdevctl failed' % HELD):
        read_devices(FakeConnection([StatefulDevice(HELD, MTTY_MDEV_XML, 1, 0, broken)]), [])
