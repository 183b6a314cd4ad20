# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""facts_format: the declaration of ansible_facts.hostdev is what the facts are, what hostdev_facts'
RETURN documents and what the query plugins' doc fragment says they read; summary facts count what
compact facts list."""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml

from ansible_collections.virt.hostdev.plugins.doc_fragments.hostdev_query import ModuleDocFragment
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import (
    COMPACT_CAPABILITY_KEYS,
    COMPACT_DEVICE_KEYS,
    COMPACT_SRIOV_KEYS,
    DEVICE_FACTS_MODES,
    DOMAIN_KEYS,
    FACTS_KEYS,
    FACTS_MODES,
    FULL_DEVICE_KEYS,
    IOMMU_GROUP_KEYS,
    IOMMU_KEYS,
    KIND_KEYS,
    MODEL_KEYS,
    MODEL_KINDS,
    QUERY_DEVICE_KEYS,
    SUMMARY_IOMMU_KEYS,
    SUMMARY_KINDS,
    CompactListing,
    compact_listing,
    kinds_of,
    summary_kind,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import host_facts, model_of_facts
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import CAPABILITIES, CAPABILITY_KEYS, SRIOV_KEYS
from ansible_collections.virt.hostdev.plugins.module_utils.model.vf_table import (
    VF_COLUMNS,
    VF_TABLE_KEYS,
    listed_devices,
    with_vf_tables,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading import host_reader
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.modules import hostdev_facts

from fixtures.synthetic_host import synthetic_ip_links, synthetic_sriov_sysfs, synthetic_sysfs

CAPABILITY_FIELDS = dict(CAPABILITIES.values())


def declared_device_keys(device, mode):
    """What the declaration says this device's keys are (its capabilities as it has them)."""
    own = FULL_DEVICE_KEYS if mode == 'full' else COMPACT_DEVICE_KEYS
    capabilities = CAPABILITY_KEYS if mode == 'full' else tuple(COMPACT_CAPABILITY_KEYS)
    return set(own) | set(key for key in capabilities if key in device)


def assert_kinds_follow_the_declaration(kinds):
    assert kinds and list(kinds) == [kind for kind in SUMMARY_KINDS if kind in kinds]
    for kind, entry in kinds.items():
        assert list(entry) == list(KIND_KEYS), kind
        assert bool(entry['models']) == (kind in MODEL_KINDS), kind
        for model in entry['models']:
            assert list(model) == list(MODEL_KEYS), (kind, model)
        assert sum(model['total'] for model in entry['models']) in (0, entry['total']), kind


def assert_facts_follow_the_declaration(facts, mode):
    assert list(facts) == list(FACTS_KEYS[mode])
    if 'kinds' in facts:
        assert_kinds_follow_the_declaration(facts['kinds'])
    if mode == 'summary':
        assert list(facts['iommu']) == list(SUMMARY_IOMMU_KEYS)
        return
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


@pytest.mark.parametrize('mode', DEVICE_FACTS_MODES)
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


def test_summary_facts_make_no_model_and_say_why(sample_facts):
    with pytest.raises(HostdevError, match=r'^summary facts \(virt.hostdev.hostdev_facts with facts=summary\) '
                                           r'count devices but name none.*facts=compact or facts=full$'):
        model_of_facts(sample_facts('summary'))


# Which modes a RETURN entry's `returned` names.
RETURNED_MODES = {
    'always': set(FACTS_MODES),
    'in full and compact facts': {'full', 'compact'},
    'in full and summary facts': {'full', 'summary'},
    'in full facts': {'full'},
}


def return_of_hostdev():
    doc = yaml.safe_load(hostdev_facts.RETURN)
    return doc['ansible_facts']['contains']['hostdev']['contains']


def test_return_documents_the_declared_facts_keys():
    hostdev = return_of_hostdev()
    assert list(hostdev) == list(FACTS_KEYS['full'])
    for key, entry in hostdev.items():
        assert RETURNED_MODES[entry['returned']] == set(mode for mode in FACTS_MODES if key in FACTS_KEYS[mode]), key
    assert set(hostdev['iommu']['sample']) == set(IOMMU_KEYS)
    for key in IOMMU_KEYS:
        assert 'C(%s)' % key in ' '.join(hostdev['iommu']['description']), key
    summary_note = [line for line in hostdev['iommu']['description'] if line.startswith('Summary facts have')]
    assert summary_note and re.findall(r'C\((\w+)\)', summary_note[0]) == list(SUMMARY_IOMMU_KEYS)


