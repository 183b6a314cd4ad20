"""The hostdev_report role through ansible-playbook: facts gathered in the play (full, compact or summary)
or from the fact cache, idempotence, check mode and diff, and a controller without Graphviz."""

import csv
import os
import sys

import pytest

from support.report_hosts import FLEET_DRIFT, HOSTILE_PRODUCT, SAMPLE_IGPU_PRODUCT, build_fleet, run_report

FILES = ['hostdev-report.csv', 'hostdev-report.html', 'hostdev-report.md']


@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    return build_fleet(str(tmp_path_factory.mktemp('fleet')))


@pytest.fixture()
def report(fleet, tmp_path):
    """report(dest=tmp/report, check=False, env=None, **extra_vars) -> (returncode, output, result)."""
    def run(dest=None, check=False, env=None, **extra):
        return run_report(fleet, str(dest or tmp_path / 'report'), check, env, **extra)
    return run


@pytest.fixture(scope='module')
def full_report(fleet, tmp_path_factory):
    """The default report (full facts, no drift), written once for the tests that compare another
    report with it: (its directory, the role's result). Read it only."""
    dest = str(tmp_path_factory.mktemp('full') / 'report')
    returncode, output, result = run_report(fleet, dest)
    assert returncode == 0, output
    return dest, result


def csv_rows(path):
    with open(path, newline='') as handle:
        return list(csv.DictReader(handle))


def snapshot(directory):
    return dict((name, (os.stat(os.path.join(directory, name)).st_mtime_ns,
                        open(os.path.join(directory, name), 'rb').read()))
                for name in sorted(os.listdir(directory)))


def test_writes_the_report_once_then_changes_nothing(drift_report):
    """The first run (the session's drift report, whose page the browser tests read) writes the three
    files; a second run over the same fleet changes nothing."""
    returncode, output, result = drift_report['first_run']
    assert returncode == 0, output
    dest = drift_report['dest']
    assert sorted(os.listdir(dest)) == FILES
    assert result['changed'] is True and [entry['changed'] for entry in result['files']] == [True] * 3
    summary = result['summary']
    assert summary['without_facts'] == ['ws-c'] and summary['iommu_off'] == ['ws-b']
    assert (summary['free_gpus'], summary['gpus'], summary['drift']) == (1, 4, 2)
    rows = csv_rows(os.path.join(dest, 'hostdev-report.csv'))
    assert [row['host'] for row in rows] == ['ws-a'] * 9 + ['ws-b'] * 9 + ['ws-c']
    igpus = [row['product'] for row in rows if row['device'] == 'pci_0000_00_02_0']
    assert igpus == [HOSTILE_PRODUCT, 'AlderLake-S GT1']
    assert rows[-1]['state'] == 'no hostdev facts'
    before = snapshot(dest)

    returncode, output, result = run_report(drift_report['fleet'], dest, hostdev_report_drift=FLEET_DRIFT)
    assert returncode == 0, output
    assert result['changed'] is False and not any(entry['changed'] for entry in result['files'])
    assert snapshot(dest) == before


def test_check_mode_and_diff_tell_what_would_change(report, tmp_path):
    assert report()[0] == 0
    dest = str(tmp_path / 'report')
    before = snapshot(dest)
    returncode, output, result = report(check=True, env={'ANSIBLE_DIFF_ALWAYS': '1'}, hostdev_report_drift=FLEET_DRIFT)
    assert returncode == 0, output
    assert snapshot(dest) == before
    assert result['changed'] is True
    # the drift is in the page and the Markdown; the CSV lists devices only
    assert [(os.path.basename(entry['path']), entry['changed']) for entry in result['files']] == [
        ('hostdev-report.csv', False), ('hostdev-report.html', True), ('hostdev-report.md', True)]
    assert '+| ws-a | gpu-a4000 | iommu\\_group | 3 | 1 |' in output
    assert '-No mappings checked.' in output


