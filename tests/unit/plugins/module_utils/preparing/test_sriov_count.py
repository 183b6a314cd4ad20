# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of a PF's VF count on the sample host read from a fake sysfs tree: the writes (through 0
when the kernel needs it), and each refusal with its code, all at once."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.sriov_count import (
    VfRequest,
    check_request,
    plan_vfs,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host

from support.fake_host import write
from support.fake_sriov import PF, PF_NAME, default_route_on, hold_in_domain, sriov_host, vf_netdev


def model_of(root):
    return read_host('sysfs', 'qemu:///system', os.path.join(root, 'sys'))[0]


def codes(plan):
    return sorted((item['code'], item['device']) for item in plan.problems)


@pytest.mark.parametrize('numvfs, count, writes, through_zero', [
    (0, 4, [('sriov_numvfs', 4)], False),
    (2, 4, [('sriov_numvfs', 0), ('sriov_numvfs', 4)], True),
    (4, 2, [('sriov_numvfs', 0), ('sriov_numvfs', 2)], True),
    (3, 0, [('sriov_numvfs', 0)], False),
    (3, 3, [], False),
])
def test_the_writes_go_through_0_between_two_counts_above_0(tmp_path, numvfs, count, writes, through_zero):
    root, _kernel = sriov_host(str(tmp_path), numvfs=numvfs)
    plan = plan_vfs(model_of(root), VfRequest(device=PF, count=count))
    assert plan.problems == [] and plan.device == PF_NAME and plan.address == PF
    assert (plan.before, plan.after, plan.writes, plan.through_zero) == (numvfs, count, writes, through_zero)
    assert len(plan.vanishing) == (numvfs if writes else 0)


def test_the_pf_by_its_netdev_and_drivers_autoprobe_written_first(tmp_path):
    root, _kernel = sriov_host(str(tmp_path), numvfs=0)
    plan = plan_vfs(model_of(root), VfRequest(device='enp2s0', count=2, drivers_autoprobe=False))
    assert plan.device == PF_NAME and plan.autoprobe is True
    assert plan.writes == [('sriov_drivers_autoprobe', 0), ('sriov_numvfs', 2)]
    unchanged = plan_vfs(model_of(root), VfRequest(device='02:00.0', count=0, drivers_autoprobe=True))
    assert unchanged.writes == [] and unchanged.problems == []


def test_autoprobe_alone_warns_that_existing_vfs_keep_their_drivers(tmp_path):
    root, _kernel = sriov_host(str(tmp_path), numvfs=2)
    plan = plan_vfs(model_of(root), VfRequest(device=PF, count=2, drivers_autoprobe=False))
    assert plan.writes == [('sriov_drivers_autoprobe', 0)]
    assert plan.warnings == ['sriov_drivers_autoprobe applies to virtual functions created from now on: the 2 '
                             'that pci_0000_02_00_0 has keep their drivers']


@pytest.mark.parametrize('device, code, words', [
    ('0000:09:00.0', 'unresolved_reference', 'no PCI device at address 0000:09:00.0'),
    ('eth9', 'unresolved_reference', 'nor is it the name of a network interface of this host'),
    ('usb_1_3', 'not_pci', 'usb_1_3 is a usb_device device, not PCI'),
    ('0000:01:00.0', 'not_sriov_pf', 'pci_0000_01_00_0 is not an SR-IOV physical function'),
    ('0000:02:10.2', 'not_sriov_pf', 'pci_0000_02_10_2 is a virtual function of 0000:02:00.0'),
])
def test_a_device_that_is_no_sriov_pf_is_refused(tmp_path, device, code, words):
    root, _kernel = sriov_host(str(tmp_path), numvfs=2)
    plan = plan_vfs(model_of(root), VfRequest(device=device, count=1))
    assert [item['code'] for item in plan.problems] == [code] and plan.writes == []
    assert words in plan.problems[0]['message']


def test_a_pf_whose_sriov_totalvfs_cannot_be_read_is_refused_saying_so(tmp_path):
    """Not "it has no sriov_totalvfs": the file is there, holding junk, and the limit is unknown."""
    root, _kernel = sriov_host(str(tmp_path), numvfs=2)
    write(root, 'sys/bus/pci/devices/%s/sriov_totalvfs' % PF, 'junk\n')
    plan = plan_vfs(model_of(root), VfRequest(device=PF, count=1))
    assert codes(plan) == [('not_sriov_pf', PF_NAME)] and plan.writes == []
    assert plan.problems[0]['message'] == ('pci_0000_02_00_0 is an SR-IOV physical function whose sriov_totalvfs '
                                           'cannot be read (see the warnings): its VF count is not changed')


def test_a_netdev_that_is_no_pci_device_is_refused(tmp_path):
    root, _kernel = sriov_host(str(tmp_path))
    os.makedirs(os.path.join(root, 'sys/devices/virtual/net/br0'))
    os.symlink('../../devices/virtual/net/br0', os.path.join(root, 'sys/class/net/br0'))
    plan = plan_vfs(model_of(root), VfRequest(device='br0', count=1))
    assert [item['code'] for item in plan.problems] == ['not_pci']


