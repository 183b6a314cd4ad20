# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mediated devices given to a domain through a real libvirtd (QEMU driver): what it stores for
<hostdev type='mdev'>, matching by UUID, pools of an mdev type, and mdev_start's start through libvirt.

This machine has no mdev parent, so the mdevs come from records (fixtures.mdev_records) added to the
sample workstation's sysfs read. Found here (libvirt 9.0): a defined domain may name the UUID of an mdev
that does not exist (only starting the domain needs it), and libvirt stores the element with
managed='no' and model='vfio-pci', adding a guest PCI address; libvirt's test driver can neither attach
devices nor start node devices, hence the real daemon.
"""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import AssignmentRequest
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.domain_editor import assign
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import hostdev_elements
from ansible_collections.virt.hostdev.plugins.module_utils.reading import host_reader

from fixtures.mdev_records import MTTY, UUIDS, mdevs, parents

HOSTDEV_MDEV = ("<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='{uuid}'/></source>"
                "</hostdev>")


@pytest.fixture()
def with_mdevs(monkeypatch):
    """The sample workstation's read plus the mtty parent and its mdevs (MTTY[2] defined, not active)."""
    real = host_reader.read_via_sysfs

    def read(sysfs_root, run=None):
        found = real(sysfs_root, run)
        extra = [record for record in parents() if record['name'] == 'mtty_mtty']
        extra += [record for record in mdevs(inactive=[MTTY[2]]) if record['parent'] == 'mtty_mtty']
        return found._replace(records=found.records + extra)
    monkeypatch.setattr(host_reader, 'read_via_sysfs', read)


def run(libvirtd, host, domain, devices=(), check_mode=False, **options):
    return assign(AssignmentRequest(domain, list(devices), **options), libvirtd, source='sysfs', sysfs_root=host,
                  check_mode=check_mode)


def stored(dom):
    return hostdev_elements(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def test_an_mdev_by_uuid_is_stored_as_libvirt_keeps_it_and_matched_by_uuid(libvirtd, host, scratch, with_mdevs):
    dom = scratch()
    plan, _used, _warnings = run(libvirtd, host, dom.name(), [UUIDS[0].upper()])
    assert plan.added == [MTTY[0]]
    [(element, source)] = stored(dom)
    assert (element.get('type'), element.get('model'), element.get('managed')) == ('mdev', 'vfio-pci', 'no')
    assert source == {'type': 'mdev', 'uuid': UUIDS[0]} and element.find('address').get('type') == 'pci'
    again, _used, _warnings = run(libvirtd, host, dom.name(), [MTTY[0]])
    assert not again.changed and again.edits == [] and len(stored(dom)) == 1
    gone, _used, _warnings = run(libvirtd, host, dom.name(), [UUIDS[0]], state='absent')
    assert gone.removed == [MTTY[0]] and stored(dom) == []


def test_a_pool_of_an_mdev_type_skips_the_held_and_the_inactive_and_reruns_unchanged(libvirtd, host, scratch,
                                                                                       with_mdevs):
    other = scratch(devices=HOSTDEV_MDEV.format(uuid=UUIDS[0]))
    dom = scratch()
    pool = {'mdev_type': 'mtty-2', 'parent': 'mtty_mtty', 'count': 2}
    preview, _used, _warnings = run(libvirtd, host, dom.name(), pool=pool, check_mode=True)
    assert preview.added == [MTTY[1], MTTY[3]] and stored(dom) == []
    plan, _used, _warnings = run(libvirtd, host, dom.name(), pool=pool)
    assert plan.devices == [MTTY[1], MTTY[3]]
    assert sorted(source['uuid'] for _element, source in stored(dom)) == [UUIDS[1], UUIDS[3]]
    again, _used, _warnings = run(libvirtd, host, dom.name(), pool=pool)
    assert not again.changed and again.devices == [MTTY[1], MTTY[3]]
    third = scratch()
    with pytest.raises(HostdevError) as caught:
        run(libvirtd, host, third.name(), pool=dict(pool, count=1))
    message = caught.value.message
    assert 'pool_exhausted' in str(caught.value.result['problems'])
    assert '%s held by %s' % (MTTY[0], other.name()) in message and '%s held by %s' % (MTTY[1], dom.name()) in message
    assert stored(third) == []
    released, _used, _warnings = run(libvirtd, host, dom.name(), pool=pool, state='absent')
    assert released.removed == [MTTY[1], MTTY[3]] and stored(dom) == []


def test_mdev_start_of_an_mdev_libvirt_does_not_know_fails_clearly_and_changes_nothing(libvirtd, host, scratch,
                                                                                         with_mdevs):
    dom = scratch()
    preview, _used, _warnings = run(libvirtd, host, dom.name(), [MTTY[2]], mdev_start=True, check_mode=True)
    assert preview.started == [MTTY[2]] and preview.added == [MTTY[2]] and 'is started first' in preview.diff['after']
    with pytest.raises(HostdevError) as caught:
        run(libvirtd, host, dom.name(), [MTTY[2]], mdev_start=True)
    assert caught.value.message == ('libvirt at %s does not know mdev %s, so it cannot start it (define it with '
                                    'virt.hostdev.mdevs); nothing was changed' % (libvirtd, MTTY[2]))
    assert stored(dom) == []
