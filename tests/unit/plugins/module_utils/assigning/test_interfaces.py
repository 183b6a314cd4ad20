# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""interfaces: VFs given as <interface type='hostdev'> with a MAC and a VLAN, planned on the sample
workstation with SR-IOV PFs added (fixtures.sriov_host)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import (
    AssignmentRequest,
    plan_assignment,
)
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.interfaces import RequestError
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import (
    build_hostdev,
    generated_mac,
    interface_settings,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import problems_message
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host

from fixtures.sriov_host import NET_PF, NET_TOTAL, net_vf, nvme_vf, read_sriov, sriov_model
from support.fake_sriov import sriov_host

UUID = '6695eb01-f6a4-8304-79aa-97f2502e193f'
VF0, VF1 = 'pci_0000_06_10_0', 'pci_0000_06_10_2'


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return read_sriov(str(tmp_path_factory.mktemp('host')), vfs=4)


model_of = sriov_model


def domain(body='', name='guest', uuid=UUID):
    return "<domain type='kvm'><name>%s</name><uuid>%s</uuid><devices>%s</devices></domain>" % (name, uuid, body)


def plan(model, devices, config_xml=None, **options):
    return plan_assignment(model, AssignmentRequest('guest', devices, **options),
                           config_xml=config_xml if config_xml is not None else domain())


def codes(result):
    return sorted(item['code'] for item in result.problems)


def test_a_vf_goes_in_as_an_interface_with_the_given_mac_and_vlan(records):
    result = plan(model_of(records), [net_vf(0)], interface={'mac': '02:AA:bb:00:00:01', 'vlan': 100})
    assert result.problems == [] and result.added == [VF0]
    element = ET.fromstring(result.edits[0]['xml'])
    assert (element.tag, element.get('type'), element.get('managed')) == ('interface', 'hostdev', 'yes')
    assert element.find('source/address').attrib == {
        'type': 'pci', 'domain': '0x0000', 'bus': '0x06', 'slot': '0x10', 'function': '0x0'}
    assert interface_settings(element) == {'mac': '02:aa:bb:00:00:01', 'vlan': 100}
    assert result.interfaces == [{'device': VF0, 'address': net_vf(0), 'mac': '02:aa:bb:00:00:01', 'vlan': 100}]
    assert '<interface' in result.diff['after'] and result.diff['before'] == ''


def test_the_generated_mac_is_stable_local_unicast_and_differs_per_domain_and_device(records):
    first = plan(model_of(records), [net_vf(0), net_vf(1)], interface={})
    again = plan(model_of(records), [net_vf(0), net_vf(1)], interface={})
    macs = [item['mac'] for item in first.interfaces]
    assert macs == [item['mac'] for item in again.interfaces]
    assert macs[0] == generated_mac(UUID, net_vf(0)) and macs[0] != macs[1]
    assert all(int(mac[:2], 16) & 3 == 2 for mac in macs)  # locally administered, unicast
    other = plan_assignment(model_of(records), AssignmentRequest('guest', [net_vf(0)], interface={}),
                            config_xml=domain(uuid='00000000-0000-0000-0000-000000000001'))
    assert other.interfaces[0]['mac'] != macs[0]
    assert [interface_settings(ET.fromstring(edit['xml']))['vlan'] for edit in first.edits] == [None, None]


def test_an_interface_already_there_is_matched_by_its_source_address(records):
    model = model_of(records)
    first = plan(model, [net_vf(0)], interface={'vlan': 7})
    # libvirt adds a guest address and an alias: still the same interface
    stored = first.edits[0]['xml'].replace('</interface>', "<address type='pci' domain='0x0000' bus='0x07' "
                                           "slot='0x00' function='0x0'/><alias name='hostdev0'/></interface>")
    again = plan(model, [net_vf(0)], config_xml=domain(stored), interface={'vlan': 7})
    assert again.problems == [] and again.edits == [] and not again.changed
    assert again.interfaces == first.interfaces


def test_another_vlan_or_mac_is_updated_in_place_keeping_the_guest_address(records):
    model = model_of(records)
    stored = ("<interface type='hostdev' managed='yes'><mac address='02:00:00:00:00:07'/><source>"
              "<address type='pci' domain='0x0000' bus='0x06' slot='0x10' function='0x0'/></source>"
              "<vlan><tag id='7'/></vlan><address type='pci' domain='0x0000' bus='0x07' slot='0x00' "
              "function='0x0'/></interface>")
    # no mac asked: the interface keeps its own, only the VLAN changes
    result = plan(model, [net_vf(0)], config_xml=domain(stored), interface={'vlan': 8})
    assert result.problems == [] and result.updated == [VF0] and result.added == [] and result.removed == []
    detach, attach = result.edits
    assert (detach['action'], attach['action']) == ('detach', 'attach')
    new = ET.fromstring(attach['xml'])
    assert interface_settings(new) == {'mac': '02:00:00:00:00:07', 'vlan': 8}
    assert new.find('address').get('bus') == '0x07'  # the same slot in the guest
    assert "<tag id=\"7\"" in result.diff['before'] and "<tag id=\"8\"" in result.diff['after']
    # a MAC asked replaces the one there; no vlan asked removes the tag
    result = plan(model, [net_vf(0)], config_xml=domain(stored), interface={'mac': '02:00:00:00:00:09'})
    assert interface_settings(ET.fromstring(result.edits[1]['xml'])) == {'mac': '02:00:00:00:00:09', 'vlan': None}


def test_a_plain_hostdev_of_the_vf_is_refused_not_converted(records):
    model = model_of(records)
    record = model.device(VF0)
    result = plan(model, [net_vf(0)], config_xml=domain(build_hostdev(record)), interface={})
    assert codes(result) == ['hostdev_not_interface'] and result.edits == []
    assert 'plain <hostdev>' in result.problems[0]['message'] and 'state: absent' in result.problems[0]['message']


def test_a_non_network_device_is_refused_as_an_interface(records):
    result = plan(model_of(records), [nvme_vf(0), net_vf(0)], interface={})
    assert codes(result) == ['not_a_network_device']
    assert result.problems[0]['device'] == 'pci_0000_07_00_1' and '0x010802' in result.problems[0]['message']
    # without interface it goes in as a plain hostdev
    assert plan(model_of(records), [nvme_vf(0)]).problems == []


def test_a_mac_another_domain_uses_is_refused(records):
    other = {'name': 'router', 'active': False, 'hostdevs': [], 'macs': ['02:00:00:00:00:01']}
    model = model_of(records, domains=[other])
    result = plan(model, [net_vf(0)], interface={'mac': '02:00:00:00:00:01'})
    assert codes(result) == ['mac_in_use']
    assert 'domain router' in problems_message(result.problems)
    assert plan(model, [net_vf(0)], interface={'mac': '02:00:00:00:00:02'}).problems == []


def test_a_mac_of_another_interface_of_the_same_domain_is_refused(records):
    own = "<interface type='network'><mac address='02:00:00:00:00:01'/><source network='default'/></interface>"
    result = plan(model_of(records), [net_vf(0)], config_xml=domain(own), interface={'mac': '02:00:00:00:00:01'})
    assert codes(result) == ['mac_in_use'] and 'another interface of domain guest' in result.problems[0]['message']


@pytest.mark.parametrize('devices, options, words', [
    (['06:10.0', '06:10.2'], {'interface': {'mac': '02:00:00:00:00:01'}}, 'names 2 devices'),
    (['06:10.0'], {'interface': {'mac': '02:00:00:00:00:01'}, 'include_group': True}, 'include_group'),
    ([], {'interface': {'mac': '02:00:00:00:00:01'}, 'pool': {'pf': NET_PF, 'count': 2}}, 'pool of 2'),
    (['06:10.0'], {'interface': {'mac': '03:00:00:00:00:01'}}, 'multicast'),
    (['06:10.0'], {'interface': {'mac': 'nic-1'}}, 'not a MAC'),
    (['06:10.0'], {'interface': {'vlan': 4096}}, 'VLAN id from 0 to 4095'),
    (['06:10.0'], {'interface': {'vlans': 3}}, 'unknown keys vlans'),
])
def test_bad_interface_options_are_refused_before_anything_is_read(devices, options, words):
    with pytest.raises(RequestError) as caught:
        AssignmentRequest('guest', devices, **options)
    assert words in caught.value.message


def test_a_missing_vf_says_which_pf_and_count_would_create_it(records):
    model = model_of(records)
    result = plan(model, [net_vf(5)])
    assert codes(result) == ['unresolved_reference']
    message = result.problems[0]['message']
    assert 'VF 5 of pci_0000_06_00_0' in message and 'has 4 VFs now (of %d)' % NET_TOTAL in message
    assert 'count: 6' in message
    # beyond the PF's total, or not a VF slot: the generic message
    assert 'VF' not in plan(model, [net_vf(NET_TOTAL)]).problems[0]['message']
    assert 'VF' not in plan(model, ['0000:06:10.1']).problems[0]['message']


def test_a_missing_vf_of_a_pf_whose_vf_layout_is_unknown_is_not_given_a_wrong_index(tmp_path):
    """No sriov_offset or sriov_stride, and no virtfn0: the VFs listed start at VF 1, so a layout inferred from
    them is one stride off (net_vf(5) read as VF 4, 'count: 5' creates no VF there). Unknown, and said so."""
    model = model_of(read_sriov(str(tmp_path), vfs=4, without=['virtfn0']))
    result = plan(model, [net_vf(5)])
    assert codes(result) == ['unresolved_reference']
    message = result.problems[0]['message']
    assert 'VF 4' not in message and 'count: 5' not in message
    assert message == ('0000:06:11.2 is not on this host: it may be a VF that pci_0000_06_00_0 creates later, but '
                       'where that PF puts its VFs is unknown (sriov_offset and sriov_stride are unknown, and the VFs '
                       'listed from VF 0 on do not tell)')


def test_a_missing_vf_of_a_pf_with_no_vfs_yet_is_placed_by_its_offset_and_stride(tmp_path):
    """With no VF to infer the layout from, the PF's sriov_offset and sriov_stride (read into its record) tell."""
    root, _kernel = sriov_host(str(tmp_path), numvfs=0)
    model = read_host('sysfs', sysfs_root=os.path.join(root, 'sys'))[0]
    message = plan(model, ['0000:02:10.4']).problems[0]['message']
    assert 'it is VF 2 of pci_0000_02_00_0, which has 0 VFs now (of 7)' in message and 'count: 3' in message
