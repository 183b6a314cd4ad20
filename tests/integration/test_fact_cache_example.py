# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/examples/fact_cache/ end to end: play 1 gathers setup's facts and hostdev's summary facts in one
step into a jsonfile fact cache, the constructed inventory groups the hosts by those facts (a free GPU,
of which model), and play 2 targets the hosts with a free GPU without a gathering step, gathering full
facts on those hosts only. The example's own ansible.cfg, constructed inventory and playbooks run; only
its list of hosts is replaced by hosts on the local connection, each reading a fake host: the sample
workstation (IOMMU on, a free GPU), the same booted without an IOMMU, one whose free GPU a domain holds,
and one never gathered."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from support import COLLECTIONS_PATH, REPO_ROOT, ensure_collection_link
from support.fleet_hosts import build_fleet_hosts, local_inventory

EXAMPLE = os.path.join(REPO_ROOT, 'docs', 'examples', 'fact_cache')
HOSTS = {'ws-a': 'sample', 'ws-b': 'iommu_off', 'ws-c': 'gpu_held', 'ws-d': 'sample'}
NEVER_GATHERED = 'ws-d'


@pytest.fixture(scope='module')
def example(tmp_path_factory):
    """A copy of the example whose hosts are this machine's fake hosts; (directory, env)."""
    base = tmp_path_factory.mktemp('fact-cache')
    roots = build_fleet_hosts(str(base / 'hosts'))
    directory = str(base / 'example')
    shutil.copytree(EXAMPLE, directory)
    with open(os.path.join(directory, 'inventory', '01-hypervisors.yml'), 'w') as handle:
        handle.write(local_inventory(dict((name, roots[kind]) for name, kind in HOSTS.items())))
    ensure_collection_link()
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(directory, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR='1',
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(base / 'cache'),
               PATH=bindir + os.pathsep + os.environ.get('PATH', ''))
    for name in ('ANSIBLE_FACTS_MODULES', 'ANSIBLE_CACHE_PLUGIN', 'ANSIBLE_INVENTORY'):
        env.pop(name, None)
    return directory, env, str(base / 'cache')


def run(example, *command):
    directory, env, _cache = example
    tool = os.path.join(os.path.dirname(sys.executable), command[0])
    completed = subprocess.run([tool] + list(command[1:]), cwd=directory, env=env, capture_output=True,
                               text=True, stdin=subprocess.DEVNULL, timeout=300, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


@pytest.fixture(scope='module')
def gathered(example):
    """Play 1, on every host but the one never gathered; its output."""
    return run(example, 'ansible-playbook', 'gather.yml', '--limit', 'all:!%s' % NEVER_GATHERED)


def cached_facts(cache, name):
    files = [entry for entry in os.listdir(cache) if entry.endswith(name)]
    assert len(files) == 1, os.listdir(cache)
    with open(os.path.join(cache, files[0])) as handle:
        record = json.load(handle)
    return json.loads(record['__payload__']) if '__payload__' in record else record


def test_play_1_gathers_both_modules_in_one_step_into_the_cache(example, gathered):
    assert re.findall(r'^TASK \[(.*)\]', gathered, re.M) == ['Gathering Facts', 'Say what each host can give a guest now']
    assert "IOMMU on, 1 free GPU(s) ['Intel Corporation AlderLake-S GT1']" in gathered
    assert "IOMMU off, 0 free GPU(s) []" in gathered
    cache = example[2]
    assert not any(entry.endswith(NEVER_GATHERED) for entry in os.listdir(cache))
    for name in ('ws-a', 'ws-b', 'ws-c'):
        facts = cached_facts(cache, name)
        assert facts['ansible_distribution'] and facts['gather_subset'] == ['min'], name   # setup's, min
        assert list(facts['hostdev']) == ['source', 'iommu', 'kinds'], name  # summary: no device
        assert len(json.dumps(facts['hostdev'])) < 1200, name


def test_the_constructed_inventory_groups_the_hosts_by_their_cached_facts(example, gathered):
    assert inventory_groups(example) == EXPECTED_GROUPS
    hostvars = unwrapped(json.loads(run(example, 'ansible-inventory', '--list'))['_meta']['hostvars'])
    assert hostvars['ws-a']['free_gpus'] == 1 and hostvars['ws-a']['free_gpu_models'] == ['Intel Corporation AlderLake-S GT1']
    assert hostvars['ws-c']['free_gpus'] == 0 and 'free_gpus' not in hostvars[NEVER_GATHERED]


# The groups the constructed inventory makes of the cached facts (ws-d was never gathered).
EXPECTED_GROUPS = {
    'hypervisors': ['ws-a', 'ws-b', 'ws-c', 'ws-d'],
    'iommu_on': ['ws-a', 'ws-c'],
    'has_assignable_gpu': ['ws-a'],
    'hostdev_read_sysfs': ['ws-a', 'ws-b', 'ws-c'],
    'free_gpu_8086_4680': ['ws-a'],  # the sample's integrated GPU, free on ws-a only
}


def inventory_groups(example):
    """{group: sorted hosts} of ansible-inventory --graph, the groups with hosts only."""
    groups = {}
    current = None
    for line in run(example, 'ansible-inventory', '--graph').splitlines():
        group = re.match(r'^  \|--@(\w+):$', line)
        if group:
            current = group.group(1)
        host = re.match(r'^  \|  \|--([\w-]+)$', line)
        if host:
            groups.setdefault(current, []).append(host.group(1))
    return groups


def unwrapped(value):
    """ansible-inventory's JSON with its {"__ansible_unsafe": text} values as the text."""
    if isinstance(value, dict):
        if list(value) == ['__ansible_unsafe']:
            return value['__ansible_unsafe']
        return dict((key, unwrapped(item)) for key, item in value.items())
    if isinstance(value, list):
        return [unwrapped(item) for item in value]
    return value


def test_play_2_gathers_full_facts_only_on_the_hosts_with_a_free_gpu(example, gathered):
    output = run(example, 'ansible-playbook', 'free_gpus.yml')
    assert 'Gathering Facts' not in output
    assert re.findall(r'^ok: \[([\w-]+)\]', output, re.M) == ['ws-a', 'ws-a']  # its two tasks, on ws-a only
    assert 'ws-a: pci_0000_00_02_0 (IOMMU group 2)' in output
    # ws-a's cache now holds its full facts, the others' their summary; the groups are the same
    assert len(cached_facts(example[2], 'ws-a')['hostdev']['devices']) == 36
    assert 'devices' not in cached_facts(example[2], 'ws-b')['hostdev']
    assert inventory_groups(example) == EXPECTED_GROUPS
