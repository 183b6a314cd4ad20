# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mapping_drift filter over the sample workstation's facts, full and compact."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.virt.hostdev.plugins.filter import mapping_drift as plugin
from ansible_collections.virt.hostdev.plugins.filter.mapping_drift import mapping_drift
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import FACTS_MODES

from support.sample_mappings import MAPPINGS


@pytest.fixture(scope='module', params=FACTS_MODES)
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
