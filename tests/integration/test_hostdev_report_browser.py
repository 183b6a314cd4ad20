"""The fleet report as a person sees it: the role writes it through ansible-playbook, Debian's
headless Chromium opens the page, and the assertions are on what it renders (visible text,
displayed SVG and its clusters, no script run), not on the HTML text. Also a report of 1,000
hosts (summary facts, full facts for 20), written by the module on the controller.

Chromium and chromedriver come from Debian's packages (bindep.txt); nothing is downloaded.
A screenshot of the whole page is left in .build/hostdev-report.png.
"""

import json
import os

import pytest
from selenium.webdriver.common.by import By

from support.browser import WAIT, chromium, load, timings
from support.fleet_hosts import build_fleet_hosts, fleet_facts
from support.playbook import REPO_ROOT
from support.report_hosts import HOSTILE_PRODUCT

from fixtures.synthetic_host import synthetic_sysfs

FACTS_PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks', 'report_facts.yml')
SCREENSHOT = os.path.join(REPO_ROOT, '.build', 'hostdev-report.png')
TOPOLOGY_SHOT = os.path.join(REPO_ROOT, '.build', 'hostdev-report-topology.png')


@pytest.fixture(scope='module')
def page(drift_report):
    """file:// URL of the report the role wrote for ws-a, ws-b (IOMMU off) and ws-c (no facts)."""
    returncode, output, _result = drift_report['first_run']
    assert returncode == 0, output
    return 'file://' + os.path.join(drift_report['dest'], 'hostdev-report.html')


@pytest.fixture(scope='module')
def browser():
    with chromium() as driver:
        yield driver


@pytest.fixture(scope='module')
def loaded(browser, page):
    return load(browser, page)


def visible_rows(element):
    """The rendered text of each cell, row by row (what a reader sees, not the markup)."""
    return [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, 'th, td')]
            for row in element.find_elements(By.CSS_SELECTOR, 'tr')]


def host_section(driver, name):
    for section in driver.find_elements(By.CSS_SELECTOR, 'section.host'):
        if section.find_element(By.TAG_NAME, 'h2').text == name:
            return section
    raise AssertionError('no section for %s' % name)


def test_summary_table_shows_the_fleet(loaded):
    summary = loaded.find_element(By.CSS_SELECTOR, '#summary table.summary')
    assert summary.is_displayed()
    assert visible_rows(summary) == [
        ['Hosts', '3'],
        ['With facts', '2'],
        ['Without facts', '1: ws-c'],
        ['Unreadable facts', '0'],
        ['IOMMU off', '1: ws-b'],
        ['Free GPUs', '1 of 4'],
        ['Boot VGA and BMC displays', '0'],
        ['Devices held by domains', '2'],
        ['Drift', '2 on 2 hosts: ws-a, ws-b'],
    ]
    gpus = visible_rows(loaded.find_element(By.CSS_SELECTOR, '#summary table.gpus'))
    assert gpus == [
        ['Model', 'IDs', 'Free', 'Total', 'Free on'],
        ['Intel Corporation ' + HOSTILE_PRODUCT, '8086:4680', '1', '2', 'ws-a'],
        ['NVIDIA Corporation GA104GL [RTX A4000]', '10de:24b0', '0', '2', ''],
    ]
    hints = visible_rows(loaded.find_element(By.CSS_SELECTOR, '#summary table.hints'))
    assert len(hints) == 2 and hints[1][0].startswith('the IOMMU is off: enable VT-d') and hints[1][1] == 'ws-b'


def test_drift_section_lists_the_entries(loaded):
    drift = visible_rows(loaded.find_element(By.CSS_SELECTOR, '#drift table.drift'))
    assert drift == [['Host', 'Mapping', 'Property', 'Expected', 'Found'],
                     ['ws-a', 'gpu-a4000', 'iommu_group', '3', '1'],
                     ['ws-b', 'nic-<lab>', 'driver', 'vfio-pci', 'null']]