def test_return_documents_the_kinds_and_their_models():
    kinds = return_of_hostdev()['kinds']
    described = ' '.join(kinds['description'])
    assert re.findall(r'V\((\w+)\) \(', described) == ['bmc_display', 'boot_vga', 'gpu']  # the display kinds
    assert [kind for kind in re.findall(r'V\((\w+)\)', described) if kind in SUMMARY_KINDS][:len(SUMMARY_KINDS)] == \
        list(SUMMARY_KINDS)
    for key in KIND_KEYS + MODEL_KEYS:
        assert 'C(%s)' % key in described, key
    assert_kinds_follow_the_declaration(kinds['sample'])


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
    # no group of several devices nor with a bridge: the devices' groups say that every PCI device is listed
    assert compact_listing(dict(compact, iommu_groups=[])) == CompactListing(names, every_pci=True)
    no_groups = dict(compact, iommu_groups=[], devices=[dict(device, iommu_group=None) for device in compact['devices']])
    assert compact_listing(no_groups) == CompactListing(names, every_pci=False)  # the IOMMU off
    assert compact_listing({'devices': []}) is None and compact_listing('junk') is None


# -- summary facts --------------------------------------------------------------------

def test_summary_facts_count_the_sample_hosts_candidates_by_kind_and_model(sample_facts):
    summary = sample_facts('summary')
    assert summary['source'] == 'sysfs'
    assert summary['iommu'] == {'enabled': True, 'groups': 10, 'interrupt_remapping': True, 'hint': None}
    kinds = summary['kinds']
    assert list(kinds) == ['gpu', 'nic', 'storage', 'usb_controller', 'audio']  # no USB or SCSI device
    assert kinds['gpu'] == {'total': 2, 'assignable': 1, 'held': 0, 'blockers': {'group_not_viable': 1}, 'models': [
        {'ids': '10de:24b0', 'name': 'NVIDIA Corporation GA104GL [RTX A4000]', 'total': 1, 'assignable': 0,
         'blockers': {'group_not_viable': 1}},
        {'ids': '8086:4680', 'name': 'Intel Corporation AlderLake-S GT1', 'total': 1, 'assignable': 1, 'blockers': {}}]}
    # the I225-V is held by ci-runner; the two 82541PI share a group with the bridge's other side
    assert kinds['nic'] == {'total': 3, 'assignable': 0, 'held': 1,
                            'blockers': {'assigned_elsewhere': 1, 'group_not_viable': 2}, 'models': []}
    assert kinds['storage']['blockers'] == {'host_in_use': 1} and kinds['usb_controller']['assignable'] == 1
    # the same counts as full facts carry, and as the devices of compact facts give (without names)
    assert sample_facts('full')['kinds'] == kinds
    from_compact = kinds_of(sample_facts('compact')['devices'])
    assert from_compact == dict((kind, dict(entry, models=[dict(model, name=None) for model in entry['models']]))
                                for kind, entry in kinds.items())


def test_summary_facts_do_not_grow_with_the_host(tmp_path):
    """A host's summary is the same size whatever its device count: 401 or 4,001 devices."""
    sizes = {}
    for endpoints in (200, 2000):
        root = synthetic_sysfs(str(tmp_path / str(endpoints)), endpoints)
        model, used, _warnings = read_host('sysfs', 'qemu:///system', root)
        summary = host_facts(model, used, 'summary')
        assert summary['kinds'] == {'nic': {'total': endpoints, 'assignable': 0, 'held': 0,
                                            'blockers': {'iommu_off': endpoints}, 'models': []}}
        sizes[endpoints] = len(json.dumps(summary).replace(str(endpoints), ''))
    assert sizes[200] == sizes[2000] < 1000, sizes


