# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mappings: device mappings checked against the sample workstation's facts."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import compact_listing
from ansible_collections.virt.hostdev.plugins.module_utils.model.mappings import (
    PROPERTIES,
    MappingError,
    MappingRefused,
    MappingUnknown,
    checked_ignore,
    facts_model,
    host_entries,
    mapping_drift,
    resolve_mappings,
)

from fixtures.mdev_records import MTTY, mdev_model, mdevs
from fixtures.mdev_records import held as mdev_held

HOST = 'ws1'
# The sample host's RTX A4000 as its facts give it.
GPU = {'address': '0000:01:00.0', 'vendor_id': '0x10de', 'product_id': '0x24b0',
       'subsystem_vendor_id': '0x10de', 'subsystem_id': '0x14ad', 'iommu_group': 1, 'driver': 'nvidia'}
NIC = {'address': '02:00.0', 'vendor_id': '8086', 'product_id': '15f3', 'iommu_group': 6, 'driver': 'igc'}


def table(**mappings):
    """{name: {'hosts': {HOST: entry}}} for each name=entry."""
    return dict((name.replace('_', '-'), {'hosts': {HOST: entry}}) for name, entry in mappings.items())


@pytest.fixture(scope='module')
def facts(sample_sysfs):
    model, _used, _warnings = read_host('sysfs', 'qemu:///system', sample_sysfs)
    return model.facts('sysfs')


@pytest.fixture(scope='module')
def model(facts):
    return facts_model(facts)


def test_a_matching_host_has_no_drift(model):
    assert mapping_drift(model, table(gpu=GPU, nic=NIC), HOST) == []
    assert resolve_mappings(model, table(gpu=GPU, nic=NIC), ['gpu', 'nic'], HOST) == \
        ['pci_0000_01_00_0', 'pci_0000_02_00_0']


@pytest.mark.parametrize('prop, wrong, found', [
    ('vendor_id', '0x1002', '0x10de'),
    ('product_id', '26b9', '0x24b0'),
    ('subsystem_vendor_id', '0x1028', '0x10de'),
    ('subsystem_id', '1851', '0x14ad'),
    ('iommu_group', 12, 1),
    ('driver', 'vfio-pci', 'nvidia'),
])
def test_each_property_drifts_alone(model, prop, wrong, found):
    entry = dict(GPU, **{prop: wrong})
    expected = wrong if prop in ('iommu_group', 'driver') else '0x%s' % wrong[-4:]
    assert mapping_drift(model, table(gpu=entry), HOST) == [
        {'host': HOST, 'mapping': 'gpu', 'property': prop, 'expected': expected, 'found': found}]


def test_no_device_at_the_address_is_drift_of_the_address(model):
    entry = dict(GPU, address='41:00.0')
    assert mapping_drift(model, table(gpu=entry), HOST) == [
        {'host': HOST, 'mapping': 'gpu', 'property': 'address', 'expected': '0000:41:00.0', 'found': None}]


@pytest.mark.parametrize('spelling', ['10de', '0x10de', '0x10DE', '10DE', ' 0X10de '])
def test_ids_compare_in_any_spelling(model, spelling):
    entry = dict(GPU, vendor_id=spelling, subsystem_vendor_id=spelling)
    assert mapping_drift(model, table(gpu=entry), HOST) == []
    assert mapping_drift(model, table(gpu=dict(entry, product_id=spelling)), HOST)[0]['expected'] == '0x10de'


def test_group_and_address_in_other_spellings(model):
    entry = dict(GPU, address='0000:01:00.0', iommu_group='1')
    assert mapping_drift(model, table(gpu=entry), HOST) == []
    assert mapping_drift(model, table(gpu=dict(GPU, address='1:0.0')), HOST) == []


def test_a_host_without_an_entry_is_not_mapped_not_drifted(model):
    mappings = {'gpu': {'hosts': {'hv2': dict(GPU, address='41:00.0')}}}
    assert mapping_drift(model, mappings, HOST) == []
    assert host_entries(mappings, HOST) == ([], ['gpu'])
    with pytest.raises(MappingRefused, match=r'^refusing device mappings on ws1: host ws1 is not in mapping gpu '
                                             r'\(mapped hosts: hv2\)$') as refused:
        resolve_mappings(model, mappings, 'gpu', HOST)
    assert refused.value.result == {'drift': [], 'unmapped': ['gpu']}