def test_each_host_with_facts_has_a_displayed_topology_with_a_cluster_per_group(loaded):
    expected = {'ws-a': [str(number) for number in range(10)], 'ws-b': []}
    for host, groups in expected.items():
        section = host_section(loaded, host)
        svg = section.find_element(By.CSS_SELECTOR, 'figure.topology svg')
        assert svg.is_displayed()
        assert svg.size['width'] > 200 and svg.size['height'] > 200, svg.size
        rendered = loaded.execute_script(
            'const svg = arguments[0]; const box = svg.getBBox();'
            'return {width: box.width, height: box.height,'
            ' clusters: Array.from(svg.querySelectorAll("g.cluster > title"), t => t.textContent),'
            ' nodes: svg.querySelectorAll("g.node").length};', svg)
        assert rendered['width'] > 0 and rendered['height'] > 0
        assert sorted(rendered['clusters']) == sorted('cluster_group_' + group for group in groups)
        assert rendered['nodes'] == 17  # the host and its 16 PCI devices
        legend = section.find_element(By.CSS_SELECTOR, 'figcaption .legend')
        assert legend.is_displayed() and legend.text == 'held by a domain blocked assignable not eligible'


def test_held_and_blocked_devices_are_marked_in_the_picture(loaded):
    svg = host_section(loaded, 'ws-a').find_element(By.CSS_SELECTOR, 'figure.topology svg')
    fills = loaded.execute_script(
        'const fill = id => { const shape = arguments[0].querySelector("#" + id + " path, #" + id + " polygon");'
        '  return shape ? getComputedStyle(shape).fill : null; };'
        'return {held: fill("h1_pci_0000_02_00_0"), blocked: fill("h1_pci_0000_01_00_0"),'
        '        free: fill("h1_pci_0000_00_02_0"), bridge: fill("h1_pci_0000_00_01_0")};', svg)
    assert fills == {'held': 'rgb(255, 216, 168)', 'blocked': 'rgb(255, 201, 201)',
                     'free': 'rgb(211, 249, 216)', 'bridge': 'rgb(241, 243, 245)'}
    texts = [element.text for element in svg.find_elements(By.CSS_SELECTOR, '#h1_pci_0000_02_00_0 text')]
    assert 'held by ci-runner' in texts


def test_devices_table_shows_group_driver_holder_and_blockers(loaded):
    rows = visible_rows(host_section(loaded, 'ws-a').find_element(By.CSS_SELECTOR, 'table.devices'))
    assert rows[0] == ['Address', 'Kind', 'Product', 'IDs', 'Group', 'Driver', 'Held by', 'Assignable', 'Blockers']
    by_address = dict((row[0], row) for row in rows[1:])
    assert len(by_address) == 9
    assert by_address['0000:02:00.0'] == ['0000:02:00.0', 'NIC', 'Ethernet Controller I225-V', '8086:15f3', '6',
                                          'igc', 'ci-runner', 'no', 'assigned_elsewhere']
    assert by_address['0000:01:00.0'][4:] == ['1', 'nvidia', '', 'no', 'group_not_viable']
    assert host_section(loaded, 'ws-b').find_element(By.CSS_SELECTOR, 'p.hint').is_displayed()


def test_a_host_without_facts_is_listed_as_such(loaded):
    section = host_section(loaded, 'ws-c')
    assert section.find_element(By.CSS_SELECTOR, 'p.nofacts').text.startswith('No hostdev facts')
    assert section.find_elements(By.TAG_NAME, 'svg') == []


def test_hostile_product_name_is_text_and_runs_nothing(loaded):
    assert loaded.execute_script('return typeof window.hostdevPwned') == 'undefined'
    assert loaded.execute_script('return document.scripts.length') == 0
    table = host_section(loaded, 'ws-a').find_element(By.CSS_SELECTOR, 'table.devices')
    cells = [row[2] for row in visible_rows(table)]
    assert HOSTILE_PRODUCT in cells
    svg_texts = loaded.execute_script(
        'return Array.from(document.querySelectorAll("svg text"), t => t.textContent)'
        '.filter(t => t.indexOf("<script>") >= 0);')
    assert svg_texts == ['<script>window.hostdevPwned = 1</\u2026']  # the node's label, shortened
    # self-contained: the page loaded nothing besides itself
    assert loaded.execute_script('return performance.getEntriesByType("resource").length') == 0


