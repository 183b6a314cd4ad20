"""What a network PF says of its VFs: `ip -j -d link show` parsed from captured output (iproute2 6.1 on
an igb PF with 4 VFs, a PF without VFs, an iproute2 that gives no vfinfo in JSON), run once per read and
only where the devices are this machine's."""

import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import device_record, link_virtual_functions
from ansible_collections.virt.hostdev.plugins.module_utils.reading import host_reader
from ansible_collections.virt.hostdev.plugins.module_utils.reading.vf_links import (
    IP_LINK_COMMAND,
    IP_LINK_TIMEOUT,
    attach_vf_links,
    network_vfs,
    parse_vf_links,
    read_vf_links,
)

import fixtures
from fixtures.synthetic_host import synthetic_ip_links, synthetic_sriov_sysfs

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(fixtures.__file__)), 'ip_link')


def captured(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


UNTAGGED = {'mac': '00:00:00:00:00:00', 'vlan': 0, 'qos': 0, 'spoof_check': True, 'trust': False, 'link_state': 'auto'}


def test_an_igb_pf_with_four_vfs():
    warnings = []
    links = parse_vf_links(captured('igb_pf_4vfs.json'), warnings)
    assert warnings == []
    assert list(links) == ['enp1s0']  # lo, the other NIC and the VFs' own interfaces list no VFs
    assert links['enp1s0'] == {
        0: UNTAGGED,
        1: dict(UNTAGGED, mac='52:54:00:6d:90:02', vlan=100),
        2: dict(UNTAGGED, spoof_check=False, trust=True, link_state='disable'),
        3: dict(UNTAGGED, vlan=42, qos=3, link_state='enable'),
    }


def test_a_pf_without_vfs_lists_none():
    assert parse_vf_links(captured('pf_without_vfs.json'), []) == {'enp1s0': {}}


def test_an_iproute2_without_vfinfo_in_json_lists_no_interface():
    assert parse_vf_links(captured('iproute2_without_vfinfo.json'), []) == {}


def test_settings_a_driver_does_not_report_are_unknown():
    text = '[{"ifname": "ens1f0", "vfinfo_list": [{"vf": 0, "address": "00:00:00:00:00:00", "vlan": 7}, "junk", ' \
           '{"vf": true}, {"vf": 1, "address": 5, "vlan_list": [{"vlan": "x"}], "spoofchk": "on"}]}]'
    assert parse_vf_links(text, []) == {'ens1f0': {
        0: {'mac': '00:00:00:00:00:00', 'vlan': 7, 'qos': 0, 'spoof_check': None, 'trust': None, 'link_state': None},
        1: {'mac': None, 'vlan': None, 'qos': 0, 'spoof_check': None, 'trust': None, 'link_state': None}}}


@pytest.mark.parametrize('text, said', [
    ('', 'did not give JSON'),
    (None, 'did not give JSON'),
    ('Object "link" is unknown, try "ip help".', 'did not give JSON'),
    ('[{"ifname": "enp1s0", "vfinfo_list": [', 'did not give JSON'),
    ('{"ifname": "enp1s0"}', 'gave dict, not a list of interfaces'),
])
def test_junk_output_leaves_the_settings_unknown_with_a_warning(text, said):
    warnings = []
    assert parse_vf_links(text, warnings) is None
    assert len(warnings) == 1 and said in warnings[0] and 'are unknown' in warnings[0]


def test_the_command_runs_once_with_its_time_limit():
    ran = []

    def run(argv, timeout):
        ran.append((argv, timeout))
        return captured('igb_pf_4vfs.json')
    assert read_vf_links(run, [])['enp1s0'][1]['vlan'] == 100
    assert ran == [(['ip', '-j', '-d', 'link', 'show'], IP_LINK_TIMEOUT)] == [(IP_LINK_COMMAND, 10)]


def test_a_failing_command_is_a_warning():
    def run(argv, timeout):
        raise HostdevError('ip -j -d link show timed out after 10 s: it did not finish within 10 s and was stopped')
    warnings = []
    assert read_vf_links(run, warnings) is None
    assert warnings == ['ip -j -d link show timed out after 10 s: it did not finish within 10 s and was stopped: '
                        'the MAC, VLAN and link settings of the virtual functions are unknown']


def igb_records(vfs=4, pf_netdev='enp1s0'):
    """An igb PF at 01:00.0 with vfs VFs at 01:10.0, 01:10.2, ... (igb's routing ID stride of 2), as read."""
    addresses = ['0000:01:10.%d' % (2 * vf) for vf in range(vfs)]
    records = [device_record('pci_0000_01_00_0', 'pci', details={
        'address': '0000:01:00.0', 'sriov': {'totalvfs': 7, 'virtual_functions': addresses}})]
    records += [device_record('pci_0000_01_10_%d' % (2 * vf), 'pci', details={
        'address': address, 'sriov': {'physical_function': '0000:01:00.0'}}) for vf, address in enumerate(addresses)]
    if pf_netdev:
        records.append(device_record('net_' + pf_netdev, 'net', parent='pci_0000_01_00_0',
                                     details={'interface': pf_netdev}))
    link_virtual_functions(records)
    return dict((record['name'], record) for record in records)


def test_each_vf_takes_what_its_pf_says_of_its_index():
    records = igb_records()
    warnings = []
    attach_vf_links(records.values(), parse_vf_links(captured('igb_pf_4vfs.json'), []), None, warnings)
    assert warnings == []
    assert records['pci_0000_01_10_2']['pci']['sriov']['link'] == dict(UNTAGGED, mac='52:54:00:6d:90:02', vlan=100)
    assert records['pci_0000_01_10_6']['pci']['sriov']['link']['vlan'] == 42
    assert records['pci_0000_01_00_0']['pci']['sriov']['link'] is None  # a PF has no link of its own


def test_vfs_the_pf_does_not_list_are_unknown_with_a_warning():
    records = igb_records()
    warnings = []
    attach_vf_links(records.values(), parse_vf_links(captured('iproute2_without_vfinfo.json'), []), None, warnings)
    assert all(records[name]['pci']['sriov']['link'] is None for name in records if name.startswith('pci_0000_01_10'))
    assert warnings == [
        'enp1s0 lists no settings for its virtual functions 0000:01:10.0, 0000:01:10.2, 0000:01:10.4, 0000:01:10.6 '
        '(an iproute2 too old to give them in JSON, or a driver that does not report them): their MAC, VLAN and '
        'link settings are unknown']


def test_links_not_read_say_why():
    records = igb_records(vfs=1)
    warnings = []
    attach_vf_links(records.values(), None, 'test:///default describes another machine', warnings)
    assert warnings == ['the MAC, VLAN and link settings of 1 virtual function (of enp1s0) are unknown: '
                        'test:///default describes another machine']


def test_vfs_of_a_pf_without_an_interface_are_no_network_vfs():
    records = igb_records(pf_netdev=None)
    assert not network_vfs(records.values())
    warnings = []
    attach_vf_links(records.values(), None, 'not read', warnings)
    assert warnings == [] and records['pci_0000_01_10_0']['pci']['sriov']['link'] is None
    assert network_vfs(igb_records().values())


# -- in a read of the host --------------------------------------------------------------------

@pytest.fixture(scope='module')
def sriov_root(tmp_path_factory):
    return synthetic_sriov_sysfs(str(tmp_path_factory.mktemp('sriov')), pfs=2, vfs=4)


def counting_run(text):
    ran = []

    def run(argv, timeout):
        ran.append(argv)
        return text
    return run, ran


def test_another_hosts_tree_is_not_asked_of_this_machines_ip(sriov_root):
    run, ran = counting_run(synthetic_ip_links(2, 4))
    model, _used, warnings = host_reader.read_host('sysfs', sysfs_root=sriov_root, run=run)
    assert ran == []
    assert model.device('pci_0000_81_10_1')['pci']['sriov']['link'] is None
    assert [warning for warning in warnings if 'link settings' in warning] == [
        "the MAC, VLAN and link settings of 8 virtual functions (of enp129s0f0, enp130s0f0) are unknown: "
        "sysfs_root %s is not this machine's /sys, and `ip link` here would describe this machine" % sriov_root]


def test_this_machines_tree_runs_ip_once(sriov_root, monkeypatch):
    monkeypatch.setattr(host_reader, 'is_this_machines_sysfs', lambda root: True)
    run, ran = counting_run(synthetic_ip_links(2, 4, {(1, 3): {'mac': '52:54:00:6d:90:02', 'vlan': 100}}))
    model, _used, warnings = host_reader.read_host('sysfs', sysfs_root=sriov_root, run=run)
    assert ran == [IP_LINK_COMMAND]
    assert not [warning for warning in warnings if 'link settings' in warning]
    sriov = model.device('pci_0000_82_10_3')['pci']['sriov']
    assert (sriov['physical_function'], sriov['vf_index'], sriov['netdev']) == ('0000:82:00.0', 3, 'enp130s0f0v3')
    assert sriov['link'] == dict(UNTAGGED, mac='52:54:00:6d:90:02', vlan=100)


def test_junk_from_ip_is_a_warning_in_a_read(sriov_root, monkeypatch):
    monkeypatch.setattr(host_reader, 'is_this_machines_sysfs', lambda root: True)
    run, ran = counting_run('<html>not json</html>')
    model, _used, warnings = host_reader.read_host('sysfs', sysfs_root=sriov_root, run=run)
    assert len(ran) == 1 and model.device('pci_0000_81_10_0')['pci']['sriov']['link'] is None
    assert any('did not give JSON' in warning for warning in warnings)
    assert any('of 8 virtual functions' in warning for warning in warnings)


def test_without_a_runner_nothing_runs_and_nothing_is_said(sriov_root):
    """Modules that report no VF settings (vfio_reserve, domain_hostdev) read without them."""
    _model, _used, warnings = host_reader.read_host('sysfs', sysfs_root=sriov_root)
    assert not [warning for warning in warnings if 'link settings' in warning]


def test_the_test_driver_is_another_machine(sample_uri):
    run, ran = counting_run('[]')
    host_reader.read_host('libvirt', sample_uri, run=run)
    assert ran == []
