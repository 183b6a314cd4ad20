"""The device record is declared once: both readers build exactly the declared keys."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import connection
from ansible_collections.virt.hostdev.plugins.module_utils.model import records
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_via_libvirt, read_via_sysfs

from fixtures.sample_host import WithMttyParent


def declared_shape(record):
    """The keys a record of its type must have: DEVICE_KEYS plus the declared sub-dict."""
    keys = set(records.DEVICE_KEYS)
    sub = None
    if record['type'] in records.CAPABILITIES:
        key, fields = records.CAPABILITIES[record['type']]
        keys.add(key)
        sub = (key, set(fields))
    return keys, sub


@pytest.mark.parametrize('reader', ['libvirt', 'sysfs'])
def test_both_readers_build_exactly_the_declared_keys(reader, sample_uri, sample_sysfs):
    if reader == 'libvirt':
        with connection(sample_uri, readonly=True) as conn:
            found = read_via_libvirt(sample_uri, sample_sysfs, conn=WithMttyParent(conn))[0]
    else:
        found = read_via_sysfs(sample_sysfs)[0]
    types = set()
    for record in found:
        keys, sub = declared_shape(record)
        assert set(record) - {'host_use'} == keys, record['name']
        if sub is not None:
            assert set(record[sub[0]]) == sub[1], record['name']
            types.add(record['type'])
        pci = record.get('pci')
        if pci and pci['sriov'] is not None:
            assert set(pci['sriov']) == set(records.SRIOV_KEYS), record['name']
    # The sample host has a device of every declared capability type but storage (libvirt without udev).
    assert types >= set(records.CAPABILITIES) - ({'storage'} if reader == 'libvirt' else set())


def test_capability_record_fills_every_declared_key_and_refuses_unknown_ones():
    usb = records.capability_record('usb_device', bus=1, device=3)
    assert usb == {'bus': 1, 'device': 3, 'vendor_id': None, 'product_id': None, 'vendor': None,
                   'product': None, 'class': None}
    with pytest.raises(ValueError, match='usb_device record has no key serial'):
        records.capability_record('usb_device', serial='x')


@pytest.mark.parametrize('node, expected', [(-1, None), (None, None), (0, 0), (3, 3)])
def test_numa_node_rule(node, expected):
    assert records.capability_record('pci', numa_node=node)['numa_node'] == expected


def test_sriov_rule_gives_one_shape():
    """A PF and a VF have the same keys; the VF index order the readers give is kept (virtfn10 after virtfn9)."""
    functions = ['0000:3b:01.%d' % index for index in range(8)] + ['0000:3b:02.0', '0000:3b:02.1']
    physical = records.capability_record('pci', sriov={'totalvfs': 16, 'virtual_functions': functions,
                                                       'drivers_autoprobe': True})
    assert physical['sriov'] == {'totalvfs': 16, 'numvfs': 10, 'drivers_autoprobe': True, 'offset': None,
                                 'stride': None, 'virtual_functions': functions, 'physical_function': None, 'vf_index': None,
                                 'netdev': None, 'link': None, 'vgpu': None}
    virtual = records.capability_record('pci', sriov={
        'physical_function': '0000:3b:00.0', 'link': {'mac': '52:54:00:6d:90:02', 'vlan': 100, 'junk': 1},
        'vgpu': {'creatable_types': [], 'current_type': 0}})
    assert virtual['sriov'] == {'totalvfs': None, 'numvfs': None, 'drivers_autoprobe': None, 'offset': None,
                                'stride': None, 'virtual_functions': [],
                                'physical_function': '0000:3b:00.0', 'vf_index': None, 'netdev': None,
                                'link': {'mac': '52:54:00:6d:90:02', 'vlan': 100, 'qos': None, 'spoof_check': None,
                                         'trust': None, 'link_state': None},
                                'vgpu': {'creatable_types': [], 'current_type': 0}}
    assert list(virtual['sriov']) == list(records.SRIOV_KEYS)
    assert records.capability_record('pci')['sriov'] is None


def _pci(name, address, sriov=None):
    return records.device_record(name, 'pci', parent='computer', details={'address': address, 'sriov': sriov})


def test_virtual_functions_take_their_index_and_netdevs_from_the_read():
    pf = _pci('pci_0000_3b_00_0', '0000:3b:00.0', {'totalvfs': 8, 'virtual_functions': ['0000:3b:01.1', '0000:3b:01.0']})
    first = _pci('pci_0000_3b_01_1', '0000:3b:01.1', {'physical_function': '0000:3b:00.0'})
    second = _pci('pci_0000_3b_01_0', '0000:3b:01.0', {'physical_function': '0000:3b:00.0'})
    nets = [records.device_record('net_%s' % interface, 'net', parent=parent, details={'interface': interface})
            for parent, interface in (('pci_0000_3b_00_0', 'ens1f0'), ('pci_0000_3b_01_0', 'ens1f0v1'),
                                      ('pci_0000_3b_00_0', 'ens1d1'))]
    records.link_virtual_functions([pf, first, second] + nets)
    assert (first['pci']['sriov']['vf_index'], second['pci']['sriov']['vf_index']) == (0, 1)
    assert pf['pci']['sriov']['netdev'] == 'ens1d1'  # two interfaces of one function: the first by name
    assert (first['pci']['sriov']['netdev'], second['pci']['sriov']['netdev']) == (None, 'ens1f0v1')
    assert pf['pci']['sriov']['vf_index'] is None


def test_a_vf_whose_pf_was_not_read_has_no_index():
    orphan = _pci('pci_0000_3b_01_0', '0000:3b:01.0', {'physical_function': '0000:3b:00.0'})
    records.link_virtual_functions([orphan])
    assert orphan['pci']['sriov']['vf_index'] is None


def test_a_vf_takes_its_index_from_its_own_pf_not_from_another_that_lists_it():
    """Junk in a tree: a second PF's virtfn2 names a VF whose physfn is the first PF. Its index is its place in
    its own PF's list (the one `ip link` of that PF's interface goes by), whatever the other says."""
    own = _pci('pci_0000_06_00_0', '0000:06:00.0', {'totalvfs': 7, 'virtual_functions': ['0000:06:10.0', '0000:06:10.2']})
    other = _pci('pci_0000_07_00_0', '0000:07:00.0', {'totalvfs': 2, 'virtual_functions': [
        '0000:07:00.1', '0000:07:00.2', '0000:06:10.2']})
    vf = _pci('pci_0000_06_10_2', '0000:06:10.2', {'physical_function': '0000:06:00.0'})
    stray = _pci('pci_0000_07_00_1', '0000:07:00.1', {'physical_function': '0000:06:00.0'})  # its PF does not list it
    records.link_virtual_functions([own, other, vf, stray])
    assert vf['pci']['sriov']['vf_index'] == 1
    assert stray['pci']['sriov']['vf_index'] is None


def test_sysfs_fills_what_libvirt_does_not_say_of_a_pf():
    from_libvirt = _pci('pci_0000_3b_00_0', '0000:3b:00.0', {'totalvfs': 8, 'virtual_functions': ['0000:3b:01.0']})
    from_sysfs = _pci('pci_0000_3b_00_0', '0000:3b:00.0', {'totalvfs': 7, 'virtual_functions': [],
                                                           'drivers_autoprobe': False})
    records.fill_gaps(from_libvirt, from_sysfs)
    sriov = from_libvirt['pci']['sriov']
    assert (sriov['totalvfs'], sriov['virtual_functions'], sriov['drivers_autoprobe']) == (8, ['0000:3b:01.0'], False)


def test_mdev_types_are_sorted_with_every_key():
    found = records.capability_record('pci', mdev_types=[{'type': 'nvidia-2'}, {'type': 'nvidia-1', 'name': 'A'}])
    assert found['mdev_types'] == [
        {'type': 'nvidia-1', 'name': 'A', 'device_api': None, 'available_instances': None, 'description': None},
        {'type': 'nvidia-2', 'name': None, 'device_api': None, 'available_instances': None, 'description': None}]
    # a parent that is not a PCI device (mtty, css, ap_matrix) has the same shape of types
    parent = records.device_record('mtty_mtty', 'mdev_types', details={'types': [{'type': 'mtty-2'}, {'type': 'mtty-1'}]})
    assert [item['type'] for item in parent['mdev_parent']['types']] == ['mtty-1', 'mtty-2']


@pytest.mark.parametrize('value, expected', [
    ('C2177883-F1BB-47F0-914D-32A22E3A8804', 'c2177883-f1bb-47f0-914d-32a22e3a8804'),
    (' c2177883-f1bb-47f0-914d-32a22e3a8804\n', 'c2177883-f1bb-47f0-914d-32a22e3a8804'),
    ('c2177883f1bb47f0914d32a22e3a8804', None),  # libvirt and sysfs write it dashed
    ('c2177883-f1bb-47f0-914d-32a22e3a880', None),
    (None, None),
    (42, None),
])
def test_normalize_uuid(value, expected):
    assert records.normalize_uuid(value) == expected


def test_mdev_name_is_libvirts():
    uuid = 'c2177883-f1bb-47f0-914d-32a22e3a8804'
    assert records.mdev_name(uuid, 'mtty') == 'mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_mtty'
    assert records.mdev_name(uuid, '0000:00:02.0') == 'mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_0000_00_02_0'
    assert records.mdev_name(uuid, None) == 'mdev_c2177883_f1bb_47f0_914d_32a22e3a8804'


def test_device_record_without_a_declared_capability():
    record = records.device_record('computer', 'system', capabilities=['b', 'a'])
    assert record == {'name': 'computer', 'type': 'system', 'parent': None, 'path': None, 'driver': None,
                      'capabilities': ['a', 'b']}


def test_fill_gaps_keeps_the_first_records_values():
    first = records.device_record('pci_0000_01_00_0', 'pci', details={'vendor_id': '0x10de', 'boot_vga': None})
    second = records.device_record('pci_0000_01_00_0', 'pci', driver='nvidia',
                                   details={'vendor_id': '0x8086', 'boot_vga': True, 'numa_node': 1})
    records.fill_gaps(first, second)
    assert (first['driver'], first['pci']['vendor_id'], first['pci']['boot_vga'], first['pci']['numa_node']) == \
        ('nvidia', '0x10de', True, 1)


def test_unique_sources_keeps_the_first_of_each():
    pci = {'type': 'pci', 'address': '0000:01:00.0'}
    usb = {'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31c', 'bus': None, 'device': None}
    assert records.unique_sources([pci, usb, dict(pci)]) == [pci, usb]


@pytest.mark.parametrize('kind, key', [('pci', 'mdev_types'), ('mdev_types', 'types')])
def test_fill_gaps_adds_what_sysfs_says_of_a_parents_types(kind, key):
    """libvirt gives no type description: the enrichment from sysfs fills it, type by type."""
    mine = records.device_record('p', kind, details={key: [
        {'type': 'mtty-2', 'available_instances': 10}, {'type': 'mtty-1', 'available_instances': 20}]})
    theirs = records.device_record('p', kind, details={key: [
        {'type': 'mtty-1', 'available_instances': 19, 'description': 'one port'},
        {'type': 'mtty-9', 'description': 'not offered by libvirt'}]})
    records.fill_gaps(mine, theirs)
    found = records.capability_of(mine)[key]
    assert [(item['type'], item['available_instances'], item['description']) for item in found] == [
        ('mtty-1', 20, 'one port'), ('mtty-2', 10, None)]
