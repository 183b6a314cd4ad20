# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mapping_drift filter over the sample workstation's facts, full and compact."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.virt.hostdev.plugins.filter import mapping_drift as plugin
from ansible_collections.virt.hostdev.plugins.filter.mapping_drift import mapping_drift
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import DEVICE_FACTS_MODES

from support.ansible_types import _AnsibleLazyTemplateList
from support.sample_mappings import MAPPINGS


@pytest.fixture(scope='module', params=DEVICE_FACTS_MODES)
def facts(request, sample_facts):
    """The sample workstation's facts, full and compact: every test runs on both."""
    return sample_facts(request.param)


def test_registered_and_documented():
    assert plugin.FilterModule().filters() == {'mapping_drift': mapping_drift}
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc['name'] == 'mapping_drift'
    assert yaml.safe_load(plugin.EXAMPLES) and yaml.safe_load(plugin.RETURN)['_value']


def test_drift_of_a_matching_host_is_empty(facts):
    assert mapping_drift(facts, MAPPINGS, 'ws1') == []
    assert mapping_drift(facts['devices'], MAPPINGS, 'ws1', 'keyboard') == []


def test_drift_entries_name_host_mapping_property_expected_found(facts):
    # hv2's entry read against this host's facts: nothing at its address.
    assert mapping_drift(facts, MAPPINGS, 'hv2') == [
        {'host': 'hv2', 'mapping': 'gpu-a4000', 'property': 'address', 'expected': '0000:41:00.0', 'found': None}]
    moved = {'gpu-a4000': dict(MAPPINGS['gpu-a4000'], hosts={'ws1': {'address': '01:00.0', 'iommu_group': 12}})}
    assert mapping_drift(facts, moved, 'ws1') == [
        {'host': 'ws1', 'mapping': 'gpu-a4000', 'property': 'iommu_group', 'expected': 12, 'found': 1}]


def test_a_host_not_mapped_has_no_drift(facts):
    assert mapping_drift(facts, MAPPINGS, 'hv3') == []


def test_drift_fails_on_a_bad_table_naming_the_property(facts):
    bad = {'gpu-a4000': {'hosts': {'ws1': {'address': '01:00.0', 'vendor_id': '10de', 'product_id': '24b0',
                                           'iommu': 1}}}}
    with pytest.raises(AnsibleFilterError, match='^mapping_drift: bad device mappings: mapping gpu-a4000, host ws1: '
                                                 'unknown property iommu '):
        mapping_drift(facts, bad, 'ws1')


def test_drift_fails_on_input_that_is_not_the_facts():
    with pytest.raises(AnsibleFilterError, match='expected the facts of virt.hostdev.hostdev_facts'):
        mapping_drift('ws1', MAPPINGS, 'ws1')


# Devices compact facts leave out: the GPU's root port (a bridge, named in iommu_groups only) and a
# USB root hub; full facts list both, with these ids.
LEFT_OUT = yaml.safe_load('''
root-port:
  hosts:
    ws1: {address: '0000:00:01.0', vendor_id: '8086', product_id: '460d', iommu_group: 1}
root-hub:
  hosts:
    ws1: {address: '1.1', vendor_id: '1d6b', product_id: '0002'}
''')


def test_devices_compact_facts_leave_out_match_on_full_facts(sample_facts):
    assert mapping_drift(sample_facts('full'), LEFT_OUT, 'ws1') == []


@pytest.mark.parametrize('mapping, address', [('root-port', '0000:00:01.0'), ('root-hub', '1.1')])
def test_a_device_compact_facts_leave_out_is_unknown_not_drift(sample_facts, mapping, address):
    """Once, the bridge drifted (vendor_id found null) and the hub had no device at its address."""
    with pytest.raises(AnsibleFilterError) as caught:
        mapping_drift(sample_facts('compact'), LEFT_OUT, 'ws1', mapping)
    assert str(caught.value) == (
        'mapping_drift: mapping %s on ws1: compact facts do not list the device at %s (they leave out PCI '
        'bridges, USB hubs and devices that are not passthrough candidates), so whether it drifted is unknown: '
        'gather the facts with virt.hostdev.hostdev_facts and facts: full' % (mapping, address))
    with pytest.raises(AnsibleFilterError, match='^mapping_drift: mapping %s on ws1: compact facts do not list'
                                                 % mapping):
        mapping_drift(sample_facts('compact')['devices'], LEFT_OUT, 'ws1', mapping)


def test_compact_facts_without_groups_know_no_pci_address_they_do_not_list(sample_facts):
    """With IOMMU groups, compact facts name every PCI device (bridges in iommu_groups): an address they
    lack has no device, which is drift. Without groups, a bridge there is named nowhere."""
    missing = {'gpu': {'hosts': {'ws1': {'address': '0000:41:00.0', 'vendor_id': '10de', 'product_id': '26b9'}}}}
    compact = sample_facts('compact')
    assert mapping_drift(compact, missing, 'ws1') == [
        {'host': 'ws1', 'mapping': 'gpu', 'property': 'address', 'expected': '0000:41:00.0', 'found': None}]
    without_groups = dict(compact, iommu_groups=[], devices=[dict(device, iommu_group=None)
                                                             for device in compact['devices']])
    with pytest.raises(AnsibleFilterError, match='compact facts do not list the device at 0000:41:00.0'):
        mapping_drift(without_groups, missing, 'ws1')


@pytest.mark.parametrize('name, words', [
    (None, 'the name of device 0 is null, not a node device name such as pci_0000_01_00_0'),
    (7, 'the name of device 0 is the number 7, not a node device name such as pci_0000_01_00_0'),
    ('', "the name of device 0 is an empty string, not a node device name such as pci_0000_01_00_0"),
])
def test_a_device_named_null_or_a_number_is_named_not_a_type_error(sample_facts, name, words):
    """sorted() of names with a None or a number in them raised TypeError deep in the model."""
    facts = dict(sample_facts('full'))
    facts['devices'] = [dict(facts['devices'][0], name=name)] + facts['devices'][1:]
    with pytest.raises(AnsibleFilterError) as caught:
        mapping_drift(facts, MAPPINGS, 'ws1')
    assert str(caught.value) == ('mapping_drift: expected the facts of virt.hostdev.hostdev_facts '
                                 '(ansible_facts.hostdev or its devices), but %s' % words)


@pytest.mark.parametrize('host, words', [
    (None, 'null'), (['ws1'], 'a list'), ('', 'an empty string'), (3, 'the number 3')])
def test_the_host_must_be_an_inventory_name(facts, host, words):
    """str(None) was 'None', a host in no mapping: no drift, silently."""
    with pytest.raises(AnsibleFilterError) as caught:
        mapping_drift(facts, MAPPINGS, host)
    assert str(caught.value) == ('mapping_drift: the host must be its inventory name (a string such as '
                                 'inventory_hostname), not %s' % words)


def test_messages_name_user_types_not_ansibles(facts):
    with pytest.raises(AnsibleFilterError) as caught:
        mapping_drift(facts, _AnsibleLazyTemplateList(['gpu-a4000']), 'ws1')
    assert str(caught.value) == 'mapping_drift: the device mappings must be a dict of mapping names, not a list'
