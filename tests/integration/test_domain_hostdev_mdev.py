# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mediated devices given to a domain through a real libvirtd (QEMU driver): what it stores for
<hostdev type='mdev'>, matching by UUID, pools of an mdev type, and mdev_start's start through libvirt.

The mdevs are the sample workstation's (source: sysfs): mtty_mtty with two active mtty-2 mdevs, A (also
defined with mdevctl) and B, and here a third, C, that mdevctl defines but that does not exist (inactive).
Found here (libvirt 9.0): a defined domain may name the UUID of an mdev that libvirtd itself does not know
(only starting the domain needs it), and libvirt stores the element with managed='no' and model='vfio-pci',
adding a guest PCI address; libvirt's test driver can neither attach devices nor start node devices,
hence the real daemon. This machine has no mdev parent, so libvirtd cannot start C: the start fails.
"""

from __future__ import annotations

import json
import os

import libvirt
import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import AssignmentRequest
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.domain_editor import AssignmentRefused, assign
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import hostdev_elements
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import mdev_name

from fixtures.sample_host import build_tree

UUID_A, UUID_B = 'c2177883-f1bb-47f0-914d-32a22e3a8804', '5e3c1d9a-0f4b-4c2e-8a61-7d2b9e0c4f13'
UUID_C = '0b7c8a3e-5d1f-4e2a-9c6b-1f2e3d4c5b6a'
A, B, C = (mdev_name(uuid, 'mtty') for uuid in (UUID_A, UUID_B, UUID_C))
HOSTDEV_MDEV = ("<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='{uuid}'/></source>"
                "</hostdev>")


@pytest.fixture(scope='module')
def mdev_host(tmp_path_factory):
    """The sample workstation plus C, defined by mdevctl (start manual) but not created."""
    sys_root = build_tree(str(tmp_path_factory.mktemp('mdev-host')))
    definition = os.path.join(os.path.dirname(sys_root), 'etc', 'mdevctl.d', 'mtty', UUID_C)
    with open(definition, 'w') as handle:
        json.dump({'mdev_type': 'mtty-2', 'start': 'manual', 'attrs': []}, handle)
    return sys_root


def run(libvirtd, host, domain, devices=(), check_mode=False, **options):
    return assign(AssignmentRequest(domain, list(devices), **options), libvirtd, source='sysfs', sysfs_root=host,
                  check_mode=check_mode)


def stored(dom):
    return hostdev_elements(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def test_an_mdev_by_uuid_is_stored_as_libvirt_keeps_it_and_matched_by_uuid(libvirtd, mdev_host, scratch):
    dom = scratch()
    plan, used, _warnings = run(libvirtd, mdev_host, dom.name(), [UUID_A.upper()])
    assert used == 'sysfs' and plan.added == [A] and plan.affected == []
    [(element, source)] = stored(dom)
    assert (element.get('type'), element.get('model'), element.get('managed')) == ('mdev', 'vfio-pci', 'no')
    assert source == {'type': 'mdev', 'uuid': UUID_A} and element.find('address').get('type') == 'pci'
    again, _used, warnings = run(libvirtd, mdev_host, dom.name(), [A])
    assert not again.changed and again.edits == [] and len(stored(dom)) == 1
    assert not [text for text in warnings if 'managed' in text]
    gone, _used, _warnings = run(libvirtd, mdev_host, dom.name(), [UUID_A], state='absent')
    assert gone.removed == [A] and stored(dom) == []


def test_a_pool_of_an_mdev_type_skips_the_held_and_the_inactive_and_reruns_unchanged(libvirtd, mdev_host, scratch):
    other = scratch(devices=HOSTDEV_MDEV.format(uuid=UUID_A))
    dom = scratch()
    pool = {'mdev_type': 'mtty-2', 'parent': 'mtty_mtty', 'count': 1}
    preview, _used, _warnings = run(libvirtd, mdev_host, dom.name(), pool=pool, check_mode=True)
    assert preview.added == [B] and stored(dom) == []
    plan, _used, _warnings = run(libvirtd, mdev_host, dom.name(), pool=pool)
    assert plan.devices == [B] and [source['uuid'] for _element, source in stored(dom)] == [UUID_B]
    again, _used, _warnings = run(libvirtd, mdev_host, dom.name(), pool=pool)
    assert not again.changed and again.devices == [B]
    third = scratch()
    with pytest.raises(AssignmentRefused) as caught:
        run(libvirtd, mdev_host, third.name(), pool=pool)
    assert [item['code'] for item in caught.value.result['problems']] == ['pool_exhausted']
    message = caught.value.message
    assert '%s held by %s' % (A, other.name()) in message and '%s held by %s' % (B, dom.name()) in message
    assert '%s inactive (defined, not started)' % C in message and stored(third) == []
    released, _used, _warnings = run(libvirtd, mdev_host, dom.name(), pool=pool, state='absent')
    assert released.removed == [B] and stored(dom) == []


def test_an_inactive_mdev_is_refused_and_mdev_start_fails_clearly_when_libvirt_cannot_start_it(
        libvirtd, mdev_host, scratch):
    dom = scratch()
    with pytest.raises(AssignmentRefused) as caught:
        run(libvirtd, mdev_host, dom.name(), [UUID_C])
    assert [item['code'] for item in caught.value.result['problems']] == ['mdev_inactive']
    preview, _used, _warnings = run(libvirtd, mdev_host, dom.name(), [C], mdev_start=True, check_mode=True)
    assert preview.started == [C] and preview.added == [C] and 'is started first' in preview.diff['after']
    with pytest.raises(HostdevError) as caught:
        run(libvirtd, mdev_host, dom.name(), [C], mdev_start=True)
    assert caught.value.message == ('libvirt at %s does not know mdev %s, so it cannot start it (define it with '
                                    'virt.hostdev.mdevs); nothing was changed' % (libvirtd, C))
    assert stored(dom) == []
