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
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import build_hostdev, build_interface
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_via_sysfs

from fixtures.mdev_records import GVT, MTTY, MTTY1, UUIDS, mdev_model, mdevs
from fixtures.mdev_records import held as mdev_held
from fixtures.sample_host import build_tree
from fixtures.sriov_host import NET_PF, NVME_PF, add_sriov, net_vf, read_sriov, sriov_model
from support.fake_host import write

VFS = ['pci_0000_06_%s' % suffix for suffix in ('10_0', '10_2', '10_4', '10_6', '11_0', '11_2')]


def held(name, *addresses):
    return {'name': name, 'active': False, 'macs': [],
            'hostdevs': [{'type': 'pci', 'address': address} for address in addresses]}


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return read_sriov(str(tmp_path_factory.mktemp('host')), vfs=6)


model_of = sriov_model


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
    assert 'nor is it the name of a network interface' in plan(model, {'pf': 'eth9'}).problems[0]['message']
    assert codes(plan(model, {'pf': '0000:0a:00.0'})) == ['pool_unresolved']


def test_a_pf_whose_sriov_totalvfs_cannot_be_read_is_refused_saying_so_as_sriov_vfs_does(tmp_path):
    """Not "it has no sriov_totalvfs": the file is there, holding junk (the reader warned)."""
    sys_root = add_sriov(build_tree(str(tmp_path)), vfs=6)
    write(sys_root, 'bus/pci/devices/%s/sriov_totalvfs' % NET_PF, 'junk\n')
    message = plan(model_of(read_via_sysfs(sys_root)), {'pf': NET_PF}).problems[0]['message']
    assert message == ('the pool of the VFs of %s cannot be used: pci_0000_06_00_0 is an SR-IOV physical function '
                       'whose sriov_totalvfs cannot be read (see the warnings)' % NET_PF)


def test_a_pf_whose_sriov_totalvfs_is_0_is_said_to_have_none(tmp_path):
    sys_root = build_tree(str(tmp_path))
    write(sys_root, 'bus/pci/devices/0000:04:00.0/sriov_totalvfs', '0\n')
    message = plan(model_of(read_via_sysfs(sys_root)), {'pf': '04:00.0'}).problems[0]['message']
    assert message.endswith('pci_0000_04_00_0 can have no virtual functions (its sriov_totalvfs is 0)')


def test_a_vf_named_as_the_pool_pf_is_said_to_be_a_vf(records):
    message = plan(model_of(records), {'pf': net_vf(1)}).problems[0]['message']
    assert message.endswith('pci_0000_06_10_2 is a virtual function of %s' % NET_PF)


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


def test_vfs_a_running_hostdev_network_lists_are_skipped_and_named(records):
    """A running <forward mode='hostdev'> network hands its pool to its guests: the pool takes none of it,
    whether the network lists the VFs by address or through its <pf dev>."""
    by_address = {'name': 'vf-pool', 'active': True, 'pf': [], 'addresses': [net_vf(0), net_vf(1)]}
    model = model_of(records, networks=[by_address])
    result = plan(model, {'pf': NET_PF, 'count': 2})
    assert result.problems == [] and result.devices == [VFS[2], VFS[3]]
    whole = model_of(records, [held('a', net_vf(5))],
                     networks=[{'name': 'all-vfs', 'active': True, 'pf': ['enp6s0'], 'addresses': []}])
    result = plan(whole, {'pf': 'enp6s0', 'count': 1})
    assert codes(result) == ['pool_exhausted']
    message = result.problems[0]['message']
    assert '%s held by network all-vfs' % VFS[0] in message and '%s held by a, network all-vfs' % VFS[5] in message
    stopped = model_of(records, networks=[dict(by_address, active=False)])
    assert plan(stopped, {'pf': NET_PF, 'count': 2}).devices == [VFS[0], VFS[1]]


# -- the mdevs of a type (fixtures.mdev_records: MTTY[0..3] of mtty-2 on mtty_mtty) ------------------------

def mdev_plan(model, pool, *held_names, **options):
    config = domain(*(build_hostdev(model.device(name)) for name in held_names))
    return plan_assignment(model, AssignmentRequest('guest', [], pool=pool, **options), config_xml=config)


def test_mdev_pool_takes_the_first_free_active_ones_and_skips_held_and_inactive():
    model = mdev_model(mdevs(inactive=[MTTY[1]]), domains=[mdev_held('other', MTTY[0])])
    result = mdev_plan(model, {'mdev_type': 'mtty-2', 'count': 2})
    assert result.problems == [] and result.devices == [MTTY[2], MTTY[3]] and result.added == [MTTY[2], MTTY[3]]
    attached = [edit['xml'] for edit in result.edits]
    assert all("type=\"mdev\"" in xml and 'model="vfio-pci"' in xml and 'managed' not in xml for xml in attached)
    assert UUIDS[2] in attached[0] and result.started == []


def test_mdev_pool_is_stable_the_domains_own_first_and_a_rerun_changes_nothing():
    model = mdev_model()
    result = mdev_plan(model, {'mdev_type': 'mtty-2', 'count': 2}, MTTY[3])
    assert result.devices == [MTTY[3], MTTY[0]] and result.added == [MTTY[0]]
    rerun = mdev_plan(model, {'mdev_type': 'mtty-2', 'count': 2}, MTTY[3], MTTY[0])
    assert rerun.problems == [] and rerun.edits == [] and not rerun.changed


