"""make bench-fleet's pieces: the bytes part (c) runs and its figures hang together, the goals of (a) are
what the README says, and the report part (e) runs on a small fleet (smoke tests: they time nothing)."""

import json
import os
import subprocess
import sys

BENCH_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'bench')
BENCH = os.path.join(BENCH_DIR, 'bench_fleet.py')
sys.path.insert(0, BENCH_DIR)
import bench_fleet  # noqa: E402  pylint: disable=wrong-import-position
from bench_fleet import controller_walk, play_goals, report_figures, table  # noqa: E402  pylint: disable=wrong-import-position

from fixtures.synthetic_host import synthetic_sysfs  # noqa: E402  pylint: disable=wrong-import-position
from support.fleet_hosts import build_fleet_hosts  # noqa: E402  pylint: disable=wrong-import-position


def test_bytes_part_writes_coherent_figures_and_a_table(tmp_path):
    env = dict(os.environ, BENCH_FLEET_PARTS='c', BENCH_FLEET_OUT=str(tmp_path))
    completed = subprocess.run([sys.executable, BENCH], capture_output=True, text=True, env=env, timeout=600,
                               check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    figures = json.loads((tmp_path / 'fleet.json').read_text())['bytes']
    rows = dict((row['host'], row) for row in figures['rows'])
    assert sorted(rows) == ['gpu_held', 'iommu_off', 'large', 'sample']
    for row in rows.values():
        assert 0 < row['compact_bytes'] < row['full_bytes'] and 0 < row['compact_devices'] < row['devices']
        # parsed facts weigh more than their JSON; the floors weigh less than the facts they stand for
        assert row['full_parsed'] > row['full_bytes'] and row['compact_parsed'] > row['compact_bytes']
        assert 0 < row['summary_bytes'] < row['compact_bytes'] and 0 < row['summary_parsed'] < row['compact_parsed']
        assert row['compact_parsed_per_device'] == row['compact_parsed'] / row['compact_devices']
        assert 0 < row['names_parsed'] < row['records_parsed'] < row['compact_parsed']
        assert 0 < row['undeviced_parsed'] < row['compact_parsed']
        if controller_walk() is not None:  # ansible-core 2.16 has no such walk
            assert row['compact_walk_seconds'] > 0 and row['full_walk_seconds'] > 0  # measured, not compared
        else:
            assert row['compact_walk_seconds'] is None and row['full_walk_seconds'] is None
    assert rows['large']['devices'] == 5001 and rows['large']['compact_devices'] == 2500
    fleet = figures['fleet']
    assert fleet['compact_bytes'] == sum(rows[kind]['compact_bytes'] * count for kind, count in figures['mix'].items())
    assert figures['setup_min']['bytes'] > 1000 and figures['setup_min']['parsed'] > figures['setup_min']['bytes']
    assert '(c) bytes of facts per host' in completed.stdout and 'the fleet of (a), in all' in completed.stdout
    # the goals as measured: each holds when every kind of host is under it
    assert figures['goals'] == {
        'compact_per_device_under_1_2_kb': all(row['compact_parsed_per_device'] < 1.2 * 1024 for row in rows.values()),
        'summary_under_2_kb': all(row['summary_parsed'] < 2048 for row in rows.values())}
    assert 'goal: compact facts < 1.2 KB parsed per listed device: ' in completed.stdout
    assert 'summary facts < 2 KB parsed per host: ' in completed.stdout


def test_parsed_bytes_counts_the_containers_a_free_list_would_hide():
    """Many hosts' facts are held at once, so no container of theirs comes from CPython's free lists:
    the parsed size of forty small dicts is at least forty such dicts, even when the free lists are full."""
    one = json.loads('{"a": 1}')
    value = [{'a': index} for index in range(40)]
    refill = [{} for _dict in range(200)] + [[] for _list in range(200)]
    del refill  # the dict and list free lists now hold their 80 each, which a single parse would take
    assert bench_fleet.parsed_bytes(value) >= 40 * sys.getsizeof(one)
    assert bench_fleet.parsed_copies('x' * 100) == bench_fleet.PARSED_COPIES_MAX
    assert bench_fleet.parsed_copies('x' * (bench_fleet.PARSED_BYTES_TARGET + 1)) == 1


def test_a_plays_peak_is_its_own_not_that_of_the_process_that_started_it(tmp_path):
    """This process holding 256 MB does not show in the peak of a command the bench runs (a child started
    straight from it would report it: Linux keeps the pre-exec high-water mark in ru_maxrss)."""
    held = bytearray(b'\x01') * (256 * 1024 * 1024)  # written, so resident
    log = str(tmp_path / 'run.log')
    run = bench_fleet.measured_run([sys.executable, '-c', 'print(len(bytearray(64 * 1024 * 1024)))'], log,
                                   dict(os.environ))
    assert run['returncode'] == 0 and open(log).read().strip() == str(64 * 1024 * 1024)
    assert 10 * 1024 < run['peak_kb'] < 160 * 1024, run
    assert run['seconds'] > 0 and run['cpu_seconds'] > 0
    del held


def plays(setup, compact, full, summary, noop_kb=100000):
    """Medians of the plays of (a): (seconds, peak KB) of each, the no-op's peak noop_kb."""
    found = {'noop': {'seconds': 1.0, 'cpu_seconds': 1.0, 'peak_kb': noop_kb}}
    for name, (seconds, peak) in (('setup', setup), ('compact', compact), ('full', full), ('summary', summary)):
        found[name] = {'seconds': seconds, 'cpu_seconds': seconds, 'peak_kb': peak, 'added_kb': peak - noop_kb}
    return found


def test_the_goals_of_the_plays_are_the_restated_ones():
    holding = plays(setup=(100.0, 140000), compact=(100.0, 180000), full=(125.0, 500000), summary=(90.0, 119999))
    assert play_goals(holding) == {'compact_no_slower_than_setup': True, 'full_within_1_25_of_setup': True,
                                   'summary_memory_under_half_of_setup': True}
    assert holding['summary']['memory_vs_setup'] < 0.5 and holding['full']['time_vs_setup'] == 1.25
    failing = plays(setup=(100.0, 140000), compact=(100.5, 120000), full=(125.5, 120000), summary=(50.0, 120000))
    assert play_goals(failing) == {'compact_no_slower_than_setup': False, 'full_within_1_25_of_setup': False,
                                   'summary_memory_under_half_of_setup': False}
    # setup adding nothing measurable: the memory goal cannot be told, so it does not hold
    unknown = plays(setup=(100.0, 100000), compact=(90.0, 100000), full=(100.0, 100000), summary=(90.0, 100000))
    assert play_goals(unknown)['summary_memory_under_half_of_setup'] is False
    assert unknown['summary']['memory_vs_setup'] is None


def test_the_report_part_on_a_small_fleet(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_fleet, 'LARGE_EVERY', 10)
    roots = build_fleet_hosts(str(tmp_path / 'hosts'))
    roots['large'] = synthetic_sysfs(str(tmp_path / 'hosts' / 'large'), 40)
    work = tmp_path / 'work'
    work.mkdir()
    figures = report_figures(str(work), roots, 30, 4, browser=False)
    # 4 kinds of host with summary facts; the three small ones with full facts too: 7 sections, 3 pictures
    assert (figures['hosts'], figures['full_hosts'], figures['sections'], figures['pictures']) == (30, 4, 7, 3)
    assert figures['module']['seconds'] > 0 and figures['module']['peak_kb'] > 0 and figures['same_page'] is True
    assert sorted(figures['file_bytes']) == ['hostdev-report.csv', 'hostdev-report.html', 'hostdev-report.md']
    assert figures['file_bytes']['hostdev-report.html'] > 10000 and figures['facts_bytes'] > 4 * 20000
    figures['render'] = {'dom': 100.0, 'load': 120.0, 'paint': None, 'height': 5000}
    shown = table({'machine': {'cpus': 2, 'cpu': '', 'python': '3', 'load': (0.0,)}, 'load_at_end': (0.0,),
                   'report': figures})
    assert '(e) the report of the fleet of (a): summary facts, full facts for 4 hosts' in shown
    assert 'Chromium: DOMContentLoaded 100 ms, load 120 ms, first contentful paint n/a ms' in shown
