# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mdev_pool: the mdevs of one type on a host (fixtures.mdev_records), and why there are none."""

from __future__ import annotations

from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import state_of
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev_pool import mdev_pool, parent_node

from fixtures.mdev_records import GVT, IGPU, MTTY, mdev, mdev_model, mdevs


def test_the_mdevs_of_a_type_anywhere_or_on_one_parent_in_parent_and_uuid_order():
    model = mdev_model(list(reversed(mdevs())))
    pool = mdev_pool(model, 'mtty-2')
    assert pool.members == MTTY and pool.offered_by == ['mtty_mtty'] and pool.missing() is None
    assert mdev_pool(model, 'mtty-2', 'mtty_mtty').members == MTTY
    assert mdev_pool(model, 'mtty-2', IGPU).members == []
    assert mdev_pool(model, 'i915-GVTg_V5_4', '0000:00:02.0').members == [GVT]


def test_a_defined_mdev_whose_parent_libvirt_does_not_name_counts_by_its_parent_address():
    orphan = mdev('c2177883-f1bb-47f0-914d-32a22e3a8899', 'mtty-2', None, 'mtty', active=False)
    model = mdev_model([orphan])
    assert mdev_pool(model, 'mtty-2', 'mtty_mtty').members == [orphan['name']]
    assert state_of(orphan) is False


def test_why_a_pool_is_empty():
    model = mdev_model()
    assert mdev_pool(model, 'nvidia-35').missing() == (
        'no mdev parent on the host offers type nvidia-35 and no mdev of it is defined')
    assert mdev_pool(model, 'nvidia-35', IGPU).missing() == (
        'no mdev parent pci_0000_00_02_0 offers type nvidia-35 and no mdev of it is defined')
    assert mdev_pool(model, 'mtty-2', 'pci_0000_41_00_0').missing() == 'the host has no mdev parent pci_0000_41_00_0'
    # Offered, none made: not missing (the type is there), only empty.
    offered = mdev_pool(mdev_model(mdevs()[:4]), 'mtty-1')
    assert offered.missing() is None and offered.members == [] and offered.offered_by == ['mtty_mtty']


def test_a_parent_by_pci_address_is_its_node_device_name():
    assert parent_node(' 00:02.0 ') == 'pci_0000_00_02_0' and parent_node('mtty_mtty') == 'mtty_mtty'
