"""make bench-fleet's bytes part (c) runs and its figures hang together (a smoke test: it times nothing)."""

import json
import os
import subprocess
import sys

BENCH_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'bench')
BENCH = os.path.join(BENCH_DIR, 'bench_fleet.py')
sys.path.insert(0, BENCH_DIR)
from bench_fleet import controller_walk  # noqa: E402  pylint: disable=wrong-import-position


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