def test_mdev_pool_absent_releases_the_mdevs_of_the_type_the_domain_holds():
    model = mdev_model()
    result = mdev_plan(model, {'mdev_type': 'mtty-2'}, MTTY[1], MTTY1, state='absent')
    assert result.devices == [MTTY[1]] and result.removed == [MTTY[1]]


def test_mdev_pool_exhausted_names_who_holds_the_rest_and_the_inactive():
    model = mdev_model(mdevs(inactive=[MTTY[3]]), domains=[mdev_held('a', MTTY[0]), mdev_held('b', MTTY[1], MTTY[2])])
    result = mdev_plan(model, {'mdev_type': 'mtty-2', 'parent': 'mtty_mtty', 'count': 1})
    assert codes(result) == ['pool_exhausted'] and result.edits == []
    message = result.problems[0]['message']
    assert 'pool of the mdevs of type mtty-2 on mtty_mtty has 4 devices, 0 of them free' in message
    assert '%s held by a' % MTTY[0] in message and '%s held by b' % MTTY[2] in message
    assert '%s inactive (defined, not started)' % MTTY[3] in message


def test_mdev_pool_prefers_known_active_mdevs_and_takes_one_of_unknown_state_only_saying_so():
    """Unknown is not "exists now": the pool takes the known-active ones first, and one whose state its reader could
    not tell only when it must, with a warning naming it."""
    model = mdev_model(mdevs(unknown=[MTTY[0], MTTY[1]]))
    known = mdev_plan(model, {'mdev_type': 'mtty-2', 'count': 2})
    assert known.problems == [] and known.devices == [MTTY[2], MTTY[3]] and known.warnings == []
    more = mdev_plan(model, {'mdev_type': 'mtty-2', 'count': 3})
    assert more.problems == [] and more.devices == [MTTY[2], MTTY[3], MTTY[0]]
    assert len(more.warnings) == 1 and MTTY[0] in more.warnings[0] and MTTY[1] not in more.warnings[0]
    assert 'whether it exists on its parent mtty now could not be read' in more.warnings[0]
    # Nothing else free: still taken, still said; an inactive one is never taken.
    rest = mdev_model(mdevs(unknown=[MTTY[0]], inactive=[MTTY[1], MTTY[2], MTTY[3]]))
    one = mdev_plan(rest, {'mdev_type': 'mtty-2', 'count': 1})
    assert one.devices == [MTTY[0]] and MTTY[0] in one.warnings[0]
    assert codes(mdev_plan(rest, {'mdev_type': 'mtty-2', 'count': 2})) == ['pool_exhausted']


def test_mdev_pool_by_parent_pci_address_and_a_missing_type_or_parent():
    model = mdev_model()
    assert mdev_plan(model, {'mdev_type': 'i915-GVTg_V5_4', 'parent': '00:02.0'}).devices == [GVT]
    assert mdev_plan(model, {'mdev_type': 'i915-GVTg_V5_4', 'parent': 'mtty_mtty'}).problems[0]['code'] == 'pool_unresolved'
    missing = mdev_plan(model, {'mdev_type': 'nvidia-35'})
    assert codes(missing) == ['pool_unresolved']
    assert 'no mdev parent on the host offers type nvidia-35' in missing.problems[0]['message']
    gone = mdev_plan(model, {'mdev_type': 'mtty-2', 'parent': '0000:41:00.0'})
    assert 'the host has no mdev parent pci_0000_41_00_0' in gone.problems[0]['message']
    unmade = mdev_model(mdevs()[:4])
    assert 'type mtty-1 has no mdev yet' in mdev_plan(unmade, {'mdev_type': 'mtty-1'}).problems[0]['message']


@pytest.mark.parametrize('pool, words', [
    ({'pf': NET_PF, 'mdev_type': 'mtty-2'}, 'not pf and mdev_type'),
    ({'pf': NET_PF, 'parent': 'mtty_mtty'}, 'pool.parent (the parent of the mdevs) goes with pool.mdev_type only'),
    ({'mdev_type': 'mtty-2', 'parent': ''}, 'pool.parent must be a non-empty string'),
    ({'mdev_type': 3}, 'pool.mdev_type must be a non-empty string, not the number 3'),
])
def test_bad_mdev_pool_options_are_refused(pool, words):
    with pytest.raises(RequestError) as caught:
        AssignmentRequest('guest', [], pool=pool)
    assert words in caught.value.message


MDEV_MAPPINGS = {'serial': {'hosts': {'hv1': {'mdev_type': 'mtty-2', 'parent': 'mtty_mtty'},
                                      'hv2': {'mdev_type': 'nvidia-35'}}}}


def test_a_mapping_naming_an_mdev_type_is_a_pool_of_that_type():
    model = mdev_model(domains=[mdev_held('other', MTTY[0])])
    pool = {'mapping': 'serial', 'mappings': MDEV_MAPPINGS, 'count': 1}
    result = mdev_plan(model, dict(pool, host='hv1'))
    assert result.problems == [] and result.devices == [MTTY[1]]
    # The domain holding the only free one reruns unchanged: no free mdev is no refusal for its own.
    full = mdev_model(domains=[mdev_held('other', *MTTY[:3])])
    assert mdev_plan(full, dict(pool, host='hv1'), MTTY[3]).edits == []
    missing = mdev_plan(model, dict(pool, host='hv2'))
    assert codes(missing) == ['pool_unresolved']
    assert 'no parent offers mdev type nvidia-35 and none of it is defined' in missing.problems[0]['message']
