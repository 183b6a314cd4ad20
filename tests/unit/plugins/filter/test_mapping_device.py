# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mapping_device filter over the sample workstation's facts, full and compact."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.virt.hostdev.plugins.filter import mapping_device as plugin
from ansible_collections.virt.hostdev.plugins.filter.mapping_device import mapping_device
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import DEVICE_FACTS_MODES

from support.sample_mappings import MAPPINGS


@pytest.fixture(scope='module', params=DEVICE_FACTS_MODES)
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


def test_a_mapping_of_several_devices_on_a_host_is_a_pool_never_one_name(facts):
    pool = {'e1000': {'vendor_id': '8086', 'product_id': '107c',
                      'hosts': {'ws1': [{'address': '0000:04:00.0'}, {'address': '04:01.0'}]}}}
    assert mapping_device(facts, pool, ['e1000'], 'ws1') == ['pci_0000_04_00_0', 'pci_0000_04_01_0']
    with pytest.raises(AnsibleFilterError) as caught:
        mapping_device(facts, pool, 'e1000', 'ws1')
    assert 'maps 2 devices on ws1' in str(caught.value) and 'pool.mapping' in str(caught.value)


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


@pytest.mark.parametrize('ignore', ['driver', ['driver'], ('driver',)])
def test_ignore_as_a_string_is_one_property_not_its_characters(facts, ignore):
    """'driver' was split into d, r, i, v, e, r: the driver was compared, and the mapping refused."""
    drifted = {'gpu-a4000': dict(MAPPINGS['gpu-a4000'], driver='vfio-pci')}
    assert mapping_device(facts, drifted, 'gpu-a4000', 'ws1', ignore) == 'pci_0000_01_00_0'


@pytest.mark.parametrize('ignore, words', [
    ('drivers', 'ignore names drivers, not a property a mapping compares'),
    (['driver', 'd'], 'ignore names d, not a property a mapping compares'),
    ([3], 'ignore names the number 3, not a property a mapping compares'),
    ({'driver': True}, 'ignore must be a property name or a list of them, not a dict'),
    (3, 'ignore must be a property name or a list of them, not the number 3'),
])
def test_ignore_names_only_properties_a_mapping_compares(facts, ignore, words):
    with pytest.raises(AnsibleFilterError) as caught:
        mapping_device(facts, MAPPINGS, 'gpu-a4000', 'ws1', ignore)
    assert str(caught.value).startswith('mapping_device: %s' % words)
    if 'not a property' in words:
        assert str(caught.value).endswith('(vendor_id, product_id, subsystem_vendor_id, subsystem_id, '
                                          'iommu_group, driver)')


def test_a_device_compact_facts_leave_out_is_refused_as_unknown(sample_facts):
    hub = {'root-hub': {'hosts': {'ws1': {'address': '1.1', 'vendor_id': '1d6b', 'product_id': '0002'}}}}
    assert mapping_device(sample_facts('full'), hub, 'root-hub', 'ws1') == 'usb_usb1'
    with pytest.raises(AnsibleFilterError) as caught:
        mapping_device(sample_facts('compact'), hub, 'root-hub', 'ws1')
    assert str(caught.value) == (
        'mapping_device: refusing device mappings on ws1: mapping root-hub on ws1: compact facts do not list '
        'the device at 1.1 (they leave out PCI bridges, USB hubs and devices that are not passthrough '
        'candidates), so whether it drifted is unknown: gather the facts with virt.hostdev.hostdev_facts and '
        'facts: full')


def test_a_mapping_without_an_address_names_the_mapping_and_host(facts):
    """'address None is not a PCI address' named neither what was missing nor where."""
    bad = {'gpu-a4000': {'vendor_id': '10de', 'product_id': '24b0', 'hosts': {'ws1': {'iommu_group': 1}}}}
    with pytest.raises(AnsibleFilterError) as caught:
        mapping_device(facts, bad, 'gpu-a4000', 'ws1')
    assert str(caught.value) == (
        "mapping_device: bad device mappings: mapping gpu-a4000, host ws1: address is missing: give the device's "
        "address, as a PCI address (0000:41:00.0), a USB vendor:product (046d:c31c) or a USB bus.device (1.3)")