def test_screenshots_of_the_page_and_a_picture(loaded):
    """For a person to look at: the whole page, and ws-a's topology at its own size."""
    os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
    height = loaded.execute_script('return document.documentElement.scrollHeight')
    assert 1000 < height < 20000
    # a viewport as tall as the page (a window that tall is capped by the virtual screen)
    loaded.execute_cdp_cmd('Emulation.setDeviceMetricsOverride',
                           {'width': 1400, 'height': height, 'deviceScaleFactor': 1, 'mobile': False})
    assert loaded.execute_script('return window.innerHeight') == height
    assert loaded.save_screenshot(SCREENSHOT)
    assert os.path.getsize(SCREENSHOT) > 50000
    figure = host_section(loaded, 'ws-a').find_element(By.CSS_SELECTOR, 'figure.topology')
    assert figure.screenshot(TOPOLOGY_SHOT)


# -- a fleet of 1,000 hosts ------------------------------------------------------------------------

FLEET_HOSTS = 1000
FLEET_FULL = 20


@pytest.fixture(scope='module')
def fleet_report(tmp_path_factory):
    """(file:// URL, module result) of the report the module wrote for 1,000 hosts: summary facts of the
    sample workstation, it without an IOMMU, it with its GPU held, and every 20th a synthetic host of 5,001
    devices; full facts for the first 20 that are not synthetic (the hosts a play picked)."""
    from support import run_playbook
    work = tmp_path_factory.mktemp('report-fleet')
    roots = build_fleet_hosts(str(work / 'hosts'))
    roots['large'] = synthetic_sysfs(str(work / 'hosts' / 'large'), 2500)
    facts = work / 'facts.json'
    facts.write_text(json.dumps(fleet_facts(roots, FLEET_HOSTS, FLEET_FULL)))
    dest = str(work / 'report')
    completed = run_playbook(FACTS_PLAYBOOK, extra_vars={'report_facts_file': str(facts), 'report_dest': dest},
                             timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    with open(dest + '.result.json') as handle:
        result = json.load(handle)
    return 'file://' + os.path.join(dest, 'hostdev-report.html'), result


def test_a_report_of_1000_hosts_renders_one_section_per_kind_of_host(browser, fleet_report):
    url, result = fleet_report
    timing = timings(load(browser, url))
    summary = result['summary']
    assert summary['hosts'] == FLEET_HOSTS and len(summary['summary_facts']) == FLEET_HOSTS - FLEET_FULL
    # three kinds of host with full facts, the same three and the synthetic one with summary facts
    assert summary['sections'] == 7
    sections = browser.find_elements(By.CSS_SELECTOR, 'section.host')
    assert len(sections) == 7 and len(browser.find_elements(By.CSS_SELECTOR, 'nav a')) == 7
    titles = [section.find_element(By.TAG_NAME, 'h2').text for section in sections]
    assert titles == ['host0000 and 6 identical hosts', 'host0001 and 5 identical hosts', 'host0002 and 6 identical hosts',
                      'host0019 and 49 identical hosts', 'host0021 and 309 identical hosts',
                      'host0022 and 309 identical hosts', 'host0023 and 309 identical hosts']
    pictures = browser.find_elements(By.CSS_SELECTOR, 'figure.topology svg')
    assert len(pictures) == 3 and all(svg.is_displayed() for svg in pictures)
    assert len(browser.find_elements(By.CSS_SELECTOR, 'table.kinds')) == 4
    rows = dict(visible_rows(browser.find_element(By.CSS_SELECTOR, '#summary table.summary')))
    assert rows['Hosts'] == '1000' and rows['IOMMU off'].startswith('366: host0001, host0004')
    assert rows['IOMMU off'].endswith(' and 356 more')
    # the IOMMU-off hint once, its 366 hosts (316 like the sample, the 50 synthetic) folded behind their count
    hints = browser.find_elements(By.CSS_SELECTOR, '#summary table.hints tbody tr')
    assert len(hints) == 1 and 'the IOMMU is off' in hints[0].text
    folded = hints[0].find_element(By.TAG_NAME, 'details')
    assert folded.find_element(By.TAG_NAME, 'summary').text == '366 hosts: host0001, host0004, host0007, ...'
    assert not folded.find_element(By.TAG_NAME, 'p').is_displayed() and not folded.get_property('open')
    assert 0 < timing['load'] < WAIT * 1000 and timing['height'] < 20000
    size = os.path.getsize(url[len('file://'):])
    assert size < 600 * 1024, size
