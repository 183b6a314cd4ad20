# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of a set of mediated devices on hosts made of records: the UUIDs (derived or given), which
exist, the placement of the missing ones across parents (fill, spread, available instances), the
actions, the way, and every refusal with its code, all at once."""

from __future__ import annotations

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import derived_uuids
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import device_record, mdev_name
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.mdev_plan import (
    MdevRequest,
    check_request,
    plan_mdevs,
)

GPU_A, GPU_B = 'pci_0000_41_00_0', 'pci_0000_42_00_0'
NIC = 'pci_0000_02_00_0'
OTHER = '4b20d080-1b54-4048-85b3-a6a62d165c01'


def types(**available):
    """{type id: available instances} as a parent's types."""
    return [{'type': kind.replace('_', '-'), 'name': kind, 'device_api': 'vfio-pci', 'available_instances': count,
             'description': None} for kind, count in sorted(available.items())]


def gpu(name, offered):
    address = '0000:%s:%s.%s' % tuple(name.split('_')[2:5])
    return device_record(name, 'pci', parent='computer', path='/sys/devices/pci0000:40/' + address,
                         details={'address': address, 'mdev_types': offered})


def mtty(offered, name='mtty_mtty'):
    return device_record(name, 'mdev_types', parent='computer', path='/sys/devices/virtual/mtty/mtty',
                         details={'types': offered})


def mdev(uuid, parent, mdev_type, active=True, persistent=True, autostart=True, address=None):
    address = address or ('mtty' if parent == 'mtty_mtty' else '0000:%s:%s.%s' % tuple(parent.split('_')[2:5]))
    return device_record(mdev_name(uuid, address), 'mdev', parent=parent, driver='vfio_mdev', details={
        'uuid': uuid, 'type': mdev_type, 'device_api': 'vfio-pci', 'parent_address': address, 'iommu_group': None,
        'active': active, 'persistent': persistent, 'autostart': autostart})


def host(*records, holders=()):
    """A model of computer, a NIC that makes no mdevs, records; holders: (domain, uuid) hostdevs."""
    domains = [{'name': domain, 'hostdevs': [{'type': 'mdev', 'uuid': uuid}]} for domain, uuid in holders]
    return HostModel([device_record('computer', 'system'), gpu(NIC, None)] + list(records), domains=domains)


def steps(plan):
    return [(action.action, action.uuid, action.parent) for action in plan.actions]


def codes(plan):
    return sorted((item['code'], item['device']) for item in plan.problems)


def test_fill_puts_the_missing_ones_on_the_first_parent_with_room():
    model = host(gpu(GPU_A, types(nvidia_35=2)), gpu(GPU_B, types(nvidia_35=2)))
    plan = plan_mdevs(model, MdevRequest(name='vgpu', type='nvidia-35', count=3))
    one, two, three = derived_uuids('vgpu', 3)
    assert plan.problems == [] and plan.method == 'libvirt'
    assert steps(plan) == [('define', one, GPU_A), ('start', one, GPU_A), ('define', two, GPU_A),
                           ('start', two, GPU_A), ('define', three, GPU_B), ('start', three, GPU_B)]
    assert [(item['uuid'], item['parent'], item['name']) for item in plan.mdevs] == [
        (one, GPU_A, mdev_name(one, '0000:41:00.0')), (two, GPU_A, mdev_name(two, '0000:41:00.0')),
        (three, GPU_B, mdev_name(three, '0000:42:00.0'))]
    assert all(item['active'] and item['persistent'] and item['autostart'] for item in plan.mdevs)
    assert plan.actions[0].autostart is True


def test_spread_puts_each_on_the_parent_with_the_fewest_of_the_set_and_existing_ones_keep_theirs():
    one, two, three = derived_uuids('vgpu', 3)
    model = host(gpu(GPU_A, types(nvidia_35=3)), gpu(GPU_B, types(nvidia_35=3)), mdev(one, GPU_A, 'nvidia-35'))
    plan = plan_mdevs(model, MdevRequest(name='vgpu', type='nvidia-35', count=3, placement='spread'))
    assert plan.problems == []
    assert [(item['uuid'], item['parent']) for item in plan.mdevs] == [(one, GPU_A), (two, GPU_B), (three, GPU_A)]
    fill = plan_mdevs(model, MdevRequest(name='vgpu', type='nvidia-35', count=3))
    assert [item['parent'] for item in fill.mdevs] == [GPU_A, GPU_A, GPU_A]


