# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IOMMU group tests over the sample workstation's facts, full and compact (every test on both),
a host without IOMMU and junk; and their documentation."""

from __future__ import annotations

import copy
import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import DEVICE_FACTS_MODES
from ansible_collections.virt.hostdev.plugins.test import hostdev_group
from ansible_collections.virt.hostdev.plugins.test.hostdev_group import (
    hostdev_alone_in_group,
    hostdev_group_within_slot,
)

TEST_DIR = os.path.dirname(hostdev_group.__file__)


@pytest.fixture(scope='module', params=DEVICE_FACTS_MODES)
def facts(request, sample_facts):
    """ansible_facts.hostdev of the sample workstation, as hostdev_facts sets it, full and compact."""
    return sample_facts(request.param)


def test_registered_under_their_names():
    assert hostdev_group.TestModule().tests() == {
        'hostdev_alone_in_group': hostdev_alone_in_group, 'hostdev_group_within_slot': hostdev_group_within_slot}


# name: (alone in its group, group within its slot), for every device of the sample host.
# Groups: 1 = root port + GPU 01:00.0 + audio 01:00.1; 8 = PCIe-to-PCI bridge + e1000 04:00.0 + 04:01.0;
# 9 = ISA bridge 00:1f.0 + audio 00:1f.3 + SMBus 00:1f.4 (all of slot 00:1f); the others one device each.
EXPECTED = {
    'pci_0000_00_00_0': (False, False),   # host bridge
    'pci_0000_00_01_0': (False, False),   # root port
    'pci_0000_00_02_0': (True, True),     # integrated 3D controller, alone in group 2
    'pci_0000_00_14_0': (True, True),     # xHCI
    'pci_0000_00_17_0': (True, True),     # SATA
    'pci_0000_00_1c_0': (False, False),   # root port
    'pci_0000_00_1c_4': (False, False),   # root port
    'pci_0000_00_1f_0': (False, False),   # ISA bridge
    'pci_0000_00_1f_3': (False, True),    # with the SMBus controller, a function of the same slot
    'pci_0000_00_1f_4': (False, True),
    'pci_0000_01_00_0': (False, True),    # the GPU with its audio function
    'pci_0000_01_00_1': (False, True),
    'pci_0000_02_00_0': (True, True),     # I225-V behind its own root port
    'pci_0000_03_00_0': (False, False),   # PCIe-to-PCI bridge
    'pci_0000_04_00_0': (False, False),   # slots 04:00 and 04:01 share group 8
    'pci_0000_04_01_0': (False, False),
}


def test_every_device_of_the_sample_host(facts):
    for device in facts['devices']:
        name = device['name']
        expected = EXPECTED.get(name, (False, False))  # not PCI: USB, SCSI, net, storage, the computer
        assert (hostdev_alone_in_group(name, facts), hostdev_group_within_slot(name, facts)) == expected, name


def test_a_device_dict_or_an_address_works_as_well(facts):
    gpu = next(device for device in facts['devices'] if device['name'] == 'pci_0000_00_02_0')
    assert hostdev_alone_in_group(gpu, facts) and hostdev_alone_in_group('00:02.0', facts)
    assert hostdev_group_within_slot('0000:01:00.1', facts)


def test_nothing_is_alone_without_iommu(facts):
    off = copy.deepcopy(facts)
    for device in off['devices']:
        device['iommu_group'] = None
        if device.get('pci'):
            device['pci']['iommu_group'] = None
    for device in off['devices']:
        assert not hostdev_alone_in_group(device['name'], off), device['name']
        assert not hostdev_group_within_slot(device['name'], off), device['name']


def test_a_device_whose_group_is_unknown_is_not_alone(facts):
    changed = copy.deepcopy(facts)
    gpu = next(device for device in changed['devices'] if device['name'] == 'pci_0000_00_02_0')
    gpu['iommu_group'] = gpu['pci']['iommu_group'] = None
    assert not hostdev_alone_in_group('pci_0000_00_02_0', changed)
    assert not hostdev_group_within_slot('pci_0000_00_02_0', changed)


def test_a_sibling_in_another_slot_breaks_within_slot(facts):
    changed = copy.deepcopy(facts)
    audio = next(device for device in changed['devices'] if device['name'] == 'pci_0000_01_00_1')
    audio['pci']['address'] = '0000:01:01.1'
    assert not hostdev_group_within_slot('pci_0000_01_00_0', changed)
    audio['pci']['address'] = '0001:01:00.1'  # another PCI domain
    assert not hostdev_group_within_slot('pci_0000_01_00_0', changed)


def test_compact_facts_give_the_answers_of_full_facts(sample_facts):
    full, compact = sample_facts('full'), sample_facts('compact')
    # every PCI device, the bridges compact facts leave out too (they are known by their groups)
    for name in EXPECTED:
        assert (hostdev_alone_in_group(name, compact), hostdev_group_within_slot(name, compact)) == \
            (hostdev_alone_in_group(name, full), hostdev_group_within_slot(name, full)) == EXPECTED[name], name
    assert not any(device['name'] == 'pci_0000_00_01_0' for device in compact['devices'])


def test_an_unknown_device_fails_naming_it(facts):
    with pytest.raises(AnsibleFilterError, match=r"^hostdev_alone_in_group: device reference 'pci_0000_09_00_0' "
                                                 r"is not a node device name"):
        hostdev_alone_in_group('pci_0000_09_00_0', facts)
    with pytest.raises(AnsibleFilterError, match=r'^hostdev_group_within_slot: no PCI device at address 0000:09:00.0'):
        hostdev_group_within_slot('09:00.0', facts)


@pytest.mark.parametrize('junk', [None, [], {'hostdev': {}}, 'facts'])
def test_the_argument_must_be_the_facts_dict(junk):
    with pytest.raises(AnsibleFilterError, match='^hostdev_group_within_slot expects ansible_facts.hostdev'):
        hostdev_group_within_slot('pci_0000_01_00_0', junk)


@pytest.mark.parametrize('name', sorted(hostdev_group.TestModule().tests()))
def test_every_test_has_its_documentation(name):
    with open(os.path.join(TEST_DIR, name + '.yml')) as handle:
        doc = yaml.safe_load(handle)
    assert doc['DOCUMENTATION']['name'] == name
    assert doc['DOCUMENTATION']['version_added'] == '0.1.0'
    assert doc['DOCUMENTATION']['extends_documentation_fragment'] == ['virt.hostdev.hostdev_query.test']
    assert doc['RETURN']['_value']['type'] == 'bool'
    assert 'virt.hostdev.%s' % name in doc['EXAMPLES']


@pytest.mark.parametrize('name, words', [(None, 'a dict whose name is null'), (7, 'a dict whose name is the number 7')])
def test_a_device_named_null_or_a_number_in_the_facts_is_named(facts, name, words):
    broken = dict(facts, devices=[dict(facts['devices'][0], name=name)] + facts['devices'][1:])
    for test in (hostdev_alone_in_group, hostdev_group_within_slot):
        with pytest.raises(AnsibleFilterError) as caught:
            test('pci_0000_01_00_0', broken)
        assert str(caught.value) == ('%s: item 0 of ansible_facts.hostdev.devices is not a device (a dict with a '
                                     'name): %s' % (test.__name__, words))


@pytest.mark.parametrize('device, words', [(3, 'not the number 3'), (['pci_0000_01_00_0'], 'not a list')])
def test_a_device_of_another_type_is_named_in_user_words(facts, device, words):
    with pytest.raises(AnsibleFilterError) as caught:
        hostdev_alone_in_group(device, facts)
    assert str(caught.value) == ('hostdev_alone_in_group: needs a device name such as pci_0000_01_00_0 (or a '
                                 'device dict), %s' % words)