def test_a_count_above_sriov_totalvfs_is_refused(tmp_path):
    root, _kernel = sriov_host(str(tmp_path))
    plan = plan_vfs(model_of(root), VfRequest(device=PF, count=8))
    assert codes(plan) == [('count_above_total', PF_NAME)]
    assert plan.problems[0]['message'] == ('pci_0000_02_00_0 can have at most 7 virtual functions (sriov_totalvfs), '
                                           'not 8')
    assert plan_vfs(model_of(root), VfRequest(device=PF, count=7)).problems == []


def test_a_pf_without_a_driver_is_refused_only_when_its_count_changes(tmp_path):
    root, _kernel = sriov_host(str(tmp_path))
    os.unlink(os.path.join(root, 'sys/bus/pci/devices', PF, 'driver'))
    assert codes(plan_vfs(model_of(root), VfRequest(device=PF, count=2))) == [('no_pf_driver', PF_NAME)]
    assert plan_vfs(model_of(root), VfRequest(device=PF, state='absent')).problems == []


def test_the_pf_of_the_default_route_is_refused_unless_allowed(tmp_path):
    root, _kernel = sriov_host(str(tmp_path))
    default_route_on(root, 'enp2s0')
    plan = plan_vfs(model_of(root), VfRequest(device=PF, count=2))
    assert codes(plan) == [('host_in_use', PF_NAME)]
    assert 'in use by the host (network interface enp2s0' in plan.problems[0]['message']
    assert 'default route' in plan.problems[0]['message']
    assert plan_vfs(model_of(root), VfRequest(device=PF, count=2, allow_host_device=True)).problems == []


def test_a_pf_is_refused_while_what_the_host_runs_on_is_unknown(tmp_path):
    root, _kernel = sriov_host(str(tmp_path))
    os.unlink(os.path.join(root, 'proc/net/route'))
    plan = plan_vfs(model_of(root), VfRequest(device=PF, count=2))
    assert codes(plan) == [('host_use_unknown', PF_NAME)]
    assert plan_vfs(model_of(root), VfRequest(device=PF, count=2, allow_host_device=True)).problems == []


@pytest.mark.parametrize('request_', [VfRequest(device=PF, count=1), VfRequest(device=PF, count=3),
                                      VfRequest(device=PF, state='absent')])
def test_changing_the_count_is_refused_while_a_domain_holds_a_vf(tmp_path, request_):
    """Raising 2 to 3 too: the kernel goes through 0, so the held VF vanishes whatever the new count."""
    root, _kernel = sriov_host(str(tmp_path), numvfs=2)
    hold_in_domain(root, '0000:02:10.2', 'ci-vf')
    plan = plan_vfs(model_of(root), request_)
    assert codes(plan) == [('vf_assigned', 'pci_0000_02_10_2')]
    assert plan.problems[0]['message'].startswith('virtual function pci_0000_02_10_2 of pci_0000_02_00_0 is held by '
                                                  'ci-vf, and changing the count removes it')
    assert plan_vfs(model_of(root), VfRequest(device=PF, count=2)).problems == []


def test_changing_the_count_is_refused_while_the_host_uses_a_vf(tmp_path):
    root, _kernel = sriov_host(str(tmp_path), numvfs=2)
    vf_netdev(root, '0000:02:10.0', 'enp2s0v0')
    default_route_on(root, 'enp2s0v0')
    plan = plan_vfs(model_of(root), VfRequest(device=PF, count=0))
    assert codes(plan) == [('vf_host_in_use', 'pci_0000_02_10_0')]
    assert 'network interface enp2s0v0' in plan.problems[0]['message']
    # The host's use of a VF is no use of the PF: allow_host_device does not override it.
    assert codes(plan_vfs(model_of(root), VfRequest(device=PF, count=0, allow_host_device=True))) == [
        ('vf_host_in_use', 'pci_0000_02_10_0')]


def test_every_problem_at_once(tmp_path):
    root, _kernel = sriov_host(str(tmp_path), numvfs=2)
    hold_in_domain(root, '0000:02:10.0', 'a')
    hold_in_domain(root, '0000:02:10.2', 'b')
    default_route_on(root, 'enp2s0')
    os.unlink(os.path.join(root, 'sys/bus/pci/devices', PF, 'driver'))
    plan = plan_vfs(model_of(root), VfRequest(device=PF, count=9))
    assert codes(plan) == [('count_above_total', PF_NAME), ('host_in_use', PF_NAME), ('no_pf_driver', PF_NAME),
                           ('vf_assigned', 'pci_0000_02_10_0'), ('vf_assigned', 'pci_0000_02_10_2')]


MAPPINGS = {'nic-sriov': {'vendor_id': '8086', 'product_id': '15f3', 'hosts': {'hv1': {'address': PF}}}}


