"""refusals: the rule on a host whose own use of its devices is unknown (host_use_unknown), for each purpose;
the SR-IOV rules (a PF with VFs enabled, a VF in a hostdev network's pool) and the mdev rules (an inactive mdev,
its parent gone, a parent with mdevs), each failing without its rule; no IOMMU rule for an mdev."""

import dataclasses

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import (
    ASSIGN,
    BLOCKERS,
    RESERVE,
    blockers,
    refusals,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_reservation import (
    ReservationRequest,
    plan_reservation,
)

NIC, DISKS = 'pci_0000_04_00_0', 'pci_0000_00_17_0'
UNKNOWN = '/srv/snap/proc/mounts'


def host(host_use_unknown=()):
    """Two free endpoints, each alone in its group, the IOMMU on: nothing else refuses them."""
    def pci(address, name, pci_class, group):
        return {'name': name, 'type': 'pci', 'parent': 'computer', 'path': None, 'driver': 'vfio-pci',
                'pci': {'address': address, 'class': pci_class, 'iommu_group': group}}
    records = [{'name': 'computer', 'type': 'system', 'parent': None},
               pci('0000:04:00.0', NIC, '0x020000', 8), pci('0000:00:17.0', DISKS, '0x010601', 4)]
    return HostModel(records, iommu={'enabled': True}, host_use_unknown=host_use_unknown)


def test_a_known_host_use_refuses_nothing():
    assert refusals(host(), [NIC, DISKS], ASSIGN) == []
    assert refusals(host(), [NIC, DISKS], RESERVE) == []
    assert blockers(host(), NIC) == []


def test_unknown_host_use_refuses_an_assignment_naming_what_could_not_be_read():
    assert refusals(host([UNKNOWN]), [NIC, DISKS], ASSIGN) == [{
        'code': 'host_use_unknown', 'device': '%s, %s' % (NIC, DISKS),
        'message': 'what the host itself runs on is unknown (/srv/snap/proc/mounts cannot be read), so '
                   'pci_0000_04_00_0, pci_0000_00_17_0 may be, or take with it, the disk the host runs from or the '
                   'interface of its default route; force: true overrides'}]


def test_force_overrides_it_for_an_assignment_as_it_does_host_in_use():
    assert refusals(host([UNKNOWN]), [NIC], ASSIGN, force=True) == []


def test_it_is_a_blocker_of_every_device():
    model = host([UNKNOWN, '/srv/snap/proc/net/route or /srv/snap/proc/net/ipv6_route'])
    assert BLOCKERS is ASSIGN
    assert blockers(model, NIC) == ['host_use_unknown'] and blockers(model, DISKS) == ['host_use_unknown']
    assert ('/srv/snap/proc/mounts and /srv/snap/proc/net/route or /srv/snap/proc/net/ipv6_route cannot be read'
            in refusals(model, [NIC], BLOCKERS)[0]['message'])


@pytest.mark.parametrize('force', [False, True])
def test_a_reservation_is_refused_even_with_force(force):
    """A device reserved at boot is taken at every boot: the reservation asks the rules without force."""
    reservation = plan_reservation(host([UNKNOWN]), ReservationRequest([NIC], force=force))
    assert [item['code'] for item in reservation.problems] == ['host_use_unknown']
    assert reservation.problems[0]['message'].endswith(
        '; force does not override this for a reservation, since the host could lose its root disk or its '
        'network at every boot')
    assert refusals(host([UNKNOWN]), [NIC], RESERVE) == reservation.problems


def test_no_devices_no_problem():
    assert refusals(host([UNKNOWN]), [], ASSIGN) == []


# -- SR-IOV: a PF with VFs enabled, a VF in a hostdev network's pool --------------------------

PF, VF0, VF1 = 'pci_0000_81_00_0', 'pci_0000_81_10_0', 'pci_0000_81_10_1'


def sriov_host(numvfs=2, domains=(), networks=()):
    """An igb PF with numvfs VFs and its interface, each function in its own group, the IOMMU on."""
    def pci(name, address, group, driver, sriov):
        return {'name': name, 'type': 'pci', 'parent': 'computer', 'driver': driver,
                'pci': {'address': address, 'class': '0x020000', 'iommu_group': group, 'sriov': sriov}}
    vfs = ['0000:81:10.%d' % index for index in range(numvfs)]
    records = [{'name': 'computer', 'type': 'system', 'parent': None},
               pci(PF, '0000:81:00.0', 10, 'igb',
                   {'totalvfs': 7, 'numvfs': numvfs, 'virtual_functions': vfs, 'physical_function': None}),
               {'name': 'net_enp129s0f0', 'type': 'net', 'parent': PF, 'net': {'interface': 'enp129s0f0'}}]
    records += [pci('pci_0000_81_10_%d' % index, address, 11 + index, 'igbvf', {'physical_function': '0000:81:00.0'})
                for index, address in enumerate(vfs)]
    return HostModel(records, domains=domains, iommu={'enabled': True}, networks=networks)


def without(purpose, code):
    return dataclasses.replace(purpose, checks=tuple(check for check in purpose.checks if check != code))


def test_a_pf_with_vfs_is_refused_naming_its_vfs_and_their_holders():
    model = sriov_host(domains=[{'name': 'ci-runner', 'active': True,
                                 'hostdevs': [{'type': 'pci', 'address': '0000:81:10.1'}]}],
                       networks=[{'name': 'sriov-pool', 'active': True, 'pf': [], 'addresses': ['0000:81:10.1']}])
    assert refusals(model, [PF], ASSIGN) == [{
        'code': 'has_virtual_functions', 'device': PF,
        'message': 'pci_0000_81_00_0 has 2 virtual functions enabled (pci_0000_81_10_0, pci_0000_81_10_1; '
                   'pci_0000_81_10_1 held by domain ci-runner, network sriov-pool): taking the physical function '
                   'from its driver makes them vanish; set its VF count to 0 first (virt.hostdev.sriov_vfs with '
                   'state: absent)'}]
    assert refusals(model, [PF], without(ASSIGN, 'has_virtual_functions')) == []


@pytest.mark.parametrize('purpose', [ASSIGN, RESERVE], ids=['assign', 'reserve'])
def test_the_pf_rule_applies_to_assignments_and_reservations(purpose):
    model = sriov_host()
    assert [item['code'] for item in refusals(model, [PF], purpose)] == ['has_virtual_functions']
    assert 'none held' in refusals(model, [PF], purpose)[0]['message']
    assert refusals(model, [PF], without(purpose, 'has_virtual_functions')) == []
    assert blockers(model, PF) == ['has_virtual_functions']
    assert blockers(model, VF0) == [] and refusals(model, [VF0], purpose) == []


def test_a_pf_without_vfs_is_a_device_like_any():
    model = sriov_host(numvfs=0)
    assert blockers(model, PF) == [] and refusals(model, [PF], RESERVE) == []


def test_a_vf_in_an_active_hostdev_networks_pool_is_held_by_it():
    """By address, or as a VF of the network's <pf dev>; an inactive network holds nothing."""
    networks = [{'name': 'by-pf', 'active': True, 'pf': ['enp129s0f0'], 'addresses': []},
                {'name': 'by-address', 'active': True, 'pf': [], 'addresses': ['0000:81:10.1']},
                {'name': 'stopped', 'active': False, 'pf': ['enp129s0f0'], 'addresses': ['0000:81:10.0']}]
    model = sriov_host(networks=networks)
    assert model.held_by_network(VF0) == ['by-pf'] and model.held_by_network(VF1) == ['by-address', 'by-pf']
    assert model.held_by_network(PF) == []
    assert blockers(model, VF1) == ['held_by_network']
    assert refusals(model, [VF1], ASSIGN) == [{
        'code': 'held_by_network', 'device': VF1,
        'message': 'pci_0000_81_10_1 is in the pool of the active libvirt hostdev network by-address, by-pf, which '
                   'hands it to the guests that use the network'}]
    assert refusals(model, [VF1], without(ASSIGN, 'held_by_network')) == []
    assert blockers(sriov_host(networks=networks[2:]), VF0) == []


# -- mediated devices: an inactive mdev, its parent gone, a parent with mdevs; no IOMMU rule for mdevs ---

GPU, AUDIO, MTTY = 'pci_0000_00_02_0', 'pci_0000_00_1f_3', 'mtty_mtty'
HELD_UUID, FREE_UUID = 'c2177883-f1bb-47f0-914d-32a22e3a8804', '5e3c1d9a-0f4b-4c2e-8a61-7d2b9e0c4f13'
DEFINED_UUID, ORPHAN_UUID = '0d4f2b6e-9a1c-4e83-b5d7-6c2a8f1e3b90', '6e3c1d9a-0f4b-4c2e-8a61-7d2b9e0c4f13'


def mdev_record(uuid, parent, address, active=True):
    from ansible_collections.virt.hostdev.plugins.module_utils.model.records import device_record, mdev_name
    return device_record(mdev_name(uuid, address), 'mdev', parent=parent, driver='vfio_mdev' if active else None,
                         details={'uuid': uuid, 'type': 'i915-GVTg_V5_4' if address != 'mtty' else 'mtty-1',
                                  'device_api': 'vfio-pci', 'parent_address': address, 'active': active,
                                  'persistent': not active, 'autostart': False})


HELD = 'mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_0000_00_02_0'
FREE = 'mdev_5e3c1d9a_0f4b_4c2e_8a61_7d2b9e0c4f13_0000_00_02_0'
DEFINED = 'mdev_0d4f2b6e_9a1c_4e83_b5d7_6c2a8f1e3b90_mtty'
ORPHAN = 'mdev_6e3c1d9a_0f4b_4c2e_8a61_7d2b9e0c4f13_css'


def mdev_host(iommu=True, with_mdevs=True):
    """A GVT-g GPU (IOMMU group 2, with an audio function the host drives) with two mdevs, vm1 holding
    one; mtty with one defined mdev not started; an mdev defined on a channel subsystem the host lacks."""
    types = [{'type': 'i915-GVTg_V5_4', 'available_instances': 1}]
    records = [{'name': 'computer', 'type': 'system', 'parent': None},
               {'name': GPU, 'type': 'pci', 'parent': 'computer', 'driver': 'i915',
                'pci': {'address': '0000:00:02.0', 'class': '0x030000', 'iommu_group': 2 if iommu else None,
                        'mdev_types': types}},
               {'name': AUDIO, 'type': 'pci', 'parent': 'computer', 'driver': 'snd_hda_intel',
                'pci': {'address': '0000:00:1f.3', 'class': '0x040300', 'iommu_group': 2 if iommu else None}},
               {'name': MTTY, 'type': 'mdev_types', 'parent': 'computer', 'path': '/sys/devices/virtual/mtty/mtty',
                'mdev_parent': {'types': [{'type': 'mtty-1', 'available_instances': 24}]}}]
    if with_mdevs:
        records += [mdev_record(HELD_UUID, GPU, '0000:00:02.0'), mdev_record(FREE_UUID, GPU, '0000:00:02.0'),
                    mdev_record(DEFINED_UUID, MTTY, 'mtty', active=False),
                    mdev_record(ORPHAN_UUID, None, 'css', active=False)]
    domains = [{'name': 'vm1', 'active': False, 'hostdevs': [{'type': 'mdev', 'uuid': HELD_UUID}]}]
    return HostModel(records, domains=domains, iommu={'enabled': iommu})


def codes(problems):
    return [item['code'] for item in problems]


def test_an_inactive_mdev_is_refused_and_says_how_to_start_it():
    model = mdev_host()
    found = refusals(model, [DEFINED], ASSIGN)
    assert found == [{'code': 'mdev_inactive', 'device': DEFINED, 'message': (
        'mdev %s (%s, type mtty-1) is defined but not active (it does not exist on its parent mtty now): a running '
        'guest cannot take it and a domain with it cannot start; start it first (virt.hostdev.mdevs, or virsh '
        'nodedev-start)' % (DEFINED, DEFINED_UUID))}]
    assert refusals(model, [DEFINED], without(ASSIGN, 'mdev_inactive')) == []
    assert blockers(model, DEFINED) == ['mdev_inactive']


def test_an_mdev_whose_parent_is_gone_is_refused_naming_the_parent():
    model = mdev_host()
    found = refusals(model, [ORPHAN], ASSIGN)
    assert codes(found) == ['mdev_parent_gone', 'mdev_inactive']
    assert found[0]['message'].startswith('mdev %s (%s) is defined on parent css, which is not on this host'
                                          % (ORPHAN, ORPHAN_UUID))
    assert codes(refusals(model, [ORPHAN], without(ASSIGN, 'mdev_parent_gone'))) == ['mdev_inactive']
    assert blockers(model, ORPHAN) == ['mdev_inactive', 'mdev_parent_gone']


@pytest.mark.parametrize('purpose', [ASSIGN, RESERVE], ids=['assign', 'reserve'])
def test_a_parent_with_mdevs_is_refused_naming_them_and_their_holders(purpose):
    model = mdev_host()
    found = [item for item in refusals(model, [GPU, AUDIO], purpose) if item['code'] == 'has_mdevs']
    assert found == [{'code': 'has_mdevs', 'device': GPU, 'message': (
        '%s has mdevs %s: taking the whole device from its driver removes them (%s held by domain vm1); remove '
        'them first (virt.hostdev.mdevs with state: absent)' % (GPU, ', '.join(sorted([FREE, HELD])), HELD))}]
    assert 'has_mdevs' not in codes(refusals(model, [GPU, AUDIO], without(purpose, 'has_mdevs')))
    assert 'has_mdevs' not in codes(refusals(mdev_host(with_mdevs=False), [GPU, AUDIO], purpose))


def test_a_parent_taken_with_its_group_is_refused_too_and_facts_tell_it():
    model = mdev_host()
    found = [item for item in refusals(model, [AUDIO], ASSIGN) if item['code'] == 'has_mdevs']
    assert found and found[0]['message'].startswith('%s, which this assignment takes from the host, has mdevs' % GPU)
    assert 'has_mdevs' in blockers(model, GPU) and 'has_mdevs' in blockers(model, MTTY)
    assert 'has_mdevs' not in blockers(mdev_host(with_mdevs=False), MTTY)


def test_a_parent_whose_mdev_a_domain_holds_is_not_assigned_elsewhere_has_mdevs_says_it():
    """The held mdev sits in its PCI parent's group: that must not read as the parent (or its group sibling) being
    held; has_mdevs names the mdev and its holder. A domain holding the parent itself still is assigned_elsewhere."""
    model = mdev_host()
    assert model.assigned_to(GPU) == [] and model.assigned_to(HELD) == ['vm1']
    assert 'assigned_elsewhere' not in blockers(model, GPU) and 'has_mdevs' in blockers(model, GPU)
    assert 'assigned_elsewhere' not in blockers(model, AUDIO) and 'has_mdevs' in blockers(model, AUDIO)
    found = refusals(model, [GPU], ASSIGN)
    assert 'assigned_elsewhere' not in codes(found)
    assert '%s held by domain vm1' % HELD in [item for item in found if item['code'] == 'has_mdevs'][0]['message']
    # the mdev itself, named: still assigned_elsewhere
    assert codes(refusals(model, [GPU, HELD], ASSIGN)).count('assigned_elsewhere') == 1
    holder = HostModel([model.device(name) for name in model.names()], iommu={'enabled': True}, domains=[
        {'name': 'vm1', 'active': False, 'hostdevs': [{'type': 'mdev', 'uuid': HELD_UUID}]},
        {'name': 'vm2', 'active': False, 'hostdevs': [{'type': 'pci', 'address': '0000:00:02.0'}]}])
    assert holder.assigned_to(GPU) == ['vm2']
    assert [item['device'] for item in refusals(holder, [GPU], ASSIGN) if item['code'] == 'assigned_elsewhere'] == [GPU]


@pytest.mark.parametrize('iommu', [True, False], ids=['iommu-on', 'iommu-off'])
def test_an_mdev_takes_nothing_but_itself_and_needs_no_iommu(iommu):
    """Its parent's IOMMU group (a sibling the host drives) and the IOMMU off refuse no mdev: it is no PCI
    device; what is taken with it is itself alone."""
    model = mdev_host(iommu=iommu)
    assert model.affected_by(FREE) == []
    assert refusals(model, [FREE], ASSIGN) == [] and blockers(model, FREE) == []
    assert blockers(model, HELD) == ['assigned_elsewhere']
    assert codes(refusals(model, [GPU], ASSIGN))[:1] == (['group_not_viable'] if iommu else ['iommu_off'])
