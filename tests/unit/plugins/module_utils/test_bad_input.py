"""Bad input gets a clear problem or error, never a traceback and never a wrong answer
(issue 8, item 5), at the layer where each rule lives: the records, the model, the planner."""

import copy

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import (
    AssignmentRequest,
    plan_assignment,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import build_hostdev
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import capability_record
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_via_sysfs
from ansible_collections.virt.hostdev.plugins.module_utils.reading.libvirt_reader import parse_nodedev_xml

from fixtures.sample_host import build_tree

EMPTY = "<domain type='qemu'><name>guest</name><devices/></domain>"
NIC, KEYBOARD = 'pci_0000_02_00_0', 'usb_1_3'


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    found = read_via_sysfs(build_tree(str(tmp_path_factory.mktemp('host'))))
    records, iommu = found.records, found.iommu
    return records, iommu


def changed(sample, name, key, **values):
    """The sample host's records with device name's key sub-dict updated by values."""
    records = copy.deepcopy(sample[0])
    for record in records:
        if record['name'] == name:
            record[key].update(values)
    return HostModel(records, iommu=sample[1])


def plan(model, devices, **options):
    return plan_assignment(model, AssignmentRequest('guest', devices, **options), config_xml=EMPTY)


@pytest.mark.parametrize('reference', ['\u0661.\u0663', '\u0661\u0663:00.0', '１.３'])
def test_numbers_in_references_are_ascii_digits_only(sample, reference):
    """Arabic-Indic or full-width digits once resolved to usb_1_3 (int() accepts them)."""
    result = plan(HostModel(copy.deepcopy(sample[0]), iommu=sample[1]), [reference])
    assert [item['code'] for item in result.problems] == ['unresolved_reference']
    assert result.edits == []


@pytest.mark.parametrize('pci_class', ['0xffffffffffffffffffff', '0x1020000', 'junk'])
def test_a_pci_class_wider_than_24_bits_or_junk_is_unknown_and_refused(sample, pci_class):
    record = parse_nodedev_xml(
        "<device><name>pci_0000_02_00_0</name><capability type='pci'><class>%s</class><domain>0</domain>"
        "<bus>2</bus><slot>0</slot><function>0</function></capability></device>" % pci_class)
    assert record['pci']['class'] is None
    assert capability_record('pci', **{'class': pci_class})['class'] is None
    result = plan(changed(sample, NIC, 'pci', **{'class': pci_class}), [NIC])
    assert [item['code'] for item in result.problems] == ['not_eligible']
    assert 'pci_class_unknown' in result.problems[0]['message']


def test_a_usb_device_without_readable_ids_is_assigned_by_its_address(sample):
    result = plan(changed(sample, KEYBOARD, 'usb', vendor_id=None, product_id=None), [KEYBOARD])
    assert result.problems == []
    xml = result.edits[0]['xml']
    assert '<address bus="1" device="3" />' in xml and 'vendor' not in xml and 'None' not in xml
    assert any('could not be read' in warning for warning in result.warnings)


def test_a_usb_device_without_ids_is_never_found_by_ids(sample):
    model = changed(sample, KEYBOARD, 'usb', vendor_id=None, product_id=None)
    assert model.usb_devices_with_ids(None, None) == []
    assert model.match_source({'type': 'usb', 'vendor_id': None, 'product_id': None, 'bus': None, 'device': None}) == []


def test_a_usb_device_with_nothing_readable_is_not_eligible_and_builds_no_xml(sample):
    model = changed(sample, KEYBOARD, 'usb', vendor_id=None, product_id=None, bus=None, device=None)
    assert model.eligibility(KEYBOARD) == (False, ['usb_unaddressable'])
    result = plan(model, [KEYBOARD])
    assert [item['code'] for item in result.problems] == ['not_eligible']
    assert result.edits == []
    with pytest.raises(ValueError, match='no readable vendor:product or bus.device'):
        build_hostdev(model.device(KEYBOARD))


def test_messages_quote_user_input_cut_to_a_sane_length(sample):
    reference = 'x' * 100000
    result = plan(HostModel(copy.deepcopy(sample[0]), iommu=sample[1]), [reference])
    problem = result.problems[0]
    assert problem['code'] == 'unresolved_reference'
    assert len(problem['message']) < 400 and '(100000 characters)' in problem['message']
    assert len(problem['device']) < 120


def test_an_empty_device_list_warns_that_nothing_was_asked(sample):
    result = plan(HostModel(copy.deepcopy(sample[0]), iommu=sample[1]), [])
    assert not result.changed and result.problems == []
    assert 'devices is empty: nothing was asked, so nothing changes' in result.warnings
