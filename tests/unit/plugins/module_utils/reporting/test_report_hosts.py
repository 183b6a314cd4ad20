# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the report makes of each host's value: no facts, unreadable facts naming what is wrong (one
malformed host never stops a fleet's report), device facts or summary facts; the names of ids; and
what makes hosts identical."""

from __future__ import annotations

import copy
import csv
import html
import io

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report import FleetReport
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_hosts import (
    DEVICES,
    NONE,
    SUMMARY,
    UNREADABLE,
    identity,
    intake,
    named,
    wanted_ids,
)

GPU = 'pci_0000_01_00_0'


def changed(facts, change):
    """A deep copy of facts, changed by change(copy)."""
    facts = copy.deepcopy(facts)
    change(facts)
    return facts


def device(facts, name):
    return next(device for device in facts['devices'] if device['name'] == name)


def set_device(name, key, value):
    return lambda facts: device(facts, name).__setitem__(key, value)


MALFORMED = [
    ('pci a string', set_device(GPU, 'pci', '0000:01:00.0'),
     "device pci_0000_01_00_0: pci is the string '0000:01:00.0', not a dict or null"),
    ('iommu a string', lambda facts: facts.__setitem__('iommu', 'on'), "iommu is the string 'on', not a dict or null"),
    ('iommu_group a dict', set_device(GPU, 'iommu_group', {'number': 1}),
     'device pci_0000_01_00_0: iommu_group is a dict, not a number or null'),
    ('iommu_group true', set_device(GPU, 'iommu_group', True),
     'device pci_0000_01_00_0: iommu_group is the boolean true, not a number or null'),
    ('devices a string', lambda facts: facts.__setitem__('devices', 'none'), "devices is the string 'none', not a list"),
    ('a device a string', lambda facts: facts['devices'].__setitem__(3, 'pci_0000_00_14_0'),
     "devices[3] is the string 'pci_0000_00_14_0', not a dict"),
    ('a device without a name', lambda facts: device(facts, GPU).pop('name'), 'devices[19] has no name'),
    ('a holder a number', set_device(GPU, 'assigned_to', ['vm', 7]),
     'device pci_0000_01_00_0: assigned_to has an item that is not a string'),
    ('pci.class a number', lambda facts: device(facts, GPU)['pci'].__setitem__('class', 0x030000),
     'device pci_0000_01_00_0: pci.class is the number 196608, not a string or null'),
    ('iommu.enabled a string', lambda facts: facts['iommu'].__setitem__('enabled', 'yes'),
     "iommu.enabled is the string 'yes', not a boolean or null"),
    ('not facts at all', lambda facts: facts.clear() or facts.update(hostdev={}),
     'neither a device list nor summary facts (keys: hostdev)'),
]


@pytest.mark.parametrize('label, change, problem', MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_facts_are_unreadable_naming_what_is_wrong(sample_facts, label, change, problem):
    assert intake(changed(sample_facts('full'), change)) == (UNREADABLE, problem)


@pytest.mark.parametrize('label, change, problem', MALFORMED[:3], ids=[case[0] for case in MALFORMED[:3]])
def test_one_malformed_host_is_listed_and_the_report_goes_on(sample_facts, label, change, problem):
    """Issue 18: one host with malformed facts failed the whole fleet report with a traceback."""
    report = FleetReport({'ws-a': sample_facts('full'), 'ws-bad': changed(sample_facts('full'), change),
                          'ws-s': sample_facts('summary')})
    assert report.summary['unreadable'] == {'ws-bad': problem}
    assert report.summary['with_facts'] == ['ws-a', 'ws-s'] and report.summary['free_gpus'] == 2
    assert dict(report.summary_rows())['Unreadable facts'] == '1: ws-bad'
    page = report.html()
    assert '<p class="unreadable">Unreadable facts: %s. Gather them again' % html.escape(problem) in page
    rows = [row for row in csv.DictReader(io.StringIO(report.csv())) if row['host'] == 'ws-bad']
    assert [row['state'] for row in rows] == ['unreadable facts: ' + problem]
    assert 'Unreadable facts: %s.' % problem.replace('_', '\\_') in report.markdown()
    assert report.dot('ws-bad') is None and sorted(report.dot_sources()) == ['ws-a']


def test_malformed_summary_facts_are_unreadable(sample_facts):
    summary = sample_facts('summary')
    assert intake(changed(summary, lambda facts: facts['kinds'].__setitem__('gpu', 2))) == \
        (UNREADABLE, 'kinds.gpu is the number 2, not a dict')
    assert intake(changed(summary, lambda facts: facts['kinds']['gpu']['models'][0].__setitem__('total', '1'))) == \
        (UNREADABLE, "kinds.gpu.models[0].total is the string '1', not a number")


def test_many_problems_are_cut_short(sample_facts):
    def break_all(facts):
        for item in facts['devices']:
            item['driver'] = 1
    kind, problem = intake(changed(sample_facts('full'), break_all))
    assert kind == UNREADABLE and problem.count('driver is the number 1') == 3 and problem.endswith('; and more')


@pytest.mark.parametrize('value', [None, False, 'not gathered', {}, [], 3])
def test_no_facts(value):
    assert intake(value) == (NONE, None)


def test_facts_and_summary_facts(sample_facts):
    for mode, kind in (('full', DEVICES), ('compact', DEVICES), ('summary', SUMMARY)):
        assert intake(sample_facts(mode)) == (kind, sample_facts(mode))


def test_names_fill_what_the_facts_leave_empty_and_only_that(sample_facts):
    compact = sample_facts('compact')
    wanted = set(wanted_ids(DEVICES, compact))
    assert ('10de', '24b0') in wanted and ('8086', '4680') in wanted
    assert not set(wanted_ids(DEVICES, sample_facts('full')))  # the reader named every device
    filled = named(DEVICES, compact, {('10de', '24b0'): ('NVIDIA Corporation', 'GA104GL [RTX A4000]'),
                                      ('8086', '4680'): ('Intel Corporation', None)})
    assert device(filled, GPU)['pci']['product'] == 'GA104GL [RTX A4000]'
    igpu = device(filled, 'pci_0000_00_02_0')['pci']
    assert igpu['vendor'] == 'Intel Corporation' and 'product' not in igpu
    assert 'vendor' not in device(compact, GPU)['pci']  # the facts are not changed
    summary = changed(sample_facts('summary'), lambda facts: facts['kinds']['gpu']['models'][0].__setitem__('name', None))
    assert list(wanted_ids(SUMMARY, summary)) == [('10de', '24b0')]
    assert named(SUMMARY, summary, {('10de', '24b0'): ('NVIDIA', 'A4000')})['kinds']['gpu']['models'][0]['name'] == \
        'NVIDIA A4000'


def test_identical_hosts_share_an_identity_whatever_their_idle_domains(sample_facts):
    full = sample_facts('full')
    more_domains = changed(full, lambda facts: facts['domains'].append({'name': 'idle', 'active': False, 'hostdevs': []}))
    assert identity(DEVICES, full) == identity(DEVICES, more_domains)
    released = changed(full, set_device('pci_0000_02_00_0', 'assigned_to', []))
    assert identity(DEVICES, full) != identity(DEVICES, released)
    assert identity(SUMMARY, sample_facts('summary')) != identity(DEVICES, full)
    assert identity(NONE, None) == identity(NONE, None) != identity(UNREADABLE, 'x')


def test_compact_facts_vf_rows_are_devices_of_the_report(tmp_path):
    """The VFs compact facts give as rows of their PF's table are listed by the report as devices, as in
    full facts; a table that is none makes the host unreadable, naming it."""
    from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import host_facts
    from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host

    from fixtures.synthetic_host import synthetic_sriov_sysfs
    model, used, _warnings = read_host('sysfs', 'qemu:///system', synthetic_sriov_sysfs(str(tmp_path), pfs=2, vfs=4))
    full, compact = host_facts(model, used, 'full'), host_facts(model, used, 'compact')
    kind, facts = intake(compact)
    assert kind == DEVICES and len(compact['devices']) == 2
    listed = dict((device['name'], device) for device in facts['devices'])
    assert sorted(listed) == sorted(device['name'] for device in full['devices']
                                    if device['type'] == 'pci' and not device['name'].startswith('pci_0000_00'))
    assert listed['pci_0000_82_10_3']['pci']['sriov']['vf_index'] == 3
    report = FleetReport({'sriov1': compact, 'sriov2': full})
    assert report.sections[0].kinds['nic'] == report.sections[1].kinds['nic'] == {
        'total': 10, 'assignable': 8, 'held': 0, 'blockers': {'has_virtual_functions': 2}, 'models': []}
    pf = compact['devices'][0]
    broken = dict(pf, pci=dict(pf['pci'], sriov=dict(pf['pci']['sriov'], vfs={'rows': 'junk'})))
    kind, problem = intake(dict(compact, devices=[broken]))
    assert kind == UNREADABLE and problem.startswith('the VF table of pci_0000_81_00_0 (pci.sriov.vfs) is a dict')
