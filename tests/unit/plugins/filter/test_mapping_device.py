# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mapping_device filter over the sample workstation's facts, full and compact."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.virt.hostdev.plugins.filter import mapping_device as plugin
from ansible_collections.virt.hostdev.plugins.filter.mapping_device import mapping_device
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import FACTS_MODES

from support.sample_mappings import MAPPINGS


@pytest.fixture(scope='module', params=FACTS_MODES)
def facts(request, sample_facts):
    """The sample workstation's facts, full and compact: every test runs on both."""
    return sample_facts(request.param)


def test_registered_and_documented():
    assert plugin.FilterModule().filters() == {'mapping_device': mapping_device}
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc['name'] == 'mapping_device'
    assert yaml.safe_load(plugin.EXAMPLES) and yaml.safe_load(plugin.RETURN)['_value']


def test_device_of_one_mapping_is_a_name_of_several_a_list(facts):
    assert mapping_device(facts, MAPPINGS, 'gpu-a4000', 'ws1') == 'pci_0000_01_00_0'
    assert mapping_device(facts, MAPPINGS, ['keyboard', 'gpu-a4000'], 'ws1') == ['pci_0000_01_00_0', 'usb_1_3']


def test_device_refuses_drift_naming_it(facts):
    drifted = {'gpu-a4000': dict(MAPPINGS['gpu-a4000'], driver='vfio-pci')}
    with pytest.raises(AnsibleFilterError) as caught:
        mapping_device(facts, drifted, 'gpu-a4000', 'ws1')
    assert str(caught.value) == ('mapping_device: refusing device mappings on ws1: '
                                 'mapping gpu-a4000 on ws1: driver expected vfio-pci, found nvidia')


def test_ignored_properties_are_not_compared(facts):
    """hostdev_prepare resolves a mapping whose driver becomes vfio-pci only after its reboot."""
    drifted = {'gpu-a4000': dict(MAPPINGS['gpu-a4000'], driver='vfio-pci')}
    assert mapping_device(facts, drifted, 'gpu-a4000', 'ws1', ['driver']) == 'pci_0000_01_00_0'
    moved = {'gpu-a4000': dict(drifted['gpu-a4000'], hosts={'ws1': {'address': '0000:01:00.0', 'iommu_group': 2}})}
    with pytest.raises(AnsibleFilterError, match='iommu_group expected 2, found 1'):
        mapping_device(facts, moved, 'gpu-a4000', 'ws1', ['driver'])


def test_device_refuses_a_host_not_mapped(facts):
    with pytest.raises(AnsibleFilterError, match=r'host hv3 is not in mapping keyboard \(mapped hosts: ws1\)'):
        mapping_device(facts, MAPPINGS, 'keyboard', 'hv3')


def test_device_refuses_an_unknown_mapping(facts):
    with pytest.raises(AnsibleFilterError, match=r'no device mapping named gpu-l40s \(mappings: gpu-a4000, keyboard\)'):
        mapping_device(facts, MAPPINGS, 'gpu-l40s', 'ws1')
