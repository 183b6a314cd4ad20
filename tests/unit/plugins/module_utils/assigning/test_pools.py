# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pools: the first free devices of a pool (the VFs of a PF, a device mapping), on the sample workstation
with an igb PF of 6 VFs, some held by other domains (fixtures.sriov_host)."""

from __future__ import annotations

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import (
    AssignmentRequest,
    plan_assignment,
)
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.interfaces import RequestError
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import build_hostdev, build_interface
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_via_sysfs

from fixtures.sample_host import build_tree
from fixtures.sriov_host import NET_PF, NVME_PF, add_sriov, net_vf

VFS = ['pci_0000_06_%s' % suffix for suffix in ('10_0', '10_2', '10_4', '10_6', '11_0', '11_2')]


def held(name, *addresses):
    return {'name': name, 'active': False, 'macs': [],
            'hostdevs': [{'type': 'pci', 'address': address} for address in addresses]}


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    root = add_sriov(build_tree(str(tmp_path_factory.mktemp('host'))), vfs=6)
    read = read_via_sysfs(root)
    return read.records, read.iommu


def model_of(records, domains=()):
    return HostModel(records[0], domains=domains, iommu=records[1])


def domain(*elements):
    return "<domain type='kvm'><name>guest</name><devices>%s</devices></domain>" % ''.join(elements)


def plan(model, pool, config_xml=None, **options):
    return plan_assignment(model, AssignmentRequest('guest', [], pool=pool, **options),
                           config_xml=config_xml or domain())


def codes(result):
    return sorted(item['code'] for item in result.problems)


def test_the_first_free_vfs_in_address_order_skipping_held_ones(records):
    model = model_of(records, [held('a', net_vf(0)), held('b', net_vf(2))])
    result = plan(model, {'pf': NET_PF, 'count': 2})
    assert result.problems == [] and result.devices == [VFS[1], VFS[3]] and result.added == [VFS[1], VFS[3]]


def test_a_pf_by_its_netdev_name(records):
    result = plan(model_of(records), {'pf': 'enp6s0', 'count': 1})
    assert result.devices == [VFS[0]]


def test_stable_the_vfs_the_domain_holds_count_first(records):
    model = model_of(records, [held('a', net_vf(0))])
    mine = model.device(VFS[4])
    result = plan(model, {'pf': NET_PF, 'count': 2}, config_xml=domain(build_hostdev(mine)))
    # it keeps 11:0 and takes the first free one (10.2), never moves to another
    assert result.devices == [VFS[4], VFS[1]] and result.added == [VFS[1]]
    both = domain(build_hostdev(mine), build_hostdev(model.device(VFS[1])))
    again = plan(model, {'pf': NET_PF, 'count': 2}, config_xml=both)
    assert again.devices == [VFS[1], VFS[4]] and again.edits == [] and again.problems == []


def test_vfs_held_as_interfaces_count_as_held(records):
    model = model_of(records)
    mine = build_interface(model.device(VFS[2]), '02:00:00:00:00:05')
    result = plan(model, {'pf': NET_PF, 'count': 1}, config_xml=domain(mine), interface={})
    assert result.devices == [VFS[2]] and result.edits == []


def test_absent_releases_every_vf_of_the_pool_the_domain_holds(records):
    model = model_of(records)
    xml = domain(build_hostdev(model.device(VFS[1])), build_hostdev(model.device(VFS[3])),
                 build_hostdev(model.device('pci_0000_02_00_0')))
    result = plan(model, {'pf': NET_PF}, config_xml=xml, state='absent')
    assert result.removed == [VFS[1], VFS[3]]  # the NIC outside the pool stays


def test_not_enough_free_names_the_pool_what_is_free_and_the_holders(records):
    model = model_of(records, [held('a', net_vf(0), net_vf(1)), held('b', net_vf(2), net_vf(3), net_vf(4))])
    result = plan(model, {'pf': NET_PF, 'count': 2})
    assert codes(result) == ['pool_exhausted']
    message = result.problems[0]['message']
    assert 'VFs of %s' % NET_PF in message and '6 devices, 1 of them free' in message and '2 were asked' in message
    assert '%s held by a' % VFS[0] in message and '%s held by b' % VFS[4] in message


def test_not_a_pf_or_unknown_is_a_clear_problem(records):
    model = model_of(records)
    assert 'not an SR-IOV physical function' in plan(model, {'pf': '02:00.0'}).problems[0]['message']
    assert 'no PCI address or network interface' in plan(model, {'pf': 'eth9'}).problems[0]['message']
    assert codes(plan(model, {'pf': '0000:0a:00.0'})) == ['pool_unresolved']


MAPPINGS = {'nic-vf': {'vendor_id': '8086', 'product_id': '10ca',
                       'hosts': {'hv1': [{'address': net_vf(1)}, {'address': net_vf(0)}, {'address': net_vf(5)}],
                                 'hv2': {'address': net_vf(0)}}}}


def test_a_mapping_with_several_addresses_per_host_is_a_pool(records):
    model = model_of(records, [held('a', net_vf(0))])
    pool = {'mapping': 'nic-vf', 'mappings': MAPPINGS, 'host': 'hv1', 'count': 2}
    result = plan(model, pool)
    assert result.problems == [] and result.devices == [VFS[1], VFS[5]]
    drifted = dict(MAPPINGS['nic-vf'], product_id='10c9')
    result = plan(model, dict(pool, mappings={'nic-vf': drifted}))
    assert codes(result) == ['pool_unresolved'] and 'product_id expected 0x10c9' in result.problems[0]['message']


@pytest.mark.parametrize('pool, words', [
    ({'count': 1}, 'exactly one of pf'),
    ({'pf': NET_PF, 'mapping': 'x'}, 'not pf and mapping'),
    ({'pf': NET_PF, 'count': 0}, 'at least 1'),
    ({'mapping': 'nic-vf'}, 'needs pool.mappings'),
    ({'pf': NVME_PF, 'size': 2}, 'unknown keys size'),
])
def test_bad_pool_options_are_refused(pool, words):
    with pytest.raises(RequestError) as caught:
        AssignmentRequest('guest', [], pool=pool)
    assert words in caught.value.message