def test_a_mapping_resolves_on_this_host_and_drift_is_refused(tmp_path):
    root, _kernel = sriov_host(str(tmp_path))
    mapped = plan_vfs(model_of(root), VfRequest(mapping={'name': 'nic-sriov', 'mappings': MAPPINGS, 'host': 'hv1'},
                                                count=2))
    assert mapped.problems == [] and mapped.device == PF_NAME
    drifted = dict(MAPPINGS['nic-sriov'], product_id='1572')
    plan = plan_vfs(model_of(root), VfRequest(mapping={'name': 'nic-sriov', 'mappings': {'nic-sriov': drifted},
                                                       'host': 'hv1'}, count=2))
    assert [item['code'] for item in plan.problems] == ['unresolved_reference']
    assert 'product_id expected 0x1572, found 0x15f3' in plan.problems[0]['message']
    unmapped = plan_vfs(model_of(root), VfRequest(mapping={'name': 'nic-sriov', 'mappings': MAPPINGS, 'host': 'hv2'},
                                                  count=2))
    assert 'host hv2 is not in mapping nic-sriov' in unmapped.problems[0]['message']


def test_a_mapping_that_names_mdevs_says_sriov_vfs_manages_none_not_to_use_a_pool(tmp_path):
    root, _kernel = sriov_host(str(tmp_path))
    mappings = {'vgpu': {'hosts': {'hv1': {'mdev_type': 'nvidia-35'}}}}
    plan = plan_vfs(model_of(root), VfRequest(mapping={'name': 'vgpu', 'mappings': mappings, 'host': 'hv1'}, count=2))
    assert [item['code'] for item in plan.problems] == ['unresolved_reference'] and plan.writes == []
    message = plan.problems[0]['message']
    assert message == ('mapping vgpu on hv1 names the mdevs of type nvidia-35 (mediated devices), not an SR-IOV '
                       'physical function: sriov_vfs sets a PF\'s VF count and manages no mdevs; name a mapping of a PF '
                       'here, and make the mapping\'s mdevs with virt.hostdev.mdevs')
    assert 'pool' not in message


@pytest.mark.parametrize('request_, message', [
    (VfRequest(device=PF, count=-1), 'count must be a number of virtual functions, 0 or more, not -1'),
    (VfRequest(device=PF), 'count must be a number of virtual functions, 0 or more, not None'),
    (VfRequest(device=PF, count=2, state='absent'), 'state absent leaves the physical function with no virtual'),
    (VfRequest(device=PF, state='absent', drivers_autoprobe=False), 'drivers_autoprobe applies to virtual functions'),
    (VfRequest(count=2), 'name the physical function with exactly one of device and mapping'),
    (VfRequest(device=PF, count=2, state='gone'), 'state must be one of present, absent, not gone'),
])
def test_bad_requests_are_refused_before_the_host_is_read(request_, message):
    with pytest.raises(HostdevError) as raised:
        check_request(request_)
    assert raised.value.message.startswith(message)


# -- holders the other SR-IOV pieces add: an <interface type='hostdev'>, a hostdev network --------------

def test_a_vf_held_as_a_hostdev_interface_refuses_the_count_change(tmp_path):
    """domain_hostdev gives a network VF as <interface type='hostdev'>: that holds it as much as a <hostdev>."""
    root, _kernel = sriov_host(str(tmp_path), numvfs=2)
    write(root, '/etc/libvirt/qemu/vf-net.xml',
          "<domain type='kvm'><name>vf-net</name><devices><interface type='hostdev' managed='yes'>"
          "<mac address='02:00:00:00:00:01'/><source><address type='pci' domain='0x0000' bus='0x02' slot='0x10' "
          "function='0x2'/></source><vlan><tag id='100'/></vlan></interface></devices></domain>\n")
    plan = plan_vfs(model_of(root), VfRequest(device=PF, count=1))
    assert codes(plan) == [('vf_assigned', 'pci_0000_02_10_2')]
    assert 'is held by vf-net' in plan.problems[0]['message']


def test_a_vf_in_a_running_hostdev_network_refuses_the_count_change(tmp_path):
    """A running <forward mode='hostdev'> network lists the PF's VFs (<pf dev>): they are its to hand out,
    and a count change would pull them from under it."""
    root, _kernel = sriov_host(str(tmp_path), numvfs=2)
    write(root, '/run/libvirt/network/vf-pool.xml',
          "<networkstatus><network><name>vf-pool</name><forward mode='hostdev' managed='yes'>"
          "<address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x0'/></forward></network>"
          "</networkstatus>\n")
    plan = plan_vfs(model_of(root), VfRequest(device=PF, state='absent'))
    assert codes(plan) == [('vf_assigned', 'pci_0000_02_10_0')]
    assert 'is held by network vf-pool' in plan.problems[0]['message']
    assert plan_vfs(model_of(root), VfRequest(device=PF, count=2)).problems == []