def test_placement_skips_a_parent_without_room_and_counts_what_the_run_takes():
    model = host(gpu(GPU_A, types(nvidia_35=0)), gpu(GPU_B, types(nvidia_35=2)), mtty(types(mtty_2=2)))
    plan = plan_mdevs(model, MdevRequest(name='vgpu', type='nvidia-35', count=2, placement='spread'))
    assert plan.problems == [] and [item['parent'] for item in plan.mdevs] == [GPU_B, GPU_B]


def test_a_set_as_asked_plans_nothing():
    one, two = derived_uuids('serial', 2)
    model = host(mtty(types(mtty_2=0)), mdev(one, 'mtty_mtty', 'mtty-2'), mdev(two, 'mtty_mtty', 'mtty-2'))
    plan = plan_mdevs(model, MdevRequest(name='serial', type='mtty-2', count=2, parent='mtty_mtty'))
    assert plan.problems == [] and plan.actions == [] and plan.method is None
    assert plan.before == plan.mdevs and len(plan.mdevs) == 2


def test_given_uuids_in_their_order_and_normalized():
    model = host(mtty(types(mtty_1=4)))
    plan = plan_mdevs(model, MdevRequest(uuids=[OTHER.upper()], type='mtty-1', parent='mtty', persistent=False))
    assert steps(plan) == [('create', OTHER, 'mtty_mtty')] and plan.mdevs[0]['persistent'] is False


def test_an_existing_mdev_is_defined_started_or_its_autostart_changed_as_asked():
    one, two, three = derived_uuids('serial', 3)
    model = host(mtty(types(mtty_2=2)), mdev(one, 'mtty_mtty', 'mtty-2', persistent=False, autostart=False),
                 mdev(two, 'mtty_mtty', 'mtty-2', active=False, autostart=False),
                 mdev(three, 'mtty_mtty', 'mtty-2', autostart=True))
    plan = plan_mdevs(model, MdevRequest(name='serial', type='mtty-2', count=3, autostart=False))
    assert steps(plan) == [('define', one, 'mtty_mtty'), ('start', two, 'mtty_mtty'),
                           ('autostart', three, 'mtty_mtty')]
    assert [action.autostart for action in plan.actions] == [False, None, False]
    assert [(item['active'], item['persistent'], item['autostart']) for item in plan.mdevs] == [
        (True, True, False)] * 3


def test_persistent_false_undefines_a_defined_one_after_starting_it():
    one, = derived_uuids('serial', 1)
    model = host(mtty(types(mtty_2=1)), mdev(one, 'mtty_mtty', 'mtty-2', active=False))
    plan = plan_mdevs(model, MdevRequest(name='serial', type='mtty-2', persistent=False))
    assert steps(plan) == [('start', one, 'mtty_mtty'), ('undefine', one, 'mtty_mtty')]
    assert plan.mdevs[0]['persistent'] is False and plan.mdevs[0]['active'] is True


def test_lowering_count_removes_the_last_ones_first_and_absent_removes_every_index():
    uuids = derived_uuids('serial', 4)
    model = host(mtty(types(mtty_1=0)), *[mdev(uuid, 'mtty_mtty', 'mtty-1') for uuid in uuids[:3]],
                 mdev(uuids[3], 'mtty_mtty', 'mtty-1', active=False))
    plan = plan_mdevs(model, MdevRequest(name='serial', type='mtty-1', count=2))
    assert steps(plan) == [('stop', uuids[2], 'mtty_mtty'), ('undefine', uuids[2], 'mtty_mtty'),
                           ('undefine', uuids[3], 'mtty_mtty')]
    assert [item['uuid'] for item in plan.removed] == uuids[2:] and len(plan.mdevs) == 2
    absent = plan_mdevs(model, MdevRequest(name='serial', state='absent'))
    assert [item['uuid'] for item in absent.removed] == uuids and absent.mdevs == []
    assert [step[0] for step in steps(absent)] == ['stop', 'undefine'] * 3 + ['undefine']


def test_a_removal_frees_an_instance_of_its_type_for_the_rest_of_the_run():
    one, two = derived_uuids('serial', 2)
    model = host(mtty(types(mtty_1=0)), mdev(one, 'mtty_mtty', 'mtty-1', persistent=False))
    plan = plan_mdevs(model, MdevRequest(uuids=[two], type='mtty-1', persistent=False))
    assert codes(plan) == [('not_enough_instances', 'mtty_mtty')]
    swap = plan_mdevs(model, MdevRequest(name='serial', type='mtty-1', count=0))
    assert steps(swap) == [('stop', one, 'mtty_mtty')] and swap.method == 'libvirt'


