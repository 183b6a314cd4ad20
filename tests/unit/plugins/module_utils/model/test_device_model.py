"""The pure device model on hand-built records: Kimchi's semantics and ours; its facts, full and
compact, on hand-built records, the sample workstation and a synthetic 5,000-device host."""

import json

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import assignability
from ansible_collections.virt.hostdev.plugins.module_utils.errors import (
    DeviceReferenceError,
    UnknownDeviceError,
    UnknownKindError,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import (
    eligibility,
    is_assignable_type,
    is_display,
    is_pci_bridge,
    is_pci_endpoint,
    is_pci_kind,
    pci_slot,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import (
    COMPACT_CAPABILITY_KEYS,
    COMPACT_DEVICE_KEYS,
    facts_eligible,
    FACTS_MODES,
    facts_record,
    in_compact_facts,
    iommu_hint,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.pci_classes import (
    parse_pci_class,
    pci_class_name,
    PCI_CLASS_NAMES,
    pci_kind_prefixes,
    PCI_KINDS,
    pci_subclass_name,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import parse_pci_address, pci_name
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from fixtures.synthetic_host import synthetic_sysfs


def pci(address, pci_class, group=None, parent='computer', driver=None, boot_vga=None, vendor='0x8086'):
    domain, bus, slot, function = parse_pci_address(address)
    return {
        'name': pci_name(domain, bus, slot, function), 'type': 'pci', 'parent': parent,
        'path': None, 'driver': driver,
        'pci': {'address': address, 'domain': domain, 'bus': bus, 'slot': slot, 'function': function,
                'class': pci_class, 'vendor_id': vendor, 'product_id': '0x0001',
                'iommu_group': group, 'boot_vga': boot_vga},
    }


def usb(name, parent, bus, device, vendor_id='0x046d', product_id='0xc31c', usb_class='0x00'):
    return {'name': name, 'type': 'usb_device', 'parent': parent, 'driver': 'usb',
            'usb': {'bus': bus, 'device': device, 'vendor_id': vendor_id, 'product_id': product_id,
                    'class': usb_class}}


def plain(name, device_type, parent):
    return {'name': name, 'type': device_type, 'parent': parent}


def scsi(host, bus, target, lun, parent):
    name = 'scsi_%d_%d_%d_%d' % (host, bus, target, lun)
    return {'name': name, 'type': 'scsi', 'parent': parent,
            'scsi': {'host': host, 'bus': bus, 'target': target, 'lun': lun, 'type': 'disk'}}


def workstation(groups=True):
    """A small host: GPU+audio with their root port, a bridged NIC pair, xHCI, SATA."""
    def g(number):
        return number if groups else None
    return [
        plain('computer', 'system', None),
        pci('0000:00:01.0', '0x060400', g(1)),
        pci('0000:01:00.0', '0x030000', g(1), parent='pci_0000_00_01_0', driver='nvidia'),
        pci('0000:01:00.1', '0x040300', g(1), parent='pci_0000_00_01_0', driver='snd_hda_intel'),
        pci('0000:00:1c.4', '0x060400', g(7)),
        pci('0000:03:00.0', '0x060401', g(8), parent='pci_0000_00_1c_4'),
        pci('0000:04:00.0', '0x020000', g(8), parent='pci_0000_03_00_0', driver='e1000'),
        pci('0000:04:01.0', '0x020000', g(8), parent='pci_0000_03_00_0', driver='e1000'),
        plain('net_enp4s0_00_1b_21_00_00_40', 'net', 'pci_0000_04_00_0'),
        plain('net_enp4s1_00_1b_21_00_00_41', 'net', 'pci_0000_04_01_0'),
        pci('0000:00:14.0', '0x0c0330', g(3), driver='xhci_hcd'),
        usb('usb_usb1', 'pci_0000_00_14_0', 1, 1, vendor_id='0x1d6b', product_id='0x0002', usb_class='0x09'),
        usb('usb_1_3', 'usb_usb1', 1, 3),
        plain('usb_1_3_1_0', 'usb', 'usb_1_3'),
        pci('0000:00:17.0', '0x010601', g(4), driver='ahci'),
        plain('scsi_host0', 'scsi_host', 'pci_0000_00_17_0'),
        plain('scsi_target0_0_0', 'scsi_target', 'scsi_host0'),
        scsi(0, 0, 0, 0, 'scsi_target0_0_0'),
        plain('block_sda', 'storage', 'scsi_0_0_0_0'),
    ]


# -- Kimchi: capability filter, passthrough filter, sorted names -------------

def test_no_filter_lists_every_device_sorted_by_name():
    records = list(reversed(workstation()))
    model = HostModel(records)
    assert model.filter_names() == sorted(record['name'] for record in records)


def test_capability_filter_keeps_only_that_type():
    model = HostModel(workstation())
    assert model.filter_names(cap='usb_device') == ['usb_1_3', 'usb_usb1']
    assert model.filter_names(cap='scsi') == ['scsi_0_0_0_0']


def test_capability_filter_matches_sub_capabilities():
    host = dict(plain('scsi_host5', 'scsi_host', 'computer'), capabilities=['fc_host', 'vports'])
    model = HostModel([plain('computer', 'system', None), host])
    assert model.filter_names(cap='fc_host') == ['scsi_host5']


def test_passthrough_filter_keeps_eligible_devices_only():
    model = HostModel(workstation())
    assert model.filter_names(passthrough=True) == [
        'pci_0000_00_14_0', 'pci_0000_00_17_0', 'pci_0000_01_00_0', 'pci_0000_01_00_1',
        'pci_0000_04_00_0', 'pci_0000_04_01_0', 'scsi_0_0_0_0', 'usb_1_3']
    assert model.filter_names(passthrough=True) == model.eligible_names()


def test_passthrough_false_is_no_filter_as_in_kimchi():
    model = HostModel(workstation())
    assert model.filter_names(passthrough=False) == model.filter_names()


def test_capability_and_passthrough_filters_combine():
    model = HostModel(workstation())
    assert model.filter_names(cap='usb_device', passthrough=True) == ['usb_1_3']


# -- Kimchi: affected by -------------------------------------------------------

def test_affected_by_is_the_group_with_the_members_children():
    model = HostModel(workstation())
    assert model.affected_by('pci_0000_04_00_0') == [
        'net_enp4s0_00_1b_21_00_00_40', 'net_enp4s1_00_1b_21_00_00_41',
        'pci_0000_03_00_0', 'pci_0000_04_01_0']


def test_affected_by_includes_the_group_parent_bridge_and_sibling_function():
    model = HostModel(workstation())
    assert model.affected_by('pci_0000_01_00_0') == ['pci_0000_00_01_0', 'pci_0000_01_00_1']


def test_affected_by_a_controller_includes_everything_below_it():
    model = HostModel(workstation())
    assert model.affected_by('pci_0000_00_17_0') == [
        'block_sda', 'scsi_0_0_0_0', 'scsi_host0', 'scsi_target0_0_0']


def test_affected_by_falls_back_to_children_without_iommu_groups():
    model = HostModel(workstation(groups=False))
    assert model.affected_by('pci_0000_04_00_0') == ['net_enp4s0_00_1b_21_00_00_40']
    assert model.affected_by('pci_0000_01_00_0') == []


def test_affected_by_usb_and_scsi_is_their_children_only():
    # They inherit the controller's group, but groups do not apply to USB or SCSI.
    model = HostModel(workstation())
    assert model.iommu_group('usb_1_3') == 3
    assert model.affected_by('usb_1_3') == ['usb_1_3_1_0']
    assert model.affected_by('scsi_0_0_0_0') == ['block_sda']


def test_affected_by_unknown_device_names_it():
    model = HostModel(workstation())
    with pytest.raises(UnknownDeviceError, match='pci_0000_09_00_0'):
        model.affected_by('pci_0000_09_00_0')


def test_affected_by_never_lists_the_device_itself():
    model = HostModel(workstation())
    for name in model.names():
        assert name not in model.affected_by(name)


# -- groups and the tree ---------------------------------------------------------

def test_children_inherit_the_nearest_ancestor_group():
    model = HostModel(workstation())
    assert model.iommu_group('net_enp4s0_00_1b_21_00_00_40') == 8
    assert model.iommu_group('block_sda') == 4
    assert model.iommu_group('computer') is None


def test_own_group_wins_over_the_parent_group():
    model = HostModel(workstation())
    assert model.iommu_group('pci_0000_03_00_0') == 8
    assert model.iommu_group('pci_0000_00_1c_4') == 7


def test_iommu_groups_list_the_kernel_members_only():
    model = HostModel(workstation())
    assert model.iommu_groups()[8] == ['pci_0000_03_00_0', 'pci_0000_04_00_0', 'pci_0000_04_01_0']
    assert sorted(model.iommu_groups()) == [1, 3, 4, 7, 8]


def test_stale_parent_is_listed_with_a_warning_and_inherits_nothing():
    records = workstation() + [plain('scsi_target6_0_0', 'scsi_target', 'scsi_host6')]
    model = HostModel(records)
    assert 'scsi_target6_0_0' in model.filter_names()
    assert model.iommu_group('scsi_target6_0_0') is None
    assert model.affected_by('scsi_target6_0_0') == []
    assert any('scsi_host6' in warning and 'scsi_target6_0_0' in warning for warning in model.warnings)


def test_parent_cycle_ends_with_a_warning():
    records = [plain('a', 'net', 'b'), plain('b', 'net', 'a')]
    model = HostModel(records)
    assert model.iommu_group('a') is None
    assert any('cycle' in warning for warning in model.warnings)


def test_duplicate_names_keep_the_first_report():
    first = pci('0000:00:02.0', '0x030200', 2)
    second = pci('0000:00:02.0', '0x060000', 2)
    model = HostModel([first, second])
    assert model.device('pci_0000_00_02_0')['pci']['class'] == '0x030200'
    assert any('twice' in warning for warning in model.warnings)


def test_deep_chains_do_not_recurse():
    chain = [plain('dev0', 'net', None)]
    chain += [plain('dev%d' % index, 'net', 'dev%d' % (index - 1)) for index in range(1, 20000)]
    chain[0] = pci('0000:00:03.0', '0x020000', 5)
    chain[1]['parent'] = 'pci_0000_00_03_0'
    model = HostModel(chain)
    assert model.iommu_group('dev19999') == 5
    assert len(model.descendants('pci_0000_00_03_0')) == 19999


# -- eligibility -------------------------------------------------------------------

@pytest.mark.parametrize('pci_class, reason', [
    ('0x060000', 'pci_bridge'),
    ('0x060400', 'pci_bridge'),
    ('0x060100', 'pci_bridge'),
    ('0x050000', 'pci_memory_controller'),
    ('0x0b4000', 'pci_processor'),
    ('0x0c0500', 'pci_smbus'),
    (None, 'pci_class_unknown'),
])
def test_host_critical_pci_classes_are_not_eligible(pci_class, reason):
    assert eligibility(pci('0000:00:1f.4', pci_class)) == (False, [reason])


@pytest.mark.parametrize('pci_class', ['0x030000', '0x030200', '0x038000', '0x020000', '0x0c0330', '0x0c8000'])
def test_display_and_other_endpoints_are_eligible(pci_class):
    assert eligibility(pci('0000:01:00.0', pci_class)) == (True, [])


@pytest.mark.parametrize('pci_class, parsed', [
    ('0x030200', (0x03, 0x02)), ('0x0c0500', (0x0c, 0x05)), ('060400', (0x06, 0x04)), ('0x000000', (0, 0)),
    (None, None)])
def test_parse_pci_class_gives_base_class_and_subclass(pci_class, parsed):
    assert parse_pci_class(pci_class) == parsed


@pytest.mark.parametrize('pci_class', ['0xgpu', 'bogus', '0xffffffffffffffffffff', '0x1000000', '0x', ''])
def test_an_unreadable_or_too_wide_pci_class_is_unknown(pci_class):
    """Junk in sysfs or libvirt's XML must never make a device look like an eligible endpoint."""
    assert parse_pci_class(pci_class) is None
    assert eligibility(pci('0000:01:00.0', pci_class)) == (False, ['pci_class_unknown'])


@pytest.mark.parametrize('record, bridge, endpoint, display', [
    (pci('0000:00:01.0', '0x060400'), True, False, False),
    (pci('0000:03:00.0', '0x060401'), True, False, False),
    (pci('0000:01:00.0', '0x030000'), False, True, True),
    (pci('0000:00:02.0', '0x038000'), False, True, True),
    (pci('0000:01:00.1', '0x040300'), False, True, False),
    (pci('0000:00:1f.4', '0x0c0500'), False, True, False),
    (pci('0000:00:1f.5', None), False, True, False),
    (pci('0000:00:1f.6', 'bogus'), False, True, False),  # unreadable: no answer but "not"
    (dict(usb('usb_1_3', 'usb_usb1', 1, 3), pci={'class': '0x060400'}), False, False, False),
    (plain('net_enp4s0', 'net', 'pci_0000_04_00_0'), False, False, False),
])
def test_pci_predicates(record, bridge, endpoint, display):
    assert (is_pci_bridge(record), is_pci_endpoint(record), is_display(record)) == (bridge, endpoint, display)


@pytest.mark.parametrize('device_type, assignable', [
    ('pci', True), ('usb_device', True), ('scsi', True), ('usb', False), ('net', False), ('storage', False),
    ('scsi_host', False), (None, False)])
def test_is_assignable_type(device_type, assignable):
    assert is_assignable_type({'name': 'x', 'type': device_type}) is assignable


def test_boot_vga_is_not_eligible():
    assert eligibility(pci('0000:01:00.0', '0x030000', boot_vga=True)) == (False, ['boot_vga'])
    assert eligibility(pci('0000:01:00.0', '0x030000', boot_vga=False)) == (True, [])


def test_usb_hubs_and_root_hubs_are_not_eligible():
    root = usb('usb_usb1', 'computer', 1, 1, vendor_id='0x1d6b', usb_class='0x09')
    hub = usb('usb_1_2', 'usb_usb1', 1, 2, vendor_id='0x05e3', usb_class='0x09')
    assert eligibility(root) == (False, ['usb_root_hub', 'usb_hub'])
    assert eligibility(hub) == (False, ['usb_hub'])
    assert eligibility(usb('usb_1_3', 'usb_usb1', 1, 3)) == (True, [])


@pytest.mark.parametrize('device_type', ['net', 'storage', 'usb', 'scsi_host', 'scsi_target', 'system', 'drm'])
def test_other_types_are_not_assignable(device_type):
    assert eligibility(plain('x', device_type, None)) == (False, ['type_not_assignable'])


# -- references ---------------------------------------------------------------------

@pytest.mark.parametrize('reference', ['pci_0000_04_01_0', '0000:04:01.0', '04:01.0', ' 04:01.0 ', '0000:04:01.0'.upper()])
def test_pci_references_resolve(reference):
    assert HostModel(workstation()).resolve_reference(reference) == 'pci_0000_04_01_0'


def test_usb_references_resolve():
    model = HostModel(workstation())
    assert model.resolve_reference('046d:c31c') == 'usb_1_3'
    assert model.resolve_reference('1.3') == 'usb_1_3'


def test_ambiguous_usb_reference_names_the_candidates():
    model = HostModel(workstation() + [usb('usb_1_4', 'usb_usb1', 1, 4)])
    with pytest.raises(DeviceReferenceError, match='ambiguous.*usb_1_3, usb_1_4'):
        model.resolve_reference('046d:c31c')
    assert model.resolve_reference('1.4') == 'usb_1_4'


@pytest.mark.parametrize('reference, message', [
    ('0000:09:00.0', 'no PCI device at address 0000:09:00.0'),
    ('dead:beef', 'no USB device with vendor:product dead:beef'),
    ('7.7', 'no USB device at bus.device 7.7'),
    ('enp4s0', "'enp4s0' is not a node device name.*similar names: net_enp4s0_00_1b_21_00_00_40"),
])
def test_unknown_references_fail_naming_them(reference, message):
    with pytest.raises(DeviceReferenceError, match=message):
        HostModel(workstation()).resolve_reference(reference)


# -- domains ------------------------------------------------------------------------

def test_assigned_to_matches_domain_sources_by_identity():
    domains = [
        {'name': 'web', 'active': True, 'hostdevs': [{'type': 'pci', 'address': '0000:04:01.0'}]},
        {'name': 'builder', 'active': False, 'hostdevs': [
            {'type': 'pci', 'address': '0000:04:01.0'},
            {'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31c', 'bus': None, 'device': None},
            {'type': 'scsi', 'adapter': 'scsi_host0', 'bus': 0, 'target': 0, 'unit': 0}]},
        {'name': 'ghost', 'active': False, 'hostdevs': [{'type': 'pci', 'address': '0000:0a:00.0'}]},
    ]
    model = HostModel(workstation(), domains=domains)
    assert model.assigned_to('pci_0000_04_01_0') == ['builder', 'web']
    assert model.assigned_to('usb_1_3') == ['builder']
    assert model.assigned_to('scsi_0_0_0_0') == ['builder']
    assert model.assigned_to('pci_0000_04_00_0') == []


def test_usb_source_by_bus_and_device_matches_that_device_only():
    model = HostModel(workstation() + [usb('usb_1_4', 'usb_usb1', 1, 4)])
    source = {'type': 'usb', 'vendor_id': None, 'product_id': None, 'bus': 1, 'device': 4}
    assert model.match_source(source) == ['usb_1_4']


# -- facts --------------------------------------------------------------------------

def test_facts_carry_groups_eligibility_and_assignments():
    domains = [{'name': 'web', 'active': True, 'hostdevs': [{'type': 'pci', 'address': '0000:04:01.0'}]}]
    facts = HostModel(workstation(), domains=domains, iommu={'enabled': True, 'groups': 5}).facts('libvirt')
    assert facts['source'] == 'libvirt'
    assert [group['number'] for group in facts['iommu_groups']] == [1, 3, 4, 7, 8]
    by_name = dict((device['name'], device) for device in facts['devices'])
    assert [device['name'] for device in facts['devices']] == sorted(by_name)
    assert by_name['pci_0000_04_01_0']['assigned_to'] == ['web']
    assert by_name['pci_0000_00_01_0']['passthrough'] == {'eligible': False, 'reasons': ['pci_bridge']}
    assert by_name['net_enp4s0_00_1b_21_00_00_40']['iommu_group'] == 8
    assert by_name['pci_0000_03_00_0']['children'] == ['pci_0000_04_00_0', 'pci_0000_04_01_0']
    assert facts['domains'] == [{'name': 'web', 'active': True, 'hostdevs': ['pci_0000_04_01_0']}]
    assert facts['iommu']['hint'] is None


# -- compact facts ------------------------------------------------------------------

def blockers_of(model):
    return assignability(model)


def test_compact_facts_list_the_candidates_and_the_pci_endpoints():
    model = HostModel(workstation())
    compact = model.facts('libvirt', blockers_of(model), 'compact')
    names = [device['name'] for device in compact['devices']]
    assert names == model.facts_names('compact') == [
        'pci_0000_00_14_0', 'pci_0000_00_17_0', 'pci_0000_01_00_0', 'pci_0000_01_00_1',
        'pci_0000_04_00_0', 'pci_0000_04_01_0', 'scsi_0_0_0_0', 'usb_1_3']
    # no bridges, no root hub, no interfaces, disks, hosts, targets or the computer
    assert model.facts_names('full') == model.names()
    assert [in_compact_facts(model.device(name)) for name in ('pci_0000_00_01_0', 'usb_usb1', 'computer')] == \
        [False, False, False]


def test_a_pci_endpoint_that_is_not_eligible_is_listed_for_its_group():
    smbus = pci('0000:00:1f.4', '0x0c0500', 9, driver='i801_smbus')
    assert not eligibility(smbus)[0] and in_compact_facts(smbus)
    boot_gpu = pci('0000:00:02.0', '0x030000', 2, boot_vga=True)
    assert not eligibility(boot_gpu)[0] and in_compact_facts(boot_gpu)


def test_compact_devices_are_full_devices_cut_down():
    domains = [{'name': 'web', 'active': True, 'hostdevs': [{'type': 'pci', 'address': '0000:04:01.0'}]}]
    model = HostModel(workstation(), domains=domains, iommu={'enabled': True})
    blockers = blockers_of(model)
    full = dict((device['name'], device) for device in model.facts('libvirt', blockers)['devices'])
    for device in model.facts('libvirt', blockers, 'compact')['devices']:
        capability = [key for key in device if key in COMPACT_CAPABILITY_KEYS]
        assert tuple(key for key in device if key not in capability) == COMPACT_DEVICE_KEYS
        assert len(capability) == 1, device['name']
        whole = full[device['name']]
        for key in COMPACT_DEVICE_KEYS:
            assert device[key] == whole[key], (device['name'], key)
        key = capability[0]
        assert tuple(device[key]) == COMPACT_CAPABILITY_KEYS[key]
        assert device[key] == dict((field, whole[key].get(field)) for field in COMPACT_CAPABILITY_KEYS[key])
    assert full['pci_0000_04_01_0']['assigned_to'] == ['web']


def test_compact_top_level_is_the_full_one_but_eligible_and_kinds():
    model = HostModel(workstation(), iommu={'enabled': True})
    blockers = blockers_of(model)
    full = model.facts('sysfs', blockers)
    compact = model.facts('sysfs', blockers, 'compact')
    assert list(compact) == [key for key in full if key not in ('eligible', 'kinds')]
    for key in compact:
        if key not in ('devices', 'iommu_groups'):
            assert compact[key] == full[key], key
    # iommu_groups: the full ones but those that are one listed device alone (its iommu_group says it)
    listed = set(device['name'] for device in compact['devices'])
    alone = [group for group in full['iommu_groups'] if len(group['devices']) == 1 and group['devices'][0] in listed]
    assert alone and compact['iommu_groups'] and compact['iommu_groups'] == [
        group for group in full['iommu_groups'] if group not in alone]
    # eligibility is what the blockers say: a listed device is eligible unless not_eligible blocks it
    by_name = dict((device['name'], device) for device in compact['devices'])
    assert sorted(name for name, device in by_name.items() if facts_eligible(device)) == full['eligible']


def test_compact_facts_of_a_model_without_blockers_have_no_assignable():
    compact = HostModel(workstation()).facts('sysfs', mode='compact')
    assert 'assignable' not in compact and all('blockers' not in device for device in compact['devices'])


@pytest.mark.parametrize('mode', ['Summary', 'Full', '', None])
def test_an_unknown_facts_mode_is_refused(mode):
    model = HostModel(workstation())
    with pytest.raises(ValueError, match='facts mode must be one of full, compact'):
        model.facts('sysfs', mode=mode)
    with pytest.raises(ValueError):
        model.device_facts('usb_1_3', mode=mode)
    assert FACTS_MODES == ('full', 'compact', 'summary')


def test_facts_eligible_reads_passthrough_or_blockers():
    assert facts_eligible({'passthrough': {'eligible': True}, 'blockers': ['not_eligible']}) is True
    assert facts_eligible({'passthrough': {'eligible': False, 'reasons': ['pci_bridge']}}) is False
    assert facts_eligible({'blockers': ['group_not_viable']}) is True
    assert facts_eligible({'blockers': ['not_eligible', 'iommu_off']}) is False
    assert facts_eligible({'name': 'old'}) is False


# -- a model of the facts, full or compact ------------------------------------------------

@pytest.mark.parametrize('mode', ['full', 'compact'])
def test_the_model_of_the_facts_answers_as_the_hosts(mode):
    model = HostModel(workstation(), iommu={'enabled': True})
    facts = model.facts('sysfs', blockers_of(model), mode)
    rebuilt = HostModel.of_facts(facts['devices'], facts['iommu'], facts['iommu_groups'])
    assert rebuilt.iommu_groups() == model.iommu_groups()
    assert rebuilt.warnings == []
    for device in facts['devices']:
        name = device['name']
        assert rebuilt.iommu_group(name) == model.iommu_group(name), name
        assert rebuilt.group_endpoints(name) == model.group_endpoints(name), name
        assert is_pci_bridge(rebuilt.device(name)) == is_pci_bridge(model.device(name)), name
    for group in model.iommu_groups():
        assert rebuilt.group_bridges(group) == model.group_bridges(group), group


def test_bridges_compact_facts_leave_out_come_back_from_the_groups():
    model = HostModel(workstation())
    compact = model.facts('sysfs', blockers_of(model), 'compact')
    rebuilt = HostModel.of_facts(compact['devices'], iommu_groups=compact['iommu_groups'])
    assert sorted(set(rebuilt.names()) - set(model.facts_names('compact'))) == [
        'pci_0000_00_01_0', 'pci_0000_00_1c_4', 'pci_0000_03_00_0']
    assert rebuilt.device('pci_0000_00_01_0')['pci'] == {'address': '0000:00:01.0', 'class': '0x060000',
                                                         'iommu_group': 1}
    # without the groups, nothing is made up
    assert HostModel.of_facts(compact['devices']).names() == model.facts_names('compact')
    # junk groups are skipped
    junk = [None, {'number': 'one', 'devices': ['pci_0000_00_01_0']}, {'number': 2, 'devices': 'x'},
            {'number': 3, 'devices': ['computer', 7]}, {'number': True, 'devices': ['pci_0000_00_05_0']}]
    assert HostModel.of_facts(compact['devices'], iommu_groups=junk).names() == model.facts_names('compact')


def test_a_device_without_parents_keeps_the_group_it_states():
    keyboard = {'name': 'usb_1_3', 'type': 'usb_device', 'iommu_group': 3,
                'usb': {'bus': 1, 'device': 3, 'vendor_id': '0x046d', 'product_id': '0xc31c'}}
    xhci = {'name': 'pci_0000_00_14_0', 'type': 'pci', 'iommu_group': 3, 'pci': {'class': '0x0c0330'}}
    model = HostModel.of_facts([keyboard, xhci])
    assert model.iommu_group('usb_1_3') == 3 and model.taken_with_group(3) == ['pci_0000_00_14_0', 'usb_1_3']
    assert model.group_endpoints_in(model.iommu_group('usb_1_3')) == ['pci_0000_00_14_0']
    # a reader's record states no group: without a PCI ancestor it has none
    assert HostModel([plain('usb_1_3', 'usb_device', None)]).iommu_group('usb_1_3') is None
    # a PCI device never takes a stated group over its own (unknown) one
    assert HostModel([dict(pci('0000:00:14.0', '0x0c0330', None), iommu_group=3)]).iommu_group(
        'pci_0000_00_14_0') is None
    # with its parents listed, the parent's group wins over a stale stated one
    assert HostModel(workstation()).iommu_group('usb_1_3') == 3
    assert HostModel([dict(record, iommu_group=99) if record['name'] == 'usb_1_3' else record
                      for record in workstation()]).iommu_group('usb_1_3') == 3


def test_a_facts_record_is_a_copy_with_the_gaps_filled():
    device = {'name': 'pci_0000_04_00_0', 'type': 'pci', 'iommu_group': 8, 'pci': {'class': '0x020000'}}
    record = facts_record(device)
    assert record['pci'] == {'class': '0x020000', 'address': '0000:04:00.0', 'iommu_group': 8}
    assert record['parent'] is None and device['pci'] == {'class': '0x020000'}


# -- the sample workstation and a synthetic large host: how big the facts are ---------------

def size(facts):
    """Bytes of the facts as JSON, as Ansible writes a module's result."""
    return len(json.dumps(facts))


def test_the_sample_hosts_compact_facts_stay_under_6_kb(sample_facts):
    """13 PCI, USB and SCSI candidates in 4.7 KB, and since issue 21 the mtty parent and its two mdevs
    (about 330 bytes each, with their mdev and types keys)."""
    full, compact = sample_facts('full'), sample_facts('compact')
    assert size(compact) < 6000, size(compact)
    assert len(json.dumps(compact, separators=(',', ':'))) < 5500
    assert size(full) > 4 * size(compact)  # the full facts stay whole (about 25 KB)
    assert len(compact['devices']) == 16 and len(full['devices']) == 36
    mdevs = [device for device in compact['devices'] if device['type'] in ('mdev', 'mdev_types')]
    assert size(mdevs) < 1000, size(mdevs)


@pytest.fixture(scope='module')
def synthetic_host(tmp_path_factory):
    root = synthetic_sysfs(str(tmp_path_factory.mktemp('synthetic')), 2500)
    model, used, _warnings = read_host('sysfs', 'qemu:///system', root)
    return model, used


def test_a_synthetic_5000_device_hosts_compact_facts_are_under_a_quarter_of_its_full_facts(synthetic_host):
    model, used = synthetic_host
    assert len(model.names()) == 5001
    full = model.facts(used, assignability(model))
    compact = model.facts(used, assignability(model, model.facts_names('compact')), 'compact')
    assert len(compact['devices']) == 2500
    assert size(compact) * 4 < size(full), (size(compact), size(full))
    assert len(json.dumps(compact, separators=(',', ':'))) * 4 < len(json.dumps(full, separators=(',', ':')))


def test_iommu_hint_says_how_to_turn_it_on():
    assert 'intel_iommu=on' in iommu_hint({'enabled': False})
    assert 'AMD needs no argument' in iommu_hint({'enabled': False})  # amd_iommu=on is no option of the kernel
    assert 'amd_iommu=on' not in iommu_hint({'enabled': False})
    assert 'pcie_acs_override' in iommu_hint({'enabled': True, 'acs_override': True})
    assert 'allow_unsafe_interrupts' in iommu_hint({'enabled': True, 'unsafe_interrupts': True})


def test_taken_with_group_is_the_group_and_every_device_inheriting_it():
    model = HostModel(workstation())
    assert model.taken_with_group(8) == ['net_enp4s0_00_1b_21_00_00_40', 'net_enp4s1_00_1b_21_00_00_41',
                                         'pci_0000_03_00_0', 'pci_0000_04_00_0', 'pci_0000_04_01_0']
    assert model.taken_with_group(99) == []


def test_group_devices_are_the_kernels_members_only():
    # a PCI function without a group of its own is no member of its bridge's group: its group is unknown
    model = HostModel(workstation() + [pci('0000:05:00.0', '0x020000', None, parent='pci_0000_04_00_0')])
    assert model.group_devices(8) == ['pci_0000_03_00_0', 'pci_0000_04_00_0', 'pci_0000_04_01_0']
    assert 'pci_0000_05_00_0' not in model.taken_with_group(8)
    assert model.iommu_group('pci_0000_05_00_0') is None and model.group_unknown('pci_0000_05_00_0')
    assert any('pci_0000_05_00_0 has no readable IOMMU group' in warning for warning in model.warnings)
    assert model.group_devices(3) == ['pci_0000_00_14_0']
    assert model.group_devices(99) == []
    groups = model.iommu_groups()
    assert sorted(groups) == [1, 3, 4, 7, 8]
    assert all(model.group_devices(number) == names for number, names in groups.items())


def test_group_endpoints_leave_bridges_out_but_keep_the_device_asked_about():
    model = HostModel(workstation())
    assert model.group_endpoints('pci_0000_01_00_0') == ['pci_0000_01_00_0', 'pci_0000_01_00_1']
    assert model.group_endpoints('pci_0000_04_01_0') == ['pci_0000_04_00_0', 'pci_0000_04_01_0']
    assert model.group_endpoints('pci_0000_00_01_0') == ['pci_0000_00_01_0', 'pci_0000_01_00_0',
                                                         'pci_0000_01_00_1']
    # not PCI, or no group: alone
    assert model.group_endpoints('usb_1_3') == ['usb_1_3']
    assert HostModel(workstation(groups=False)).group_endpoints('pci_0000_01_00_0') == ['pci_0000_01_00_0']
    with pytest.raises(UnknownDeviceError):
        model.group_endpoints('pci_0000_09_00_0')


def test_group_bridges():
    model = HostModel(workstation())
    assert model.group_bridges(1) == ['pci_0000_00_01_0']
    assert model.group_bridges(8) == ['pci_0000_03_00_0']
    assert model.group_bridges(3) == []
    assert model.group_bridges(None) == []


def test_usb_devices_with_ids():
    model = HostModel(workstation() + [usb('usb_1_4', 'usb_usb1', 1, 4)])
    assert model.usb_devices_with_ids('0x046d', '0xc31c') == ['usb_1_3', 'usb_1_4']
    assert model.usb_devices_with_ids('0x046d', '0xffff') == []


def test_group_endpoints_in_a_group_by_number():
    model = HostModel(workstation())
    assert model.group_endpoints_in(1) == ['pci_0000_01_00_0', 'pci_0000_01_00_1']
    assert model.group_endpoints_in(8) == ['pci_0000_04_00_0', 'pci_0000_04_01_0']
    assert model.group_endpoints_in(7) == []  # a root port alone
    assert model.group_endpoints_in(None) == []
    assert model.group_endpoints_in(99) == []
    assert HostModel(workstation(groups=False)).group_endpoints_in(1) == []


# -- PCI class names and device kinds -------------------------------------------

@pytest.mark.parametrize('pci_class, base, subclass', [
    ('0x030000', 'display controller', 'VGA controller'),
    ('0x030200', 'display controller', '3D controller'),
    ('0x038000', 'display controller', None),
    ('0x020000', 'network controller', 'Ethernet controller'),
    ('0x010802', 'mass storage controller', 'NVMe controller'),
    ('0x010801', 'mass storage controller', 'non-volatile memory controller'),
    ('0x010601', 'mass storage controller', 'SATA controller'),
    ('0x0c0330', 'serial bus controller', 'USB controller'),
    ('0x0c0500', 'serial bus controller', 'SMBus controller'),
    ('0x040300', 'multimedia controller', 'audio device'),
    ('0x040380', 'multimedia controller', 'audio device'),
    ('0x060400', 'bridge', 'PCI bridge'),
    ('0x0b4000', 'processor', None),
    ('060100', 'bridge', 'ISA bridge'),
    ('0x140000', None, None),
    ('bogus', None, None),
    (None, None, None),
])
def test_pci_class_names(pci_class, base, subclass):
    assert (pci_class_name(pci_class), pci_subclass_name(pci_class)) == (base, subclass)


def test_every_base_class_up_to_0x13_has_a_name():
    assert sorted(PCI_CLASS_NAMES) == list(range(0x14)) + [0x40]


@pytest.mark.parametrize('kind, yes, no', [
    ('gpu', ['0x030000', '0x030200', '0x038000'], ['0x040300', '0x020000']),
    ('nic', ['0x020000', '0x028000', '0x020700'], ['0x030000', '0x0c0330']),
    ('usb_controller', ['0x0c0330', '0x0c0320'], ['0x0c0500', '0x0c0400']),
    ('nvme', ['0x010802'], ['0x010801', '0x010601']),
    ('sata', ['0x010601'], ['0x010802']),
    ('audio', ['0x040300', '0x040100', '0x040380'], ['0x040000', '0x030000']),
    ('accelerator', ['0x120000'], ['0x0b4000']),
    ('0x0c05', ['0x0c0500'], ['0x0c0330']),
    ('0x010802', ['0x010802'], ['0x010801']),
    (' GPU ', ['0x030000'], ['0x020000']),
])
def test_pci_kinds(kind, yes, no):
    for pci_class in yes:
        assert is_pci_kind(pci('0000:01:00.0', pci_class), kind), pci_class
    for pci_class in no:
        assert not is_pci_kind(pci('0000:01:00.0', pci_class), kind), pci_class


def test_a_kind_needs_a_pci_device_with_a_readable_class():
    assert not is_pci_kind(pci('0000:01:00.0', None), 'gpu')
    assert not is_pci_kind(pci('0000:01:00.0', 'bogus'), 'gpu')
    assert not is_pci_kind(dict(usb('usb_1_3', 'usb_usb1', 1, 3), pci={'class': '0x030000'}), 'gpu')
    assert not is_pci_kind({'name': 'pci_0000_01_00_0', 'type': 'pci'}, 'gpu')  # no pci sub-dict


@pytest.mark.parametrize('kind', ['gpux', '', '0x3', '0x0c033000', 'c03', '0xzz', 'GPU s'])
def test_an_unknown_kind_lists_the_known_ones(kind):
    with pytest.raises(UnknownKindError) as caught:
        pci_kind_prefixes(kind)
    message = str(caught.value)
    assert repr(kind) in message
    assert all(name in message for name in PCI_KINDS)
    assert '0x0c03' in message
    with pytest.raises(UnknownKindError):
        is_pci_kind(plain('computer', 'system', None), kind)  # whatever the device


def test_pci_slot_is_domain_bus_slot_of_the_address():
    assert pci_slot(pci('0000:01:00.1', '0x040300')) == (0, 1, 0)
    assert pci_slot(pci('0001:0a:1f.7', '0x040300')) == (1, 10, 31)
    assert pci_slot(dict(pci('0000:01:00.1', '0x040300'), pci={'address': None})) is None
    assert pci_slot(dict(pci('0000:01:00.1', '0x040300'), pci={'address': 'junk'})) is None
    assert pci_slot({'name': 'pci_0000_01_00_1', 'type': 'pci'}) is None
    assert pci_slot(usb('usb_1_3', 'usb_usb1', 1, 3)) is None


MDEV_UUID = 'c2177883-f1bb-47f0-914d-32a22e3a8804'


def _mdev(uuid, parent, parent_address):
    from ansible_collections.virt.hostdev.plugins.module_utils.model.records import device_record, mdev_name
    return device_record(mdev_name(uuid, parent_address), 'mdev', parent=parent,
                         details={'uuid': uuid, 'type': 'mtty-2', 'parent_address': parent_address})


def test_an_mdev_is_found_by_its_uuid_and_held_by_the_domain_that_names_it():
    held = _mdev(MDEV_UUID, 'mtty_mtty', 'mtty')
    free = _mdev(MDEV_UUID.replace('c2', 'd2'), 'mtty_mtty', 'mtty')
    domain = {'name': 'vm1', 'active': False, 'hostdevs': [{'type': 'mdev', 'uuid': MDEV_UUID}]}
    model = HostModel([plain('computer', 'system', None), plain('mtty_mtty', 'mdev_types', 'computer'), held, free],
                      domains=[domain])
    assert model.resolve_reference(MDEV_UUID.upper()) == held['name']
    assert model.match_source({'type': 'mdev', 'uuid': MDEV_UUID}) == [held['name']]
    assert model.assigned_to(held['name']) == ['vm1']
    assert model.assigned_to(free['name']) == []
    with pytest.raises(DeviceReferenceError, match='no mediated device with UUID'):
        model.resolve_reference(MDEV_UUID.replace('c2', 'e2'))


def test_a_uuid_defined_on_two_parents_is_ambiguous():
    model = HostModel([plain('computer', 'system', None), _mdev(MDEV_UUID, 'mtty_mtty', 'mtty'),
                       _mdev(MDEV_UUID, 'pci_0000_00_02_0', '0000:00:02.0')])
    with pytest.raises(DeviceReferenceError, match='several parents'):
        model.resolve_reference(MDEV_UUID)