def test_facts_from_the_fact_cache(report, tmp_path):
    cache = {'ANSIBLE_CACHE_PLUGIN': 'jsonfile', 'ANSIBLE_CACHE_PLUGIN_CONNECTION': str(tmp_path / 'cache')}
    assert report(dest=tmp_path / 'gathered', env=cache)[0] == 0
    returncode, output, result = report(dest=tmp_path / 'cached', env=cache, report_gather=False)
    assert returncode == 0, output
    gathering = output.split("TASK [Gather the host's devices]")[1].split('TASK [')[0]
    assert 'ok: [' not in gathering and 'skipping: [ws-a]' in gathering
    assert result['summary']['with_facts'] == ['ws-a', 'ws-b']
    assert csv_rows(str(tmp_path / 'cached' / 'hostdev-report.csv')) == \
        csv_rows(str(tmp_path / 'gathered' / 'hostdev-report.csv'))
    # without the cache, the same run has no facts at all; a name not in the inventory neither
    returncode, output, result = report(dest=tmp_path / 'nothing', report_gather=False,
                                        hostdev_report_hosts=['ws-a', 'ws-b', 'ws-c', 'not-in-inventory'])
    assert returncode == 0, output
    assert result['summary']['without_facts'] == ['not-in-inventory', 'ws-a', 'ws-b', 'ws-c']


def test_the_report_from_compact_facts(report, tmp_path, fleet, full_report):
    """Compact facts give the same rows, states and summary; the controller's pci.ids names the ids they carry."""
    # ws-b's pci.ids is the sample's; ws-a's names its integrated GPU with hostile text, which full facts read
    pci_ids = os.path.join(os.path.dirname(fleet[1]['root']), 'usr', 'share', 'misc', 'pci.ids')
    returncode, output, result = report(dest=tmp_path / 'compact', report_facts='compact',
                                        hostdev_report_pci_ids=pci_ids)
    assert returncode == 0, output
    full = csv_rows(os.path.join(full_report[0], 'hostdev-report.csv'))
    compact = csv_rows(str(tmp_path / 'compact' / 'hostdev-report.csv'))
    assert compact == [dict(row, product=SAMPLE_IGPU_PRODUCT) if row['product'] == HOSTILE_PRODUCT else row
                       for row in full]
    assert result['summary']['free_gpus'] == 1 and result['summary']['gpus'] == 4
    assert result['summary']['iommu_off'] == ['ws-b'] and result['summary']['without_facts'] == ['ws-c']
    assert '<svg' in open(str(tmp_path / 'compact' / 'hostdev-report.html')).read()
    # by default, the controller's own pci.ids (Debian's pci.ids package) names the vendors
    returncode, output, result = report(dest=tmp_path / 'default', report_facts='compact')
    assert returncode == 0, output
    vendors = set(row['vendor'] for row in csv_rows(str(tmp_path / 'default' / 'hostdev-report.csv')) if row['device'])
    assert vendors == {'Intel Corporation', 'NVIDIA Corporation'}


def test_the_report_from_summary_facts(report, tmp_path, full_report):
    """Summary facts give the same fleet summary, a section of counts per host, and no picture."""
    full = full_report[1]
    returncode, output, result = report(dest=tmp_path / 'summary', report_facts='summary')
    assert returncode == 0, output
    assert result['summary']['summary_facts'] == ['ws-a', 'ws-b']
    for key in ('hosts', 'with_facts', 'without_facts', 'iommu_off', 'hints', 'gpus', 'free_gpus', 'held'):
        assert result['summary'][key] == full['summary'][key], key
    rows = csv_rows(str(tmp_path / 'summary' / 'hostdev-report.csv'))
    assert [(row['host'], row['kind'], row['count']) for row in rows if row['host'] == 'ws-a'][:2] == [
        ('ws-a', 'GPU', '1'), ('ws-a', 'GPU', '1')]
    assert set(row['state'] for row in rows) == {'summary facts', 'no hostdev facts'}
    page = open(str(tmp_path / 'summary' / 'hostdev-report.html')).read()
    assert page.count('<table class="kinds">') == 2 and '<svg' not in page


def path_without_dot(bindir):
    """A PATH with every command of this one but Graphviz's dot."""
    os.makedirs(bindir)
    for directory in os.environ.get('PATH', '').split(os.pathsep):
        for name in os.listdir(directory) if os.path.isdir(directory) else ():
            link = os.path.join(bindir, name)
            if name != 'dot' and not os.path.lexists(link):
                os.symlink(os.path.join(directory, name), link)
    return os.pathsep.join([os.path.dirname(sys.executable), bindir])


def test_without_graphviz_the_message_names_the_package(report, tmp_path):
    no_dot = {'PATH': path_without_dot(str(tmp_path / 'bin'))}
    returncode, output, _result = report(env=no_dot)
    assert returncode != 0
    assert "dot command is not on the controller's PATH: install the graphviz package" in output
    assert not os.path.exists(str(tmp_path / 'report'))
    returncode, output, result = report(env=no_dot, hostdev_report_topology=False)
    assert returncode == 0, output
    assert '<svg' not in open(str(tmp_path / 'report' / 'hostdev-report.html')).read()