def test_removing_or_changing_the_type_of_a_held_mdev_is_refused_naming_the_domain():
    one, two = derived_uuids('serial', 2)
    model = host(mtty(types(mtty_1=2, mtty_2=1)), mdev(one, 'mtty_mtty', 'mtty-1'), mdev(two, 'mtty_mtty', 'mtty-1'),
                 holders=[('guest1', one), ('guest2', two)])
    plan = plan_mdevs(model, MdevRequest(name='serial', state='absent'))
    assert codes(plan) == sorted([('mdev_held', mdev_name(one, 'mtty')), ('mdev_held', mdev_name(two, 'mtty'))])
    assert 'guest1' in plan.problems[0]['message'] and 'release it first' in plan.problems[0]['message']
    changed = plan_mdevs(model, MdevRequest(name='serial', type='mtty-2', count=1))
    assert codes(changed) == sorted([('mdev_held', mdev_name(two, 'mtty')), ('mdev_held', mdev_name(one, 'mtty')),
                                     ('uuid_type_mismatch', mdev_name(one, 'mtty'))])


@pytest.mark.parametrize('request_, expected', [
    (MdevRequest(name='x', type='nvidia-35', parent='0000:43:00.0'), [('mdev_parent_gone', '0000:43:00.0')]),
    (MdevRequest(name='x', type='nvidia-35', parent='02:00.0'), [('not_mdev_parent', NIC)]),
    (MdevRequest(name='x', type='nvidia-99', parent='0000:41:00.0'), [('type_not_offered', GPU_A)]),
    (MdevRequest(name='x', type='nvidia-99'), [('type_not_offered', 'nvidia-99')]),
    (MdevRequest(name='x', type='nvidia-35', count=4, parent=GPU_A), [('not_enough_instances', GPU_A)]),
    (MdevRequest(name='x', type='nvidia-35', count=4), [('not_enough_instances', 'nvidia-35')]),
    (MdevRequest(name='x', type='nvidia-36', parent=GPU_B), [('not_enough_instances', GPU_B),
                                                             ('type_conflict', GPU_B)]),
])
def test_each_refusal_of_a_parent(request_, expected):
    model = host(gpu(GPU_A, types(nvidia_35=2, nvidia_36=1)), gpu(GPU_B, types(nvidia_35=1, nvidia_36=0)),
                 mdev(OTHER, GPU_B, 'nvidia-35'))
    plan = plan_mdevs(model, request_)
    assert codes(plan) == expected and plan.method is None
    assert all(item['message'] for item in plan.problems)


def test_not_enough_instances_says_how_many_each_parent_has():
    model = host(gpu(GPU_A, types(nvidia_35=1)), gpu(GPU_B, types(nvidia_35=2)))
    plan = plan_mdevs(model, MdevRequest(name='x', type='nvidia-35', count=5))
    assert plan.problems[0]['message'] == ('2 more mediated devices of type nvidia-35 needed than there are '
                                           'available instances (%s: 1, %s: 2)' % (GPU_A, GPU_B))


def test_an_existing_mdev_of_another_type_or_parent_is_refused_never_moved():
    model = host(gpu(GPU_A, types(nvidia_35=2)), gpu(GPU_B, types(nvidia_35=2)), mdev(OTHER, GPU_B, 'nvidia-35'))
    plan = plan_mdevs(model, MdevRequest(uuids=[OTHER], type='nvidia-35', parent=GPU_A))
    assert codes(plan) == [('uuid_type_mismatch', mdev_name(OTHER, '0000:42:00.0'))]
    assert 'exists on %s, not on %s' % (GPU_B, GPU_A) in plan.problems[0]['message']
    anywhere = plan_mdevs(model, MdevRequest(uuids=[OTHER], type='nvidia-35'))
    assert anywhere.problems == [] and anywhere.actions == []


def test_a_defined_mdev_whose_parent_is_gone_cannot_start():
    one, = derived_uuids('serial', 1)
    model = host(mtty(types(mtty_1=1)), mdev(one, None, 'mtty-1', active=False, address='0000:09:00.0'))
    plan = plan_mdevs(model, MdevRequest(name='serial', type='mtty-1'))
    assert codes(plan) == [('mdev_parent_gone', mdev_name(one, '0000:09:00.0'))]
    assert '0000:09:00.0' in plan.problems[0]['message']


