# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts of hostdev_facts are device records: a model built from them answers as the host's own."""

from __future__ import annotations

import functools

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import facts_record as device_record
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import model_of_facts
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import assignability
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.plugin_utils.facts_query import plain

from support.ansible_types import _AnsibleLazyTemplateList, _AnsibleTaggedInt, _AnsibleTaggedStr


@pytest.fixture(scope='module')
def host(sample_sysfs):
    model, used, _warnings = read_host('sysfs', 'qemu:///system', sample_sysfs)
    return model, model.facts(used, assignability(model))


def test_the_model_of_the_facts_is_the_hosts(host):
    model, facts = host
    rebuilt = model_of_facts({'devices': facts['devices'], 'iommu': facts['iommu']})
    assert rebuilt.names() == model.names()
    assert rebuilt.iommu_groups() == model.iommu_groups()
    assert rebuilt.warnings == []
    for name in model.names():
        assert rebuilt.iommu_group(name) == model.iommu_group(name), name
        assert rebuilt.group_endpoints(name) == model.group_endpoints(name), name
        assert rebuilt.affected_by(name) == model.affected_by(name), name
        assert rebuilt.eligibility(name) == model.eligibility(name), name


def test_a_pci_device_without_its_pci_dict_keeps_group_address_and_bridgehood():
    bridge = {'name': 'pci_0000_00_01_0', 'type': 'pci', 'iommu_group': 1,
              'passthrough': {'eligible': False, 'reasons': ['pci_bridge']}}
    record = device_record(bridge)
    assert record['pci'] == {'iommu_group': 1, 'address': '0000:00:01.0', 'class': '0x060000'}
    assert 'pci' not in bridge  # the facts are not changed
    smbus = {'name': 'pci_0000_00_1f_4', 'type': 'pci', 'iommu_group': 9,
             'passthrough': {'eligible': False, 'reasons': ['pci_smbus']}}
    assert device_record(smbus)['pci'] == {'iommu_group': 9, 'address': '0000:00:1f.4'}
    # what the pci dict says wins
    full = {'name': 'pci_0000_00_01_0', 'type': 'pci', 'iommu_group': 1,
            'pci': {'iommu_group': 1, 'address': '0000:00:01.0', 'class': '0x060400'}}
    assert device_record(full)['pci'] == full['pci']


def test_junk_values_are_dropped():
    record = device_record({'name': 'odd', 'type': 'pci', 'parent': ['x'], 'iommu_group': 'one', 'pci': 'x',
                            'usb': 3, 'passthrough': 'no'})
    assert record['parent'] is None and 'usb' not in record
    assert record['pci'] == {'address': None}


def test_plain_gives_plain_types():
    tagged = {_AnsibleTaggedStr('a'): _AnsibleLazyTemplateList(
        [_AnsibleTaggedStr('x'), _AnsibleTaggedInt(3), True, None, 1.5, ('t',)])}
    result = plain(tagged)
    assert result == {'a': ['x', 3, True, None, 1.5, ['t']]}
    key = next(iter(result))
    # exactly the builtin types (subclasses are what jmespath rejects): pylint: disable=unidiomatic-typecheck
    assert type(key) is str and type(result['a']) is list
    assert [type(item) for item in result['a']] == [str, int, bool, type(None), float, list]


SUMMARY_MESSAGE = ('summary facts (virt.hostdev.hostdev_facts with facts=summary) count devices but name none, '
                   'and this needs device names: gather the facts with facts=compact or facts=full')


def on_the_gpu(function, facts):
    return function(facts, 'pci_0000_01_00_0')


def every_device_plugin():
    """(plugin name, a call of it on given facts) for every filter and test that reads device names."""
    from ansible_collections.virt.hostdev.plugins.filter import hostdev_query
    from ansible_collections.virt.hostdev.plugins.filter.hostdev_select import hostdev_select
    from ansible_collections.virt.hostdev.plugins.filter.mapping_device import mapping_device
    from ansible_collections.virt.hostdev.plugins.filter.mapping_drift import mapping_drift
    from ansible_collections.virt.hostdev.plugins.test.hostdev_group import (
        hostdev_alone_in_group,
        hostdev_group_within_slot,
    )

    from support.sample_mappings import MAPPINGS
    calls = [(name, functools.partial(on_the_gpu, function))
             for name, function in hostdev_query.FilterModule().filters().items()
             if name not in ('hostdev_assignable', 'hostdev_group', 'hostdev_of_kind', 'hostdev_pci_class_name')]
    return calls + [
        ('hostdev_assignable', lambda facts: hostdev_query.hostdev_assignable(facts, 'gpu')),
        ('hostdev_group', lambda facts: hostdev_query.hostdev_group(facts, 1)),
        ('hostdev_of_kind', lambda facts: hostdev_query.hostdev_of_kind(facts, 'gpu')),
        ('hostdev_alone_in_group', lambda facts: hostdev_alone_in_group('pci_0000_01_00_0', facts)),
        ('hostdev_group_within_slot', lambda facts: hostdev_group_within_slot('pci_0000_01_00_0', facts)),
        # hostdev_select takes the devices; summary facts have none, so ansible_facts.hostdev is what it gets
        ('hostdev_select', lambda facts: hostdev_select(facts.get('devices', facts), '[].name')),
        ('mapping_drift', lambda facts: mapping_drift(facts, MAPPINGS, 'ws1')),
        ('mapping_device', lambda facts: mapping_device(facts, MAPPINGS, 'gpu-a4000', 'ws1')),
    ]


@pytest.mark.parametrize('plugin, call', every_device_plugin(), ids=lambda value: value if isinstance(value, str) else '')
def test_every_plugin_that_needs_device_names_says_summary_facts_have_none(sample_facts, plugin, call):
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError) as raised:
        call(sample_facts('summary'))
    assert raised.value.message == '%s: %s' % (plugin, SUMMARY_MESSAGE)
    call(sample_facts('compact'))  # the same call on facts that name devices answers