def test_the_sample_hosts_summary_is_small(sample_facts):
    assert len(json.dumps(sample_facts('summary'))) < 1200


def pci(name, pci_class, vendor_id, product_id, boot_vga=None, **device):
    """A PCI device of full facts (boot_vga given) or of compact facts (boot_vga None: no such key)."""
    details = {'class': pci_class, 'vendor_id': vendor_id, 'product_id': product_id}
    if boot_vga is not None:
        details['boot_vga'] = boot_vga
    return dict({'name': name, 'type': 'pci', 'pci': details, 'assignable': True, 'blockers': []}, **device)


NOT_ELIGIBLE = {'assignable': False, 'blockers': ['not_eligible']}


@pytest.mark.parametrize('device, kind', [
    (pci('ast', '0x030000', '0x1a03', '0x2000', boot_vga=True, **NOT_ELIGIBLE), 'bmc_display'),
    (pci('ast', '0x030000', '0x1a03', '0x2000'), 'bmc_display'),
    (pci('g200er2', '0x030000', '0x102b', '0x0534', boot_vga=False), 'bmc_display'),
    (pci('g200eh3', '0x030000', '0x102B', '0x0538'), 'bmc_display'),
    (pci('ibmc', '0x030000', '0x19e5', '0x1711'), 'bmc_display'),
    (pci('g200', '0x030000', '0x102b', '0x0520'), 'gpu'),  # a desktop Matrox G200: no BMC
    (pci('ast_bridge', '0x060400', '0x1a03', '0x1150'), None),  # ASPEED's PCI bridge: not a display
    (pci('boot', '0x030000', '0x10de', '0x1eb8', boot_vga=True, **NOT_ELIGIBLE), 'boot_vga'),
    (pci('boot', '0x030000', '0x10de', '0x1eb8', **NOT_ELIGIBLE), 'boot_vga'),  # compact facts: no boot_vga key
    (pci('t4', '0x030200', '0x10de', '0x1eb8', boot_vga=False), 'gpu'),
    (pci('a100', '0x120000', '0x10de', '0x20b0'), 'accelerator'),
    (pci('nvme', '0x010802', '0x144d', '0xa80a'), 'nvme'),
    (pci('sata', '0x010601', '0x8086', '0x7ae2'), 'storage'),
    (pci('hda', '0x040300', '0x10de', '0x228b'), 'audio'),
    (pci('smbus', '0x0c0500', '0x8086', '0x7aa3', **NOT_ELIGIBLE), None),
])
def test_boot_vga_and_bmc_displays_are_kinds_apart_from_gpus(device, kind):
    assert summary_kind(device) == kind
    assert list(kinds_of([device])) == ([kind] if kind else [])


def test_kinds_count_assignable_held_and_the_blockers_of_the_others():
    devices = [
        pci('a', '0x030000', '0x10de', '0x24b0'),
        pci('b', '0x030000', '0x10de', '0x24b0', assignable=False, blockers=['group_not_viable', 'iommu_off']),
        pci('c', '0x030000', '0x10de', '0x24b0', assignable=False, blockers=['assigned_elsewhere'],
            assigned_to=['vm1']),
        pci('d', '0x030000', None, None, assignable=False, blockers=['iommu_off']),
        pci('e', '0x030000', '0x1a03', '0x2000', boot_vga=True, **NOT_ELIGIBLE),
        pci('f', '0x060400', '0x8086', '0x460d', **NOT_ELIGIBLE),  # a bridge: not counted
        {'name': 'usb_1_3', 'type': 'usb_device', 'usb': {'vendor_id': '0x046d'}, 'assignable': True, 'blockers': []},
    ]
    devices[0]['pci'].update(vendor='NVIDIA Corporation', product='GA104GL [RTX A4000]')
    assert kinds_of(devices) == {
        'bmc_display': {'total': 1, 'assignable': 0, 'held': 0, 'blockers': {'not_eligible': 1}, 'models': []},
        'gpu': {'total': 4, 'assignable': 1, 'held': 1,
                'blockers': {'group_not_viable': 1, 'iommu_off': 2, 'assigned_elsewhere': 1}, 'models': [
                    {'ids': '10de:24b0', 'name': 'NVIDIA Corporation GA104GL [RTX A4000]', 'total': 3,
                     'assignable': 1, 'blockers': {'group_not_viable': 1, 'iommu_off': 1, 'assigned_elsewhere': 1}},
                    {'ids': None, 'name': None, 'total': 1, 'assignable': 0, 'blockers': {'iommu_off': 1}}]},
    }


