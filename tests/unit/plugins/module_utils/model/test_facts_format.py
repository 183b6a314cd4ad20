# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""facts_format: the declaration of ansible_facts.hostdev is what the facts are, what hostdev_facts'
RETURN documents and what the query plugins' doc fragment says they read."""

from __future__ import annotations

import re

import pytest
import yaml

from ansible_collections.virt.hostdev.plugins.doc_fragments.hostdev_query import ModuleDocFragment
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import (
    COMPACT_CAPABILITY_KEYS,
    COMPACT_DEVICE_KEYS,
    DOMAIN_KEYS,
    FACTS_KEYS,
    FACTS_MODES,
    FULL_DEVICE_KEYS,
    IOMMU_GROUP_KEYS,
    IOMMU_KEYS,
    QUERY_DEVICE_KEYS,
    CompactListing,
    compact_listing,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import host_facts, model_of_facts
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import CAPABILITIES, CAPABILITY_KEYS
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.modules import hostdev_facts

CAPABILITY_FIELDS = dict(CAPABILITIES.values())


def declared_device_keys(device, mode):
    """What the declaration says this device's keys are (its capabilities as it has them)."""
    own = FULL_DEVICE_KEYS if mode == 'full' else COMPACT_DEVICE_KEYS
    capabilities = CAPABILITY_KEYS if mode == 'full' else tuple(COMPACT_CAPABILITY_KEYS)
    return set(own) | set(key for key in capabilities if key in device)


def assert_facts_follow_the_declaration(facts, mode):
    assert list(facts) == list(FACTS_KEYS[mode])
    assert set(facts['iommu']) == set(IOMMU_KEYS)
    assert facts['iommu_groups'] and all(list(group) == list(IOMMU_GROUP_KEYS) for group in facts['iommu_groups'])
    assert facts['domains'] and all(list(domain) == list(DOMAIN_KEYS) for domain in facts['domains'])
    assert facts['devices']
    for device in facts['devices']:
        assert set(device) == declared_device_keys(device, mode), device['name']
        for key in CAPABILITY_KEYS:
            if key in device:
                fields = CAPABILITY_FIELDS[key] if mode == 'full' else COMPACT_CAPABILITY_KEYS[key]
                assert list(device[key]) == list(fields), (device['name'], key)


@pytest.mark.parametrize('mode', FACTS_MODES)
def test_the_facts_are_what_the_declaration_says(sample_facts, mode):
    assert_facts_follow_the_declaration(sample_facts(mode), mode)


@pytest.mark.parametrize('mode', FACTS_MODES)
def test_the_libvirt_reader_gives_the_same_format(sample_uri, sample_sysfs, mode):
    model, used, _warnings = read_host('libvirt', sample_uri, sample_sysfs)
    assert_facts_follow_the_declaration(host_facts(model, used, mode), mode)


@pytest.mark.parametrize('mode', FACTS_MODES)
def test_a_model_of_the_facts_gives_the_same_facts(sample_facts, mode):
    """Facts out, model in, facts out again: the one way back (model_of_facts) loses nothing the
    facts say of each device and group (compact facts list the same devices; the model knows the
    bridges they leave out). Holders and blockers are the facts' own: a model of facts has no domain
    definitions and does not know what the host runs on (compact facts leave host_use out), so
    readers of facts take assigned_to, assignable and blockers as the facts give them."""
    facts = sample_facts(mode)
    again = model_of_facts(facts).facts(facts['source'], mode=mode)

    def without_holders(devices):
        return [dict((key, value) for key, value in device.items()
                     if key not in ('assigned_to', 'assignable', 'blockers')) for device in devices]
    assert without_holders(again['devices']) == without_holders(facts['devices'])
    assert again['iommu_groups'] == facts['iommu_groups']


def return_of_hostdev():
    doc = yaml.safe_load(hostdev_facts.RETURN)
    return doc['ansible_facts']['contains']['hostdev']['contains']


def test_return_documents_the_declared_facts_keys():
    hostdev = return_of_hostdev()
    assert list(hostdev) == list(FACTS_KEYS['full'])
    full_only = set(FACTS_KEYS['full']) - set(FACTS_KEYS['compact'])
    for key, entry in hostdev.items():
        assert (entry['returned'] == 'in full facts') == (key in full_only), key
    assert set(hostdev['iommu']['sample']) == set(IOMMU_KEYS)
    for key in IOMMU_KEYS:
        assert 'C(%s)' % key in ' '.join(hostdev['iommu']['description']), key


def test_return_documents_the_declared_device_keys():
    devices = return_of_hostdev()['devices']['contains']
    assert set(devices) == set(FULL_DEVICE_KEYS) | set(CAPABILITY_KEYS)
    for key, entry in devices.items():
        in_compact = key in COMPACT_DEVICE_KEYS or key in COMPACT_CAPABILITY_KEYS
        assert ('in full facts' in entry['returned']) != in_compact, key


def documented_keys(text):
    """The device keys a doc fragment's 'Keys read' note names, in order."""
    note = re.search(r'Keys read, of each device: (.*?);', ' '.join(text.split()))
    assert note, 'the doc fragment has no "Keys read" note'
    return re.findall(r'C\(([a-z_.]+)\)', note.group(1))


def test_the_query_doc_fragment_names_the_declared_keys():
    assert documented_keys(ModuleDocFragment.DOCUMENTATION) == list(QUERY_DEVICE_KEYS)
    assert set(documented_keys(ModuleDocFragment.TEST)) <= set(QUERY_DEVICE_KEYS)
    for key in QUERY_DEVICE_KEYS:
        top, _dot, field = key.partition('.')
        assert top in FULL_DEVICE_KEYS or top in CAPABILITY_KEYS, key
        if top in CAPABILITY_FIELDS:
            assert field in CAPABILITY_FIELDS[top], key
        elif field:
            assert field in ('eligible', 'reasons'), key  # passthrough's keys


def test_compact_facts_say_which_devices_they_list(sample_facts):
    assert compact_listing(sample_facts('full')) is None
    assert compact_listing(sample_facts('full')['devices']) is None
    compact = sample_facts('compact')
    names = set(device['name'] for device in compact['devices'])
    assert 'pci_0000_00_01_0' not in names and 'usb_usb1' not in names
    assert compact_listing(compact) == CompactListing(names, every_pci=True)
    assert compact_listing(compact['devices']) == CompactListing(names, every_pci=False)  # no iommu_groups there
    assert compact_listing(dict(compact, iommu_groups=[])) == CompactListing(names, every_pci=False)
    assert compact_listing({'devices': []}) is None and compact_listing('junk') is None