@pytest.mark.parametrize('unknown', ['persistent', 'active'])
def test_a_state_the_reader_could_not_tell_is_taken_from_what_else_was_read_or_refused(unknown):
    """A defined, active, autostarted mdev whose reader could not tell one state: planned from known (nothing to
    do), else refused up front; never a second define (mdevctl: already defined) nor a second start."""
    one, = derived_uuids('serial', 1)
    record = mdev(one, 'mtty_mtty', 'mtty-1')
    record['mdev'][unknown] = None
    model = host(mtty(types(mtty_1=1)), record)
    request = MdevRequest(name='serial', type='mtty-1')
    known = plan_mdevs(model, request, known={one: {unknown: True}})
    assert known.problems == [] and known.actions == []
    assert known.mdevs[0]['active'] and known.mdevs[0]['persistent'] and known.mdevs[0]['autostart']
    assert record['mdev'][unknown] is None  # the model stays as read
    refused = plan_mdevs(model, request)
    assert codes(refused) == [('mdev_state_unknown', record['name'])] and refused.actions == []
    assert 'whether mediated device %s is %s could not be read' % (one, unknown) in refused.problems[0]['message']


def test_a_removal_needs_both_states_known():
    one, = derived_uuids('serial', 1)
    record = mdev(one, 'mtty_mtty', 'mtty-1')
    record['mdev']['active'] = None
    model = host(mtty(types(mtty_1=1)), record)
    absent = MdevRequest(name='serial', state='absent')
    assert codes(plan_mdevs(model, absent)) == [('mdev_state_unknown', record['name'])]
    assert steps(plan_mdevs(model, absent, known={one: {'active': True}})) == [
        ('stop', one, 'mtty_mtty'), ('undefine', one, 'mtty_mtty')]
    # what is known from elsewhere never overrides what the reader said
    assert steps(plan_mdevs(host(mtty(types(mtty_1=1)), mdev(one, 'mtty_mtty', 'mtty-1')), absent,
                            known={one: {'active': False, 'persistent': False}})) == [
        ('stop', one, 'mtty_mtty'), ('undefine', one, 'mtty_mtty')]


def test_every_problem_at_once():
    one, two = derived_uuids('serial', 2)
    model = host(mtty(types(mtty_1=0, mtty_2=0)), mdev(one, 'mtty_mtty', 'mtty-2'), mdev(two, 'mtty_mtty', 'mtty-2'),
                 holders=[('guest', two)])
    plan = plan_mdevs(model, MdevRequest(name='serial', type='mtty-1', count=1, parent='mtty_mtty'))
    assert [code for code, _device in codes(plan)] == ['mdev_held', 'uuid_type_mismatch']


def test_the_way_is_the_first_that_can_do_every_action_and_sysfs_makes_only_transient_ones():
    model = host(mtty(types(mtty_1=2)))
    persistent = MdevRequest(name='serial', type='mtty-1')
    assert plan_mdevs(model, persistent, ['mdevctl', 'sysfs']).method == 'mdevctl'
    refused = plan_mdevs(model, persistent, ['sysfs'])
    assert codes(refused) == [('no_persistence', None)] and 'define' in refused.problems[0]['message']
    transient = plan_mdevs(model, MdevRequest(name='serial', type='mtty-1', persistent=False), ['sysfs'])
    assert transient.problems == [] and transient.method == 'sysfs'


@pytest.mark.parametrize('request_, message', [
    (MdevRequest(type='a'), 'exactly one of name and uuids'),
    (MdevRequest(name='a', uuids=[OTHER], type='a'), 'exactly one of name and uuids'),
    (MdevRequest(name=' ', type='a'), 'name must be a non-empty string'),
    (MdevRequest(uuids=['not-a-uuid'], type='a'), "what is not a UUID (like 4b20d080-1b54-4048-85b3-a6a62d165c01): "
                                                  "not-a-uuid"),
    (MdevRequest(uuids=[OTHER, OTHER.upper()], type='a'), 'uuids names %s more than once' % OTHER),
    (MdevRequest(uuids=[OTHER], type='a', count=2), 'count is the number of uuids (1)'),
    (MdevRequest(name='a', type='a', count=-1), 'count must be a number of mediated devices, 0 or more, not -1'),
    (MdevRequest(name='a'), 'type (the mdev type id'),
    (MdevRequest(name='a', type='a', persistent=False, autostart=True), 'autostart needs persistent: true'),
    (MdevRequest(name='a', type='a', placement='pack'), 'placement must be one of fill, spread'),
])
def test_requests_no_host_could_satisfy(request_, message):
    with pytest.raises(HostdevError) as raised:
        check_request(request_)
    assert message in raised.value.message