@pytest.fixture(scope='module')
def sriov_facts(tmp_path_factory):
    """The facts of a synthetic host of 2 igb PFs with 4 VFs each, one VF with a MAC and VLAN 100 (read as this
    machine's, with captured `ip` output), and one domain holding a VF."""
    dest = tmp_path_factory.mktemp('sriov')
    root = synthetic_sriov_sysfs(str(dest), pfs=2, vfs=4)
    os.makedirs(str(dest / 'etc/libvirt/qemu'))
    with open(str(dest / 'etc/libvirt/qemu/vm.xml'), 'w') as handle:
        handle.write("<domain type='kvm'><name>vm</name><devices><interface type='hostdev' managed='yes'><source>"
                     "<address type='pci' domain='0' bus='0x81' slot='0x10' function='0x1'/></source></interface>"
                     "</devices></domain>")
    links = synthetic_ip_links(2, 4, {(0, 1): {'mac': '52:54:00:6d:90:02', 'vlan': 100}})
    real = host_reader.is_this_machines_sysfs
    host_reader.is_this_machines_sysfs = lambda path: True
    try:
        model, used, _warnings = host_reader.read_host('sysfs', sysfs_root=root, run=lambda argv, timeout: links)
    finally:
        host_reader.is_this_machines_sysfs = real
    return dict((mode, host_facts(model, used, mode)) for mode in FACTS_MODES)


@pytest.mark.parametrize('mode', FACTS_MODES)
def test_sriov_facts_follow_the_declaration(sriov_facts, mode):
    facts = sriov_facts[mode]
    assert_facts_follow_the_declaration(facts, mode)
    for device in facts.get('devices', ()):
        sriov = (device.get('pci') or {}).get('sriov')
        if sriov is not None:
            assert list(sriov) == list(SRIOV_KEYS if mode == 'full' else COMPACT_SRIOV_KEYS), device['name']
        if (sriov or {}).get('vfs') is not None:  # a PF's VF table (compact facts)
            table = sriov['vfs']
            assert list(table) == list(VF_TABLE_KEYS) and table['columns'] == list(VF_COLUMNS), device['name']
            assert list(table['pci']) == [key for key in COMPACT_CAPABILITY_KEYS['pci'] if key != 'sriov']
            assert table['rows'] and all(len(row) == len(VF_COLUMNS) for row in table['rows']), device['name']
    if mode == 'compact':  # the devices the tables stand for follow the declaration too
        assert_facts_follow_the_declaration(dict(facts, devices=listed_devices(facts['devices'])), mode)


def test_compact_facts_list_vfs_as_rows_of_their_pfs_table(sriov_facts):
    """A VF of compact facts is a row of its PF's pci.sriov.vfs: index, address, driver, group, the MAC and
    VLAN the PF gives it, holders and blockers; its ids once for the table."""
    compact = sriov_facts['compact']
    devices = dict((device['name'], device) for device in compact['devices'])
    assert sorted(devices) == ['pci_0000_81_00_0', 'pci_0000_82_00_0']  # the VFs are in the tables
    sriov = devices['pci_0000_81_00_0']['pci']['sriov']
    assert dict(sriov, vfs=None) == {'totalvfs': 7, 'numvfs': 4, 'physical_function': None, 'vf_index': None,
                                     'link': None, 'vfs': None}
    assert sriov['vfs']['columns'] == list(VF_COLUMNS)
    assert sriov['vfs']['pci'] == {'class': '0x020000', 'vendor_id': '0x8086', 'product_id': '0x10ca',
                                   'subsystem_vendor_id': None, 'subsystem_id': None}
    assert sriov['vfs']['rows'][:2] == [
        [0, '0000:81:10.0', 'igbvf', 2, '00:00:00:00:00:00', 0, [], []],
        [1, '0000:81:10.1', 'igbvf', 3, '52:54:00:6d:90:02', 100, ['vm'], ['assigned_elsewhere']]]
    assert devices['pci_0000_81_00_0']['blockers'] == ['has_virtual_functions']
    assert 'pci_0000_81_10_2' in compact['assignable'] and 'pci_0000_81_10_1' not in compact['assignable']
    assert not any(group['devices'] == ['pci_0000_81_10_2'] for group in compact['iommu_groups'])