def test_an_unreadable_property_is_drift(facts):
    devices = copy.deepcopy(facts['devices'])
    gpu = [device for device in devices if device['name'] == 'pci_0000_01_00_0'][0]
    gpu['pci']['subsystem_id'] = None
    gpu['pci']['iommu_group'] = gpu['iommu_group'] = None  # a PCI device's group is in both places
    gpu['driver'] = None
    drift = mapping_drift(facts_model(devices), table(gpu=GPU), HOST)
    assert [(item['property'], item['found']) for item in drift] == [
        ('subsystem_id', None), ('iommu_group', None), ('driver', None)]


def test_ids_of_the_host_compare_in_any_spelling_too(facts):
    # facts from a cache or another tool may spell the ids differently
    devices = copy.deepcopy(facts['devices'])
    gpu = [device for device in devices if device['name'] == 'pci_0000_01_00_0'][0]
    gpu['pci'].update(vendor_id='10DE', product_id='0x24B0', subsystem_id='14ad')
    assert mapping_drift(facts_model(devices), table(gpu=GPU), HOST) == []
    gpu['pci']['product_id'] = '2531'
    assert mapping_drift(facts_model(devices), table(gpu=GPU), HOST)[0]['found'] == '0x2531'


def test_mapping_level_properties_are_every_hosts_defaults(model):
    mappings = {'gpu': {'description': 'RTX A4000', 'vendor_id': '10de', 'product_id': '24b0', 'iommu_group': 7,
                        'hosts': {HOST: {'address': '01:00.0', 'iommu_group': 1}, 'hv2': {'address': '41:00.0'}}}}
    assert mapping_drift(model, mappings, HOST) == []
    assert mapping_drift(model, mappings, 'hv2') == [
        {'host': 'hv2', 'mapping': 'gpu', 'property': 'address', 'expected': '0000:41:00.0', 'found': None}]
    mappings['gpu']['product_id'] = '2531'
    assert [item['property'] for item in mapping_drift(model, mappings, HOST)] == ['product_id']


def test_drift_is_sorted_by_mapping_then_property(model):
    mappings = table(nic=dict(NIC, driver='vfio-pci', vendor_id='1af4'), gpu=dict(GPU, iommu_group=3, product_id='1'))
    assert [(item['mapping'], item['property']) for item in mapping_drift(model, mappings, HOST)] == [
        ('gpu', 'product_id'), ('gpu', 'iommu_group'), ('nic', 'vendor_id'), ('nic', 'driver')]
    assert list(PROPERTIES) == ['vendor_id', 'product_id', 'subsystem_vendor_id', 'subsystem_id', 'iommu_group',
                                'driver']


def test_names_select_mappings(model):
    mappings = table(gpu=dict(GPU, driver='vfio-pci'), nic=NIC)
    assert mapping_drift(model, mappings, HOST, 'nic') == []
    assert [item['mapping'] for item in mapping_drift(model, mappings, HOST, ['gpu', 'nic'])] == ['gpu']
    with pytest.raises(MappingError, match=r"no device mapping named gpu-l40s \(mappings: gpu, nic\)"):
        mapping_drift(model, mappings, HOST, 'gpu-l40s')


def test_ignored_properties_are_not_compared(model):
    mappings = table(gpu=dict(GPU, driver='vfio-pci'))
    assert mapping_drift(model, mappings, HOST, ignore=('driver',)) == []
    assert resolve_mappings(model, mappings, 'gpu', HOST, ignore=('driver',)) == ['pci_0000_01_00_0']


def test_usb_by_vendor_product_and_by_bus_device(model):
    mappings = table(keyboard={'address': '046D:C31C'},
                     keyboard_port={'address': '1.3', 'vendor_id': '046d', 'product_id': 'c31c'})
    assert mapping_drift(model, mappings, HOST) == []
    assert resolve_mappings(model, mappings, ['keyboard', 'keyboard-port'], HOST) == ['usb_1_3']
    moved = table(keyboard_port={'address': '1.4', 'vendor_id': '046d', 'product_id': 'c31c'})
    assert mapping_drift(model, moved, HOST) == [
        {'host': HOST, 'mapping': 'keyboard-port', 'property': 'address', 'expected': '1.4', 'found': None}]
    other = table(keyboard_port={'address': '1.3', 'vendor_id': '046d', 'product_id': 'c52b'})
    assert mapping_drift(model, other, HOST) == [
        {'host': HOST, 'mapping': 'keyboard-port', 'property': 'product_id', 'expected': '0xc52b', 'found': '0xc31c'}]


