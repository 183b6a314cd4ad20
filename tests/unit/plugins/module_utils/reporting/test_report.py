# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report on the sample workstation: as it is, booted without an IOMMU, and never gathered;
from full facts and from compact facts."""

from __future__ import annotations

import copy
import csv
import io
import re

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import assignability
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report import FleetReport
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_html import embedded_svg
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_values import (
    CSV_COLUMNS,
    ReportError,
    csv_cell,
    device_kind,
    dot_string,
    escape_markdown,
)

from support.report_hosts import HOSTILE_PRODUCT, build_iommu_off

GPU = 'pci_0000_01_00_0'
IGPU = 'pci_0000_00_02_0'
HELD_NIC = 'pci_0000_02_00_0'


def facts_of(sysfs_root, mode='full'):
    model, used, _warnings = read_host('sysfs', 'qemu:///system', sysfs_root)
    return model.facts(used, assignability(model, model.facts_names(mode)), mode)


@pytest.fixture(scope='module')
def sample(sample_sysfs):
    return facts_of(sample_sysfs)


@pytest.fixture(scope='module')
def iommu_off_root(tmp_path_factory):
    return build_iommu_off(str(tmp_path_factory.mktemp('iommu-off')))


@pytest.fixture(scope='module')
def iommu_off(iommu_off_root):
    return facts_of(iommu_off_root)


@pytest.fixture(scope='module')
def fleet(sample, iommu_off):
    return {'ws-a': sample, 'ws-b': iommu_off, 'ws-c': None}


@pytest.fixture(scope='module')
def report(fleet):
    return FleetReport(fleet)


def hostile(facts, product=HOSTILE_PRODUCT, name=IGPU):
    """A copy of the facts whose device `name` has the product name `product`."""
    changed = copy.deepcopy(facts)
    for device in changed['devices']:
        if device['name'] == name:
            device['pci']['product'] = product
    return changed


# -- summary ---------------------------------------------------------------------------

def test_summary_counts_hosts_iommu_and_free_gpus(report):
    summary = report.summary
    assert summary['hosts'] == 3
    assert summary['with_facts'] == ['ws-a', 'ws-b']
    assert summary['without_facts'] == ['ws-c']
    assert summary['iommu_off'] == ['ws-b']
    # the integrated GPU of ws-a is free; the RTX A4000 shares its group with the audio
    # function on snd_hda_intel, and ws-b has no IOMMU at all
    assert summary['gpus'] == 4 and summary['free_gpus'] == 1
    assert summary['gpu_models'] == [
        {'model': 'Intel Corporation AlderLake-S GT1', 'ids': '8086:4680', 'free': 1, 'total': 2, 'free_on': ['ws-a']},
        {'model': 'NVIDIA Corporation GA104GL [RTX A4000]', 'ids': '10de:24b0', 'free': 0, 'total': 2, 'free_on': []},
    ]
    assert summary['held'] == 2  # the I225-V of each host is the ci-runner domain's
    assert summary['drift'] is None and summary['drift_hosts'] == []


def test_summary_rows_say_it_in_words(report):
    assert report.summary_rows() == [
        ('Hosts', '3'), ('With facts', '2'), ('Without facts', '1: ws-c'), ('Unreadable facts', '0'),
        ('IOMMU off', '1: ws-b'), ('Free GPUs', '1 of 4'), ('Boot VGA and BMC displays', '0'),
        ('Devices held by domains', '2'), ('Drift', 'no mappings checked')]


def test_listed_devices_are_the_gpus_nics_and_controllers(report):
    rows = [report.device_row('ws-a', device) for device in report.listed['ws-a']]
    assert [(row['address'], row['kind'], row['state']) for row in rows] == [
        ('0000:00:02.0', 'GPU', 'assignable'),
        ('0000:00:14.0', 'USB controller', 'assignable'),
        ('0000:00:17.0', 'storage controller', 'blocked'),
        ('0000:00:1f.3', 'audio controller', 'blocked'),
        ('0000:01:00.0', 'GPU', 'blocked'),
        ('0000:01:00.1', 'audio controller', 'blocked'),
        ('0000:02:00.0', 'NIC', 'held'),
        ('0000:04:00.0', 'NIC', 'blocked'),
        ('0000:04:01.0', 'NIC', 'blocked'),
    ]
    by_address = dict((row['address'], row) for row in rows)
    assert by_address['0000:00:17.0']['blockers'] == ['host_in_use']
    assert by_address['0000:02:00.0']['assigned_to'] == ['ci-runner']
    assert by_address['0000:01:00.0']['iommu_group'] == 1 and by_address['0000:01:00.0']['driver'] == 'nvidia'
    off = [report.device_row('ws-b', device) for device in report.listed['ws-b']]
    assert len(off) == 9 and all('iommu_off' in row['blockers'] for row in off)
    assert all(row['iommu_group'] is None for row in off)


def test_bridges_and_smbus_are_not_listed(sample):
    kinds = dict((device['name'], device_kind(device)) for device in sample['devices'])
    assert kinds['pci_0000_00_01_0'] is None  # PCIe root port
    assert kinds['pci_0000_00_1f_4'] is None  # SMBus
    assert kinds['usb_1_3'] is None
    assert kinds[GPU] == 'GPU' and kinds['pci_0000_04_00_0'] == 'NIC'


@pytest.mark.parametrize('facts', [None, False, 'not gathered', {}, []])
def test_hosts_without_facts_are_listed_not_crashed_on(sample, facts):
    report = FleetReport({'ws-a': sample, 'ws-x': facts})
    assert report.summary['without_facts'] == ['ws-x']
    assert report.dot('ws-x') is None and 'ws-x' not in report.dot_sources()
    page = report.html()
    section = page[page.index('<section class="host" id="host-2">'):]
    assert '<h2>ws-x</h2>' in section and 'No hostdev facts' in section
    rows = list(csv.DictReader(io.StringIO(report.csv())))
    assert [row for row in rows if row['host'] == 'ws-x'] == [
        dict(dict.fromkeys(CSV_COLUMNS, ''), host='ws-x', state='no hostdev facts')]
    assert '## ws-x\n\nNo hostdev facts' in report.markdown()


# -- drift -----------------------------------------------------------------------------

def test_no_drift_given_says_no_mappings_checked(report):
    page = report.html()
    assert '<p class="drift-none">No mappings checked.</p>' in page
    assert 'No mappings checked.' in report.markdown()


def test_empty_drift_says_everything_matches(fleet):
    report = FleetReport(fleet, drift=[])
    assert report.summary['drift'] == 0 and dict(report.summary_rows())['Drift'] == 'none found'
    assert 'No drift: every checked mapping matches.' in report.html()


def test_drift_entries_are_sorted_and_shown(fleet):
    drift = [
        {'host': 'ws-b', 'mapping': 'nic-x', 'property': 'driver', 'expected': 'vfio-pci', 'found': None},
        {'host': 'ws-a', 'mapping': 'gpu-a4000', 'property': 'iommu_group', 'expected': 1, 'found': 12},
        {'host': 'ws-a', 'mapping': '<gpu>', 'property': 'address', 'expected': '0000:01:00.0', 'found': ['a', 'b']},
    ]
    report = FleetReport(fleet, drift=drift)
    assert report.drift == [
        {'host': 'ws-a', 'mapping': '<gpu>', 'property': 'address', 'expected': '0000:01:00.0', 'found': '["a", "b"]'},
        {'host': 'ws-a', 'mapping': 'gpu-a4000', 'property': 'iommu_group', 'expected': '1', 'found': '12'},
        {'host': 'ws-b', 'mapping': 'nic-x', 'property': 'driver', 'expected': 'vfio-pci', 'found': 'null'},
    ]
    assert report.summary['drift'] == 3 and report.summary['drift_hosts'] == ['ws-a', 'ws-b']
    assert dict(report.summary_rows())['Drift'] == '3 on 2 hosts: ws-a, ws-b'
    page = report.html()
    start = page.index('<section id="drift">')
    drift_section = page[start:page.index('</section>', start)]
    assert drift_section.count('<tr>') == 4  # header and three entries
    assert '<td>&lt;gpu&gt;</td>' in drift_section and '<gpu>' not in drift_section
    assert '| ws\\-a |' not in report.markdown() and '| ws-a | \\<gpu\\> | address |' in report.markdown()


# -- escaping ----------------------------------------------------------------------------

def test_html_shows_hostile_names_as_text(sample, iommu_off):
    report = FleetReport({'ws-"a"&<i>': hostile(sample), 'ws-b': iommu_off})
    page = report.html()
    assert page.count('<script') == 0
    assert '&lt;script&gt;window.hostdevPwned = 1&lt;/script&gt; &quot;GT1&quot;, =1+1' in page
    assert '<h2>ws-&quot;a&quot;&amp;&lt;i&gt;</h2>' in page and '<i>' not in page
    # the free GPU model is named by the hostile product in the summary too
    assert report.summary['gpu_models'][0]['model'] == 'Intel Corporation ' + HOSTILE_PRODUCT
    # nothing may be fetched or run, whatever gets through
    assert "default-src 'none'" in page and 'http://' not in page and 'https://' not in page


def test_control_characters_do_not_break_lines(sample):
    report = FleetReport({'ws-a': hostile(sample, 'GT1\nline two\r\x00| x')})
    assert 'GT1 line two \\| x' in report.markdown()
    rows = list(csv.DictReader(io.StringIO(report.csv())))
    assert [row['product'] for row in rows if row['device'] == IGPU] == ['GT1 line two | x']


def test_csv_quotes_every_cell_and_defuses_formulas(sample):
    report = FleetReport({'ws-a': hostile(sample, '=HYPERLINK("http://x", "a, b")')})
    text = report.csv()
    assert text.splitlines()[0] == ','.join('"%s"' % column for column in CSV_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 9
    igpu = [row for row in rows if row['device'] == IGPU][0]
    assert igpu['product'] == '\'=HYPERLINK("http://x", "a, b")'
    assert igpu['assignable'] == 'yes' and igpu['state'] == 'assignable' and igpu['iommu_group'] == '2'
    held = [row for row in rows if row['device'] == HELD_NIC][0]
    assert held['assigned_to'] == 'ci-runner' and held['blockers'] == 'assigned_elsewhere'
    assert '"\'=HYPERLINK(""http://x"", ""a, b"")"' in text


@pytest.mark.parametrize('value, shown', [('=1+1', "'=1+1"), ('+1', "'+1"), ('-1', "'-1"), ('@SUM(A1)', "'@SUM(A1)"),
                                          ('a=1', 'a=1'), (None, ''), (['x', 'y'], 'x, y'), (True, 'yes')])
def test_csv_cell(value, shown):
    assert csv_cell(value) == shown


def test_markdown_escapes_markup_and_pipes(sample):
    report = FleetReport({'ws-a': hostile(sample, '<script>x</script> | *bold* [link](http://x) `code`')})
    markdown = report.markdown()
    line = [line for line in markdown.splitlines() if line.startswith('| `0000:00:02.0`')][0]
    assert '\\<script\\>x\\</script\\> \\| \\*bold\\* \\[link\\](http://x) \\`code\\`' in line
    assert len(re.findall(r'(?<!\\)\|', line)) == 10  # nine cells, whatever the product says
    assert escape_markdown('a_b & c') == 'a\\_b \\& c'


# -- DOT ---------------------------------------------------------------------------------

def test_dot_has_a_cluster_per_iommu_group_and_the_pci_tree(report, sample):
    dot = report.dot('ws-a', 'h1')
    clusters = re.findall(r'subgraph "cluster_group_(\d+)" \{', dot)
    assert sorted(int(number) for number in clusters) == [group['number'] for group in sample['iommu_groups']]
    pci = [device for device in sample['devices'] if device['type'] == 'pci']
    for device in pci:
        assert len(re.findall(r'^ +"%s" \[id="h1_%s"' % (device['name'], device['name']), dot, re.M)) == 1
    edges = set(re.findall(r'^  "([^"]+)" -> "([^"]+)";$', dot, re.M))
    assert ('pci_0000_00_01_0', GPU) in edges and ('pci_0000_03_00_0', 'pci_0000_04_01_0') in edges
    assert ('h1:root', 'pci_0000_00_00_0') in edges
    assert len(edges) == len(pci)  # one parent each, the root ones from the host's node
    # members sit inside their group's cluster
    group_1 = dot[dot.index('subgraph "cluster_group_1"'):]
    group_1 = group_1[:group_1.index('\n  }')]
    assert sorted(re.findall(r'^    "(pci_[0-9a-f_]+)" \[', group_1, re.M)) == [
        'pci_0000_00_01_0', GPU, 'pci_0000_01_00_1']


def test_dot_marks_held_blocked_and_assignable_devices(report):
    nodes = dict(re.findall(r'^ +"(pci_[0-9a-f_]+)" \[(.*)\];$', report.dot('ws-a', 'h1'), re.M))
    assert 'fillcolor="#ffd8a8"' in nodes[HELD_NIC] and 'bold' in nodes[HELD_NIC]
    assert 'held by ci-runner' in nodes[HELD_NIC]
    assert 'fillcolor="#ffc9c9"' in nodes[GPU] and 'dashed' in nodes[GPU]
    assert 'blocked: group_not_viable' in nodes[GPU]
    assert 'fillcolor="#d3f9d8"' in nodes[IGPU] and 'assignable' in nodes[IGPU]
    assert 'fillcolor="#f1f3f5"' in nodes['pci_0000_00_01_0']  # a bridge is never eligible


def test_dot_without_iommu_has_no_clusters(report):
    dot = report.dot('ws-b', 'h2')
    assert 'cluster' not in dot and dot.count(' -> ') == 16
    assert 'blocked: iommu_off' in dot


def test_dot_quotes_hostile_text(sample):
    report = FleetReport({'ws "a"': hostile(sample, 'x" -> "evil" [label=\\N] \\')})
    dot = report.dot('ws "a"', 'h1')
    assert '"ws \\"a\\""' in dot
    assert 'x\\" -> \\"evil\\" [label=\\\\N] \\\\' in dot
    assert '"evil"' not in dot
    assert dot_string('a\\nb "c"') == '"a\\\\nb \\"c\\""'


def test_dot_ids_differ_between_hosts(report):
    sources = report.dot_sources()
    assert sorted(sources) == ['ws-a', 'ws-b']
    assert 'id="h1_graph"' in sources['ws-a'] and 'id="h2_graph"' in sources['ws-b']
    assert 'id="h1_group_1"' in sources['ws-a']


# -- the documents -----------------------------------------------------------------------

def test_html_embeds_the_pictures_it_is_given(report):
    svg = '<?xml version="1.0"?>\n<!DOCTYPE svg>\n<!-- Generated by graphviz -->\n<svg width="8pt"><g/></svg>\n'
    page = report.html({'ws-a': svg})
    assert page.count('<svg') == 1 and '<!DOCTYPE svg>' not in page and 'Generated by' not in page
    assert page.index('<svg width="8pt"><g/></svg>') > page.index('<section class="host" id="host-1">')
    assert page.index('<svg') < page.index('<section class="host" id="host-2">')
    assert embedded_svg('no picture') == ''


def test_html_summary_and_sections(report):
    page = report.html()
    summary = page[page.index('<table class="summary">'):page.index('</table>')]
    assert re.findall(r'<th scope="row">([^<]*)</th><td>([^<]*)</td>', summary) == report.summary_rows()
    assert [int(number) for number in re.findall(r'<section class="host" id="host-(\d+)">', page)] == [1, 2, 3]
    assert page.count('<tr class="state-') == 18
    assert '<p class="hint"><strong>Hint:</strong> the IOMMU is off' in page


def test_documents_and_their_names(report):
    documents = report.documents(['csv', 'html', 'markdown'], 'fleet')
    assert sorted(documents) == ['fleet.csv', 'fleet.html', 'fleet.md']
    assert documents['fleet.md'] == report.markdown()
    assert sorted(report.documents(['csv'], 'fleet')) == ['fleet.csv']
    assert FleetReport(report.facts).documents(['html'], 'fleet') == report.documents(['html'], 'fleet')


@pytest.mark.parametrize('basename', ['', '../x', 'a/b', '.hidden', '-x', 'a b', 'report\n', 'a\nb'])
def test_a_basename_is_a_plain_file_name(report, basename):
    with pytest.raises(ReportError, match='not a plain file name'):
        report.documents(['csv'], basename)


def test_unknown_format_is_refused(report):
    with pytest.raises(ReportError, match='unknown report formats pdf'):
        report.documents(['pdf'], 'fleet')


# -- compact facts ---------------------------------------------------------------------------

@pytest.fixture(scope='module')
def compact_report(sample_sysfs, iommu_off_root):
    return FleetReport({'ws-a': facts_of(sample_sysfs, 'compact'), 'ws-b': facts_of(iommu_off_root, 'compact'),
                        'ws-c': None})


def test_compact_facts_give_the_same_rows_but_names(report, compact_report):
    for host in ('ws-a', 'ws-b'):
        full = [report.device_row(host, device) for device in report.listed[host]]
        compact = [compact_report.device_row(host, device) for device in compact_report.listed[host]]
        assert len(compact) == len(full) == 9
        for whole, small in zip(full, compact):
            assert small == dict(whole, vendor=None, product=None), whole['device']
    summary = compact_report.summary
    assert dict(compact_report.summary_rows()) == dict(report.summary_rows())
    # without names, a GPU model is shown by its ids
    assert [(model['model'], model['ids'], model['free'], model['total']) for model in summary['gpu_models']] == [
        ('8086:4680', '8086:4680', 1, 2), ('10de:24b0', '10de:24b0', 0, 2)]


def test_compact_facts_draw_the_groups_without_the_bridges(compact_report, sample):
    dot = compact_report.dot('ws-a', 'h1')
    clusters = re.findall(r'subgraph "cluster_group_(\d+)" \{', dot)
    # group 0 (the host bridge), 5 and 7 (root ports) hold bridges only
    assert sorted(int(number) for number in clusters) == [1, 2, 3, 4, 6, 8, 9]
    nodes = dict(re.findall(r'^ +"(pci_[0-9a-f_]+)" \[(.*)\];$', dot, re.M))
    assert sorted(nodes) == sorted(device['name'] for device in sample['devices']
                                   if device['type'] == 'pci' and 'pci_bridge' not in device['passthrough']['reasons'])
    assert 'blocked: group_not_viable' in nodes[GPU] and 'held by ci-runner' in nodes[HELD_NIC]
    assert 'fillcolor="#f1f3f5"' in nodes['pci_0000_00_1f_4']  # the SMBus controller: not eligible
    page = compact_report.html()
    assert page.count('<tr class="state-') == 18 and '10de:24b0' in page


# -- at fleet scale ----------------------------------------------------------------------------

def test_identical_hosts_share_one_section_with_their_list(sample, iommu_off):
    released = copy.deepcopy(sample)
    for device in released['devices']:
        if device['name'] == HELD_NIC:
            device.update(assigned_to=[], assignable=True, blockers=[])
    report = FleetReport({'ws-a': sample, 'ws-d': copy.deepcopy(sample), 'ws-e': copy.deepcopy(sample),
                          'ws-b': iommu_off, 'ws-c': None, 'ws-f': None, 'ws-r': released})
    assert [(section.title, section.hosts) for section in report.sections] == [
        ('ws-a and 2 identical hosts', ['ws-a', 'ws-d', 'ws-e']), ('ws-b', ['ws-b']),
        ('ws-c and 1 identical hosts', ['ws-c', 'ws-f']), ('ws-r', ['ws-r'])]
    assert report.summary['sections'] == 4 and report.summary['hosts'] == 7
    # the counts are the hosts', not the sections'
    assert report.summary['gpus'] == 10 and report.summary['free_gpus'] == 4 and report.summary['held'] == 4
    assert report.summary['gpu_models'][0]['free_on'] == ['ws-a', 'ws-d', 'ws-e', 'ws-r']
    page = report.html()
    assert page.count('<section class="host"') == 4
    assert '<h2>ws-a and 2 identical hosts</h2>\n<div class="hosts">3 identical hosts: ws-a, ws-d, ws-e</div>' in page
    assert '<a href="#host-1" class="state-on">ws-a +2</a>' in page
    assert sorted(report.dot_sources()) == ['ws-a', 'ws-b', 'ws-r']  # one picture per section
    assert '"h1:root" [id="h1_root", label="ws-a and 2 identical hosts"' in report.dot_sources()['ws-a']
    markdown = report.markdown()
    assert markdown.count('\n## ws-') == 4 and '3 identical hosts: ws-a, ws-d, ws-e' in markdown
    rows = list(csv.DictReader(io.StringIO(report.csv())))
    assert sorted(set(row['host'] for row in rows)) == ['ws-a', 'ws-b', 'ws-c', 'ws-d', 'ws-e', 'ws-f', 'ws-r']
    assert len(rows) == 9 * 5 + 2  # every host's devices; a row for each host without facts


def test_a_long_list_of_hosts_is_folded(sample):
    report = FleetReport(dict(('hv%02d' % number, sample) for number in range(12)))
    page = report.html()
    assert '<div class="hosts">12 identical hosts: <details><summary>12 hosts: hv00, hv01, hv02, ...</summary><p>hv00, ' \
        in page
    assert dict(report.summary_rows())['With facts'] == '12'


def test_a_repeated_hint_is_shown_once_with_its_hosts(iommu_off_root, sample):
    full_off = facts_of(iommu_off_root)
    summary_off = facts_of(iommu_off_root, 'summary')
    report = FleetReport({'ws-a': sample, 'ws-b': full_off, 'ws-b2': copy.deepcopy(full_off),
                          'hv-1': summary_off, 'hv-2': copy.deepcopy(summary_off)})
    hint = full_off['iommu']['hint']
    assert report.summary['hints'] == [{'hint': hint, 'hosts': ['hv-1', 'hv-2', 'ws-b', 'ws-b2']}]
    assert dict(report.summary_rows())['IOMMU off'] == '4: hv-1, hv-2, ws-b, ws-b2'
    page = report.html()
    summary = page[page.index('<section id="summary">'):page.index('<section id="drift">')]
    assert summary.count('the IOMMU is off') == 1
    assert '<table class="hints">' in summary and '<td>hv-1, hv-2, ws-b, ws-b2</td>' in summary
    assert page.count('<p class="hint">') == 2  # once in each of the two sections (full, summary)
    assert report.markdown().count('the IOMMU is off') == 3


def as_display(facts, name, vendor_id, product_id, boot_vga=False):
    """A copy of facts whose device name is a display controller with these ids (the boot VGA device when
    boot_vga: not eligible then)."""
    changed = copy.deepcopy(facts)
    for device in changed['devices']:
        if device['name'] == name:
            device['pci'].update(vendor_id=vendor_id, product_id=product_id, boot_vga=boot_vga, vendor=None,
                                 product=None)
            if boot_vga:
                device.update(assignable=False, blockers=['not_eligible'],
                              passthrough={'eligible': False, 'reasons': ['boot_vga']})
    return changed


def test_bmc_and_boot_vga_displays_are_not_gpus_in_any_count(sample):
    # ws-a's integrated GPU made an ASPEED BMC display; ws-b's RTX A4000 made the boot VGA device
    report = FleetReport({'ws-a': as_display(sample, IGPU, '0x1a03', '0x2000'),
                          'ws-b': as_display(sample, GPU, '0x10de', '0x24b0', boot_vga=True)})
    summary = report.summary
    assert summary['gpus'] == 2 and summary['free_gpus'] == 1 and summary['displays'] == 2
    assert [(model['ids'], model['total'], model['free']) for model in summary['gpu_models']] == [
        ('8086:4680', 1, 1), ('10de:24b0', 1, 0)]
    assert dict(report.summary_rows())['Boot VGA and BMC displays'] == '2'
    rows = [report.device_row('ws-a', device) for device in report.listed['ws-a']]
    kinds = dict((row['device'], row['kind']) for row in rows)
    assert kinds[IGPU] == 'BMC display' and kinds[GPU] == 'GPU'
    assert report.device_row('ws-b', [device for device in report.listed['ws-b'] if device['name'] == GPU][0])[
        'kind'] == 'boot VGA'
    # the same from compact facts, where the boot VGA device is a display controller that is not eligible
    compact = FleetReport({'ws-b': dict(as_display(sample, GPU, '0x10de', '0x24b0', boot_vga=True), devices=[
        dict((key, value) for key, value in device.items() if key in ('name', 'type', 'pci', 'assignable', 'blockers',
                                                                      'assigned_to'))
        for device in as_display(sample, GPU, '0x10de', '0x24b0', boot_vga=True)['devices']])})
    assert compact.summary['displays'] == 1 and compact.summary['gpus'] == 1


def test_summary_facts_give_the_fleet_summary_that_full_facts_give(sample_sysfs, iommu_off_root):
    full = FleetReport({'ws-a': facts_of(sample_sysfs), 'ws-b': facts_of(iommu_off_root), 'ws-c': None})
    summary = FleetReport({'ws-a': facts_of(sample_sysfs, 'summary'), 'ws-b': facts_of(iommu_off_root, 'summary'),
                           'ws-c': None})
    same = ('hosts', 'with_facts', 'without_facts', 'iommu_off', 'hints', 'gpus', 'free_gpus', 'gpu_models',
            'displays', 'held', 'sections')
    assert dict((key, summary.summary[key]) for key in same) == dict((key, full.summary[key]) for key in same)
    assert summary.summary['summary_facts'] == ['ws-a', 'ws-b'] and full.summary['summary_facts'] == []
    assert summary.summary_rows() == full.summary_rows()
    assert summary.dot_sources() == {} and summary.dot('ws-a') is None


def test_summary_facts_sections_show_the_counts(sample_sysfs):
    report = FleetReport({'hv1': facts_of(sample_sysfs, 'summary')})
    assert report.iommu_details('hv1') == [('IOMMU', 'on, 10 groups'), ('Interrupt remapping', 'yes'),
                                           ('Read through', 'sysfs')]
    page = report.html()
    table = page[page.index('<table class="kinds">'):page.index('</table>', page.index('<table class="kinds">'))]
    cells = [re.findall(r'<td[^>]*>(.*?)</td>', row) for row in re.findall(r'<tr class="(?:kind|model)">.*?</tr>', table)]
    assert cells[:3] == [
        ['GPU', '', '<code></code>', '2', '1', '0', 'group_not_viable (1)'],
        ['', 'NVIDIA Corporation GA104GL [RTX A4000]', '<code>10de:24b0</code>', '1', '0', '', 'group_not_viable (1)'],
        ['', 'Intel Corporation AlderLake-S GT1', '<code>8086:4680</code>', '1', '1', '', '']]
    assert cells[3] == ['NIC', '', '<code></code>', '3', '0', '1', 'assigned_elsewhere (1), group_not_viable (2)']
    rows = list(csv.DictReader(io.StringIO(report.csv())))
    assert [(row['kind'], row['product'], row['ids'], row['count'], row['assignable'], row['state']) for row in rows] == [
        ('GPU', 'NVIDIA Corporation GA104GL [RTX A4000]', '10de:24b0', '1', '0', 'summary facts'),
        ('GPU', 'Intel Corporation AlderLake-S GT1', '8086:4680', '1', '1', 'summary facts'),
        ('NIC', '', '', '3', '0', 'summary facts'), ('storage controller', '', '', '1', '0', 'summary facts'),
        ('USB controller', '', '', '1', '1', 'summary facts'), ('audio controller', '', '', '2', '0', 'summary facts')]
    assert '| GPU |  |  | 2 | 1 | 0 | group\\_not\\_viable (1) |' in report.markdown()


def test_ids_without_names_are_named_by_the_source_given(sample_sysfs):
    asked = []

    def names(wanted):
        asked.append(set(wanted))
        return {('10de', '24b0'): ('NVIDIA Corporation', 'GA104GL [RTX A4000]')}
    report = FleetReport({'ws-a': facts_of(sample_sysfs, 'compact'), 'ws-f': facts_of(sample_sysfs)}, names=names)
    assert len(asked) == 1 and ('10de', '24b0') in asked[0] and ('8086', '4680') in asked[0]
    rows = dict((row['device'], row) for row in (report.device_row('ws-a', device) for device in report.listed['ws-a']))
    assert (rows[GPU]['vendor'], rows[GPU]['product']) == ('NVIDIA Corporation', 'GA104GL [RTX A4000]')
    assert rows[IGPU]['product'] is None  # the source has no name for it: its ids stay
    assert [model['model'] for model in report.summary['gpu_models']] == [
        'Intel Corporation AlderLake-S GT1', 'NVIDIA Corporation GA104GL [RTX A4000]']
    assert 'GA104GL [RTX A4000]' in report.dot('ws-a')
    FleetReport({'ws-f': facts_of(sample_sysfs)}, names=names)
    assert len(asked) == 1  # full facts have every name: nothing asked