def test_compact_facts_answer_a_vf_question(sriov_facts):
    """Expanded (vf_table.listed_devices), the rows are the compact devices of the VFs, with what full facts say."""
    full = dict((device['name'], device) for device in sriov_facts['full']['devices'])
    listed = dict((device['name'], device) for device in listed_devices(sriov_facts['compact']['devices']))
    assert sorted(listed) == sorted(name for name, device in full.items() if device['type'] == 'pci'
                                    and not name.startswith('pci_0000_00_'))
    vf = listed['pci_0000_81_10_1']
    assert vf['pci']['sriov'] == {'totalvfs': None, 'numvfs': None, 'physical_function': '0000:81:00.0',
                                  'vf_index': 1, 'link': {'mac': '52:54:00:6d:90:02', 'vlan': 100}, 'vfs': None}
    for name, device in listed.items():
        for key in ('driver', 'iommu_group', 'assigned_to', 'assignable', 'blockers'):
            assert device[key] == full[name][key], (name, key)
        assert device['pci']['product_id'] == full[name]['pci']['product_id'], name
    assert listed_devices(list(listed.values())) == sorted(listed.values(), key=lambda device: device['name'])
    model = model_of_facts(sriov_facts['compact'])
    assert model.virtual_functions('pci_0000_82_00_0') == ['pci_0000_82_10_%d' % vf for vf in range(4)]
    assert model.iommu_group('pci_0000_82_10_3') == full['pci_0000_82_10_3']['iommu_group']


def test_a_vf_a_row_cannot_say_stays_a_device(sriov_facts):
    """A VF whose ids are not its PF's first VF's is listed as a device of its own, and comes back the same."""
    devices = [dict(device) for device in listed_devices(sriov_facts['compact']['devices'])]
    for device in devices:
        device['pci'] = dict(device['pci'], sriov=dict(device['pci']['sriov'], vfs=None))
        if device['name'] == 'pci_0000_82_10_2':
            device['pci']['product_id'] = '0x1520'
    tabled = with_vf_tables(devices)
    assert [device['name'] for device in tabled] == ['pci_0000_81_00_0', 'pci_0000_82_00_0', 'pci_0000_82_10_2']
    rows = tabled[1]['pci']['sriov']['vfs']['rows']
    assert [row[0] for row in rows] == [0, 1, 3]
    assert listed_devices(tabled) == sorted(devices, key=lambda device: device['name'])


@pytest.mark.parametrize('table, wrong', [
    ({'columns': ['vf_index', 'address'], 'pci': {}, 'rows': []}, r' is a dict, not a table with the columns vf_index'),
    ('junk', r" is the string 'junk', not a table"),
    ({'columns': list(VF_COLUMNS), 'pci': {}, 'rows': [[0, 'nowhere', None, 1, None, None, [], []]]},
     r': row 0, \[0, "nowhere", null, 1, null, null, \[\], \[\]\], is not a row of vf_index, address, driver'),
])
def test_a_vf_table_that_is_none_is_named(sriov_facts, table, wrong):
    compact = sriov_facts['compact']
    pf = compact['devices'][0]
    broken = dict(pf, pci=dict(pf['pci'], sriov=dict(pf['pci']['sriov'], vfs=table)))
    with pytest.raises(HostdevError, match=r'^the VF table of pci_0000_81_00_0 \(pci.sriov.vfs\)' + wrong):
        model_of_facts(dict(compact, devices=[broken] + compact['devices'][1:]))


