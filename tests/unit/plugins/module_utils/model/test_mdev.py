"""mdev questions of device records: derived UUIDs (stable, distinct, uuid5 of the fixed namespace),
a parent's types whatever its kind, the mdevs of a parent, and an mdev's state: known true, known false,
or unknown."""

import uuid

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import (
    MDEV_NAMESPACE,
    derived_uuids,
    mdevs_of,
    parent_address,
    parent_types,
    state_of,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    device_record,
    normalize_uuid,
)

TYPES = [{'type': 'mtty-2', 'name': 'Dual-port', 'device_api': 'vfio-pci', 'available_instances': 12},
         {'type': 'mtty-1', 'name': 'Single-port', 'device_api': 'vfio-pci', 'available_instances': 24}]


def test_derived_uuids_are_uuid5_of_the_namespace_and_name_slash_index():
    found = derived_uuids('lab-serial', 3)
    assert found == [str(uuid.uuid5(MDEV_NAMESPACE, 'lab-serial/%d' % index)) for index in range(3)]
    assert len(set(found)) == 3
    assert all(normalize_uuid(value) == value for value in found)


def test_derived_uuids_are_stable_and_a_longer_count_extends_the_shorter():
    assert derived_uuids('lab-serial', 2) == derived_uuids('lab-serial', 5)[:2]
    assert derived_uuids('other', 1) != derived_uuids('lab-serial', 1)
    assert derived_uuids('lab-serial', 0) == []
    # the namespace is fixed for ever: a changed one orphans every mdev made by name
    assert derived_uuids('lab-serial', 1) == ['%s' % uuid.uuid5(
        uuid.UUID('5169694d-f11e-4197-a870-51f6eccb26cd'), 'lab-serial/0')]


def test_parent_types_of_a_pci_parent_a_non_pci_parent_and_neither():
    gpu = device_record('pci_0000_00_02_0', 'pci', details={'address': '0000:00:02.0', 'mdev_types': TYPES})
    mtty = device_record('mtty_mtty', 'mdev_types', details={'types': TYPES})
    nic = device_record('pci_0000_03_00_0', 'pci', details={'address': '0000:03:00.0'})
    usb = device_record('usb_1_1', 'usb_device', details={})
    assert [item['type'] for item in parent_types(gpu)] == ['mtty-1', 'mtty-2']
    assert parent_types(mtty) == parent_types(gpu)
    assert parent_types(nic) is None
    assert parent_types(usb) is None
    assert parent_types({'name': 'x', 'type': 'mdev_types'}) is None


def test_mdevs_of_a_parent_by_name_or_by_the_address_a_defined_mdev_keeps():
    mtty = device_record('mtty_mtty', 'mdev_types', path='/sys/devices/virtual/mtty/mtty',
                         details={'types': TYPES})
    gpu = device_record('pci_0000_00_02_0', 'pci', details={'address': '0000:00:02.0'})
    active = device_record('mdev_a', 'mdev', parent='mtty_mtty', details={'parent_address': 'mtty'})
    defined = device_record('mdev_b', 'mdev', parent=None, details={'parent_address': 'mtty'})
    on_gpu = device_record('mdev_c', 'mdev', parent='pci_0000_00_02_0',
                           details={'parent_address': '0000:00:02.0'})
    records = [mtty, gpu, active, defined, on_gpu]
    assert parent_address(mtty) == 'mtty'
    assert parent_address(gpu) == '0000:00:02.0'
    assert [record['name'] for record in mdevs_of(records, mtty)] == ['mdev_a', 'mdev_b']
    assert [record['name'] for record in mdevs_of(records, gpu)] == ['mdev_c']
    assert mdevs_of(records, device_record('usb_1_1', 'usb_device')) == []


def test_link_mdevs_fills_the_device_api_and_parent_address_from_the_parent_only_where_missing():
    from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import link_mdevs
    mtty = device_record('mtty_mtty', 'mdev_types', path='/sys/devices/virtual/mtty/mtty', details={'types': TYPES})
    bare = device_record('mdev_a', 'mdev', parent='mtty_mtty', details={'type': 'mtty-2'})
    said = device_record('mdev_b', 'mdev', parent='mtty_mtty',
                         details={'type': 'mtty-1', 'device_api': 'vfio-ccw', 'parent_address': 'other'})
    unknown_type = device_record('mdev_c', 'mdev', parent='mtty_mtty', details={'type': 'mtty-9'})
    orphan = device_record('mdev_d', 'mdev', parent=None, details={'type': 'mtty-2'})
    link_mdevs([mtty, bare, said, unknown_type, orphan])
    assert (bare['mdev']['device_api'], bare['mdev']['parent_address']) == ('vfio-pci', 'mtty')
    assert (said['mdev']['device_api'], said['mdev']['parent_address']) == ('vfio-ccw', 'other')
    assert (unknown_type['mdev']['device_api'], unknown_type['mdev']['parent_address']) == (None, 'mtty')
    assert (orphan['mdev']['device_api'], orphan['mdev']['parent_address']) == (None, None)


@pytest.mark.parametrize('key', ['active', 'persistent', 'autostart'])
def test_an_mdev_state_is_known_true_known_false_or_unknown_never_guessed(key):
    def record(value):
        return device_record('mdev_x', 'mdev', parent='mtty_mtty', details={'uuid': 'x', key: value})
    assert state_of(record(True), key) is True and state_of(record(False), key) is False
    # None (the reader could not tell), and anything that is not a bool, is unknown: not active, not inactive
    assert state_of(record(None), key) is None and state_of(record('yes'), key) is None
    assert state_of(device_record('pci_0000_00_02_0', 'pci', details={}), key) is None
    with pytest.raises(ValueError):
        state_of(record(True), 'running')
