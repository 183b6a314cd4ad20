"""refusals: the rule on a host whose own use of its devices is unknown (host_use_unknown), for each purpose."""

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