def test_usb_vendor_product_matching_two_devices_is_drift(facts):
    devices = copy.deepcopy(facts['devices'])
    twin = copy.deepcopy([device for device in devices if device['name'] == 'usb_1_3'][0])
    twin['name'] = 'usb_1_4'
    twin['usb']['device'] = 4
    drift = mapping_drift(facts_model(devices + [twin]), table(keyboard={'address': '046d:c31c'}), HOST)
    assert drift == [{'host': HOST, 'mapping': 'keyboard', 'property': 'address', 'expected': '046d:c31c',
                      'found': 'usb_1_3, usb_1_4'}]


def test_refusal_names_every_drift_and_every_unmapped_mapping(model):
    mappings = table(gpu=dict(GPU, iommu_group=12, driver='vfio-pci'), nic=dict(NIC, address='41:00.0'))
    mappings['token'] = {'hosts': {'hv2': {'address': '1.3', 'vendor_id': '1050', 'product_id': '0407'}}}
    with pytest.raises(MappingRefused) as refused:
        resolve_mappings(model, mappings, ['gpu', 'nic', 'token'], HOST)
    assert refused.value.message == (
        'refusing device mappings on ws1: host ws1 is not in mapping token (mapped hosts: hv2); '
        'mapping gpu on ws1: iommu_group expected 12, found 1; '
        'mapping gpu on ws1: driver expected vfio-pci, found nvidia; '
        'mapping nic on ws1: no device at 0000:41:00.0')
    assert [item['property'] for item in refused.value.result['drift']] == ['iommu_group', 'driver', 'address']
    assert refused.value.result['unmapped'] == ['token']


def test_resolving_several_mappings_of_one_device_gives_it_once(model):
    assert resolve_mappings(model, table(gpu=GPU, gpu_again=GPU), ['gpu', 'gpu-again', 'gpu'], HOST) == \
        ['pci_0000_01_00_0']


@pytest.mark.parametrize('entry, message', [
    (dict(GPU, vendor='NVIDIA'), "mapping gpu, host ws1: unknown property vendor (known: address, vendor_id, "),
    (dict(GPU, address='pci_0000_01_00_0'), 'address pci_0000_01_00_0 is not a PCI address'),
    (dict((key, value) for key, value in GPU.items() if key != 'address'),
     "mapping gpu, host ws1: address is missing: give the device's address, as a PCI address (0000:41:00.0), "
     "a USB vendor:product (046d:c31c) or a USB bus.device (1.3)"),
    (dict((key, value) for key, value in GPU.items() if key != 'product_id'),
     'mapping gpu, host ws1: product_id is required'),
    (dict(GPU, vendor_id=8086), 'vendor_id is the number 8086, not an id: quote it'),
    (dict(GPU, vendor_id='10dex'), 'vendor_id 10dex is not a 16-bit hexadecimal id'),
    (dict(GPU, subsystem_id='0x123456'), 'subsystem_id 0x123456 is not a 16-bit hexadecimal id'),
    (dict(GPU, iommu_group=True), 'iommu_group True is not a group number'),
    (dict(GPU, iommu_group=-1), 'iommu_group -1 is not a group number'),
    (dict(GPU, driver=''), 'driver  is not a driver name'),
    ({'address': '1.3', 'vendor_id': '046d', 'product_id': 'c31c', 'iommu_group': 3},
     'iommu_group does not apply to the USB device at 1.3'),
    ({'address': '046d:c31c', 'vendor_id': '1d6b'}, 'vendor_id and product_id contradict the address 046d:c31c'),
    # a list is one entry per device (a pool), each a dict
    (['0000:01:00.0'], "the entry must be a dict of properties, not the string '0000:01:00.0'"),
])
def test_a_bad_entry_is_an_error_naming_it(model, entry, message):
    with pytest.raises(MappingError, match='^bad device mappings: ') as caught:
        mapping_drift(model, table(gpu=entry), HOST)
    assert message in caught.value.message