def test_full_facts_give_every_sriov_key(sriov_facts):
    devices = dict((device['name'], device) for device in sriov_facts['full']['devices'])
    pf = devices['pci_0000_82_00_0']['pci']['sriov']
    assert pf['virtual_functions'] == ['0000:82:10.%d' % vf for vf in range(4)]
    assert (pf['netdev'], pf['drivers_autoprobe']) == ('enp130s0f0', True)
    vf = devices['pci_0000_82_10_3']['pci']['sriov']
    assert vf['link'] == {'mac': '00:00:00:00:00:00', 'vlan': 0, 'qos': 0, 'spoof_check': True, 'trust': False,
                          'link_state': 'auto'}
    assert devices['pci_0000_82_10_3']['held_by_network'] == []


def test_summary_facts_count_vfs_as_nics(sriov_facts):
    """Every VF is a NIC a guest can take; the PFs with VFs enabled are blocked."""
    assert sriov_facts['summary']['kinds']['nic'] == {
        'total': 10, 'assignable': 7, 'held': 1, 'blockers': {'has_virtual_functions': 2, 'assigned_elsewhere': 1},
        'models': []}


def test_a_model_of_compact_sriov_facts_gives_the_same_devices(sriov_facts):
    """model_of_facts of compact facts with VF tables gives back each VF and PF as the tables said them (holders
    and blockers are the facts' own: without them a row cannot be made, and the VFs come back as devices)."""
    compact = sriov_facts['compact']
    again = model_of_facts(compact).facts(compact['source'], mode='compact')

    def plain_devices(devices):
        result = []
        for device in listed_devices(devices):
            device = dict((key, value) for key, value in device.items()
                          if key not in ('assigned_to', 'assignable', 'blockers'))
            device['pci'] = dict(device['pci'], sriov=dict(device['pci']['sriov'], vfs=None))
            result.append(device)
        return result
    assert len(again['devices']) == 10 and plain_devices(again['devices']) == plain_devices(compact['devices'])
    assert again['iommu_groups'] == compact['iommu_groups']


# -- mediated devices in compact facts -------------------------------------------------------------

def test_compact_facts_keep_mdevs_and_their_parents_types_and_read_them_back(sample_facts):
    compact = sample_facts('compact')
    devices = dict((device['name'], device) for device in compact['devices'])
    held = devices['mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_mtty']
    assert held['mdev'] == {'uuid': 'c2177883-f1bb-47f0-914d-32a22e3a8804', 'type': 'mtty-2', 'parent_address': 'mtty',
                            'active': True, 'persistent': True, 'autostart': True}
    assert devices['mtty_mtty']['mdev_parent'] == {'types': [{'type': 'mtty-1', 'available_instances': 20},
                                                             {'type': 'mtty-2', 'available_instances': 10}]}
    model = model_of_facts(compact)
    assert model.match_source({'type': 'mdev', 'uuid': 'c2177883-f1bb-47f0-914d-32a22e3a8804'}) == [held['name']]
    assert model.device('mtty_mtty')['mdev_parent']['types'][1]['available_instances'] == 10
    assert compact_listing(compact).devices >= {'mtty_mtty', held['name']}


def test_a_pci_parent_keeps_its_types_in_compact_facts_and_no_other_pci_device_grows_a_key():
    from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
    gpu = {'name': 'pci_0000_00_02_0', 'type': 'pci', 'parent': None, 'driver': 'i915',
           'pci': {'address': '0000:00:02.0', 'class': '0x030000', 'iommu_group': 2, 'mdev_types': [
               {'type': 'i915-GVTg_V5_4', 'name': 'GVTg_V5_4', 'device_api': 'vfio-pci', 'available_instances': 1,
                'description': 'low_gm_size: 128MB'}]}}
    nic = {'name': 'pci_0000_03_00_0', 'type': 'pci', 'parent': None, 'driver': 'igc',
           'pci': {'address': '0000:03:00.0', 'class': '0x020000', 'iommu_group': 3}}
    facts = HostModel([gpu, nic], iommu={'enabled': True}).facts('sysfs', mode='compact')
    compact = dict((device['name'], device['pci']) for device in facts['devices'])
    assert compact['pci_0000_00_02_0']['mdev_types'] == [{'type': 'i915-GVTg_V5_4', 'available_instances': 1}]
    assert 'mdev_types' not in compact['pci_0000_03_00_0']