def test_every_problem_of_the_table_is_reported_at_once(model):
    mappings = {'gpu': {'vendor': 'x', 'hosts': {HOST: dict(GPU, foo=1, iommu_group='one'),
                                                 'hv2': {'address': '41:00.0'}}},
                'nic': {'hosts': ['hv1']}}
    with pytest.raises(MappingError) as caught:
        mapping_drift(model, mappings, HOST)
    assert caught.value.message == (
        'bad device mappings: mapping gpu: unknown property vendor (known: description, hosts, address, vendor_id, '
        'product_id, subsystem_vendor_id, subsystem_id, iommu_group, driver, mdev_type, parent); '
        'mapping gpu, host hv2: vendor_id is required; mapping gpu, host hv2: product_id is required; '
        'mapping gpu, host ws1: unknown property foo (known: address, vendor_id, product_id, subsystem_vendor_id, '
        'subsystem_id, iommu_group, driver, mdev_type, parent); mapping gpu, host ws1: iommu_group one is not a group number; '
        'mapping nic: hosts must be a dict of host names, not a list')


@pytest.mark.parametrize('mappings, names, message', [
    (['gpu'], None, 'the device mappings must be a dict of mapping names, not a list'),
    ({'gpu': 'hv1'}, None, "mapping gpu must be a dict with hosts, not the string 'hv1'"),
    ({'gpu': {'hosts': {}}}, [], 'mapping names must be a name or a list of names, not an empty list'),
    ({'gpu': {'hosts': {}}}, 3, 'mapping names must be a name or a list of names, not the number 3'),
])
def test_a_bad_table_or_request_is_an_error(model, mappings, names, message):
    with pytest.raises(MappingError) as caught:
        mapping_drift(model, mappings, HOST, names)
    assert message in caught.value.message


def test_an_empty_or_missing_table_has_no_drift(model):
    assert mapping_drift(model, {}, HOST) == []
    assert mapping_drift(model, None, HOST) == []
    assert mapping_drift(model, {'gpu': {'hosts': None}}, HOST) == []


def test_resolving_needs_names(model):
    with pytest.raises(MappingError, match='name the mappings to resolve'):
        resolve_mappings(model, table(gpu=GPU), None, HOST)


def test_the_model_comes_from_the_facts_or_their_devices(facts):
    assert facts_model(facts).names() == facts_model(facts['devices']).names()
    assert 'pci_0000_01_00_0' in facts_model(facts)
    for bad in ({'source': 'sysfs'}, 'facts', [{'type': 'pci'}]):
        with pytest.raises(MappingError, match='expected the facts of virt.hostdev.hostdev_facts'):
            facts_model(bad)


def test_an_address_yaml_read_as_a_number_says_to_quote_it(model):
    """An unquoted bus.device 1.3 is the float 1.3 in YAML."""
    with pytest.raises(MappingError) as caught:
        mapping_drift(model, table(usb={'address': 1.3, 'vendor_id': '046d', 'product_id': 'c31c'}), HOST)
    assert caught.value.message == (
        'bad device mappings: mapping usb, host ws1: address is the number 1.3, not a PCI address (0000:41:00.0), '
        'a USB vendor:product (046d:c31c) or a USB bus.device (1.3): quote it (YAML reads an unquoted 1.3 as a '
        'number)')


def test_a_mapped_device_compact_facts_leave_out_is_unknown(sample_facts):
    compact = sample_facts('compact')
    port = table(port={'address': '00:01.0', 'vendor_id': '8086', 'product_id': '460d'})
    listing = compact_listing(compact)
    with pytest.raises(MappingUnknown, match='^mapping port on ws1: compact facts do not list the device at '
                                             '0000:00:01.0 '):
        mapping_drift(facts_model(compact), port, HOST, listed=listing)
    with pytest.raises(MappingRefused, match='mapping port on ws1: compact facts do not list'):
        resolve_mappings(facts_model(compact), port, 'port', HOST, listed=listing)
    # Without what the facts list, the bridge the model makes up of iommu_groups has no ids: false drift.
    assert [item['property'] for item in mapping_drift(facts_model(compact), port, HOST)] == [
        'vendor_id', 'product_id']


@pytest.mark.parametrize('ignore, expected', [
    (None, ()), ('driver', ('driver',)), (['driver', 'iommu_group'], ('driver', 'iommu_group')), ((), ())])
def test_ignore_is_a_property_or_a_list_of_them(ignore, expected):
    assert checked_ignore(ignore) == expected


# -- entries naming an mdev type (fixtures.mdev_records) ----------------------------------------------------

def test_an_mdev_type_entry_is_read_with_its_parent_as_a_node_device_name():
    table = {'vgpu': {'description': 'GVT-g', 'hosts': {HOST: {'mdev_type': 'i915-GVTg_V5_4', 'parent': '00:02.0'},
                                                        'hv2': {'mdev_type': ' mtty-2 '}}}}
    entries, _unmapped = host_entries(table, HOST)
    assert [(entry.kind, entry.address, entry.parent) for entry in entries] == [
        ('mdev', 'i915-GVTg_V5_4', 'pci_0000_00_02_0')]
    assert [(entry.address, entry.parent) for entry in host_entries(table, 'hv2')[0]] == [('mtty-2', None)]


@pytest.mark.parametrize('entry, words', [
    ({'mdev_type': 'mtty-2', 'address': '00:02.0'}, 'address does not apply to an entry with mdev_type'),
    ({'mdev_type': 'mtty-2', 'vendor_id': '8086'}, 'vendor_id does not apply to an entry with mdev_type'),
    ({'mdev_type': ''}, 'mdev_type must be an mdev type id such as nvidia-35, not'),
    ({'parent': 'mtty_mtty'}, 'mdev_type must be an mdev type id such as nvidia-35, not null'),
    ({'mdev_type': 'mtty-2', 'parent': 7}, "parent must be the parent's node device name or PCI address, not the number 7"),
])
def test_bad_mdev_type_entries_are_refused(entry, words):
    with pytest.raises(MappingError) as caught:
        host_entries({'serial': {'hosts': {HOST: entry}}}, HOST)
    assert words in caught.value.message


def mdev_table(**entry):
    return {'serial': {'hosts': {HOST: entry}}}


def test_mdev_entry_drift_parent_gone_type_missing_and_no_free_mdev():
    model = mdev_model()
    assert mapping_drift(model, mdev_table(mdev_type='mtty-2', parent='mtty_mtty'), HOST) == []
    assert mapping_drift(model, mdev_table(mdev_type='mtty-2', parent='0000:41:00.0'), HOST) == [
        {'host': HOST, 'mapping': 'serial', 'property': 'parent', 'expected': 'pci_0000_41_00_0', 'found': None}]
    assert mapping_drift(model, mdev_table(mdev_type='nvidia-35'), HOST) == [
        {'host': HOST, 'mapping': 'serial', 'property': 'mdev_type', 'expected': 'nvidia-35', 'found': None}]
    # Offered by its parent, none made yet: the type is there, no mdev of it is free.
    unmade = mdev_model(mdevs()[:4])
    assert [item['property'] for item in mapping_drift(unmade, mdev_table(mdev_type='mtty-1'), HOST)] == ['free_mdevs']
    held = mdev_model(mdevs(inactive=[MTTY[3]]), domains=[mdev_held('a', *MTTY[:3])])
    assert mapping_drift(held, mdev_table(mdev_type='mtty-2'), HOST) == [
        {'host': HOST, 'mapping': 'serial', 'property': 'free_mdevs', 'expected': 'at least 1', 'found': 0}]


def test_an_mdev_entry_resolves_only_as_a_pool():
    model = mdev_model()
    assert resolve_mappings(model, mdev_table(mdev_type='mtty-2'), 'serial', HOST, pools=True) == sorted(MTTY)
    with pytest.raises(MappingRefused) as caught:
        resolve_mappings(model, mdev_table(mdev_type='mtty-2'), 'serial', HOST)
    assert 'names the mdevs of type mtty-2, a pool: ask for some with pool: {mapping: serial' in caught.value.message
    with pytest.raises(MappingRefused) as caught:
        resolve_mappings(model, mdev_table(mdev_type='nvidia-35'), 'serial', HOST, pools=True)
    assert 'no parent offers mdev type nvidia-35 and none of it is defined' in caught.value.message
