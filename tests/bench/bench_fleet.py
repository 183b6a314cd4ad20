#!/usr/bin/env python
"""make bench-fleet: hostdev facts at fleet scale, measured side by side in one run.

(a) A fleet of inventory hosts (1,000 by default, local connection, forks 20), each reading one of
    a few fake hosts through ``source: sysfs`` and ``sysfs_root``: the sample workstation, the same
    booted without an IOMMU, one whose free GPU a domain holds, and (every 20th host) a synthetic
    host of 5,001 devices. Plays of one task each: ``ansible.builtin.setup`` with
    ``gather_subset: min``, and ``virt.hostdev.hostdev_facts`` with ``facts: compact``,
    ``facts: full`` and ``facts: summary``, after a no-op play (the baseline of memory). Per play: wall
    seconds, CPU seconds and the controller's peak memory (the largest ru_maxrss of ansible-playbook
    and the workers it forked, from wait4 in a launcher started fresh, see LAUNCHER). The cost of a play's facts is its peak minus the no-op
    play's. Goals: compact facts no slower than setup min, full facts within 1.25 times; summary
    facts add under half of what setup min adds to the controller's peak.
(b) The sysfs path (SysfsReader, the model, the blockers and the full facts: what hostdev_facts runs
    with ``source: sysfs``) against a bare Python walk of the same files (list the device links,
    os.path.realpath each, open and read each attribute the reader reads, readlink each link it
    reads), on synthetic hosts of about 2,500, 5,000 and 10,000 devices; also against a lean walk
    (no path resolution, raw reads: the I/O alone).
(c) Bytes of facts per host (JSON as a module returns them), full, compact and summary, beside setup
    min's; and what each costs once parsed into Python objects (tracemalloc of json.loads, as the
    controller holds facts), with two floors of any facts that list the same devices: their names
    alone, and one record of compact's keys per device with every value null; and compact facts
    without their devices (the IOMMU state and groups alone). Also the seconds ansible-core's controller
    spends walking one such result (transform_to_native_types, module_response_deepcopy and
    strip_internal_keys, which every task result goes through). Goals: compact facts under 1.2 KB
    parsed per listed device, summary facts under 2 KB parsed per host, on every kind of host.
    (tracemalloc of json.loads over many copies of small facts, per copy: CPython's free lists of dicts
    and lists hide up to 80 containers from one parse, which would make small facts look half their size.)
(d) The same fleet as a fleet gathers: one ``gather_facts`` step with ``setup`` (``gather_subset:
    min``) alone, and with ``setup`` and ``hostdev_facts`` (``facts: compact``) side by side, plus a
    play of ``ansible.builtin.ping`` (a task result that holds almost nothing: what any task's result
    costs the controller). What compact facts add beside setup is the difference of the two gathers.
(e) The fleet's report: the facts of the fleet of (a) as a fact cache would hold them (summary facts,
    full facts for BENCH_FLEET_REPORT_FULL hosts), through virt.hostdev.hostdev_report in one
    ansible-playbook run on the controller (wall seconds, peak memory), the same report built in
    process (seconds to build, draw and write), the size of each file, and the HTML page rendered by
    Debian's headless Chromium (DOMContentLoaded, load and first paint, in milliseconds).

Variants are interleaved: each round of (b) alternates which of walk and path goes first, and the
plays of (a) run in the order given, then reversed for further rounds. Prints a short table and
writes every figure to .build/bench/fleet.json. Not a test: nothing here fails on a slow machine.

Environment: BENCH_FLEET_HOSTS (1000: the size of the fleet of a, d and e), BENCH_FLEET_FORKS (20),
BENCH_FLEET_LARGE_EVERY (20), BENCH_FLEET_PLAY_ROUNDS (1), BENCH_FLEET_SYSFS_ROUNDS (5),
BENCH_FLEET_SIZES (2500,5000,10000), BENCH_FLEET_REPORT_FULL (20), BENCH_FLEET_PARTS (abcde),
BENCH_FLEET_OUT (.build/bench).
"""

import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)
sys.path.insert(0, TESTS)
from support import ensure_collection_link  # noqa: E402
from support.bare_walk import read_link, read_text  # noqa: E402

COLLECTIONS = ensure_collection_link()
sys.path.insert(0, COLLECTIONS)

from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import COMPACT_DEVICE_KEYS  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import assignability  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report import FleetReport  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_files import pci_names  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_values import FORMATS  # noqa: E402

from fixtures.synthetic_host import synthetic_sysfs  # noqa: E402
from support.fleet_hosts import FLEET_KINDS, build_fleet_hosts, fleet_facts, fleet_kinds  # noqa: E402


def setting(name, default):
    return type(default)(os.environ.get('BENCH_FLEET_' + name, default))


HOSTS = setting('HOSTS', 1000)
FORKS = setting('FORKS', 20)
LARGE_EVERY = setting('LARGE_EVERY', 20)
PLAY_ROUNDS = setting('PLAY_ROUNDS', 1)
SYSFS_ROUNDS = setting('SYSFS_ROUNDS', 5)
SIZES = [int(size) for size in setting('SIZES', '2500,5000,10000').split(',')]
REPORT_FULL = setting('REPORT_FULL', 20)
PARTS = setting('PARTS', 'abcde')
OUT = setting('OUT', os.path.join(REPO, '.build', 'bench'))
LARGE_ENDPOINTS = 2500  # the synthetic large host: 5,001 devices

KINDS = FLEET_KINDS
KIND_LABELS = {'sample': 'sample workstation', 'iommu_off': 'sample, IOMMU off',
               'gpu_held': 'sample, GPU held', 'large': 'synthetic (SR-IOV-like)'}


# -- the facts of one host, as the module makes them ---------------------------------------------

def facts_of(root, mode, *more_modes):
    """The facts in mode (a dict), or with more_modes a list of them in that order, from one read of the host:
    the read does not depend on the mode, so the bytes of (c) do not need one read per mode."""
    model, used, _warnings = read_host('sysfs', 'qemu:///system', root)
    made = [model.facts(used, assignability(model, model.facts_names(each)), each) for each in (mode,) + more_modes]
    return made if more_modes else made[0]


def json_bytes(value):
    """Bytes of a value as JSON, as a module writes its result."""
    return len(json.dumps(value))


# What a fleet's controller holds is many hosts' facts at once: parse enough copies that CPython's
# free lists (the last 80 freed dicts and lists, reused without a new allocation) are a rounding
# error, and count the bytes per copy. One parse alone hides up to 80 containers, which made small
# facts look half their size.
PARSED_COPIES_MAX = 200
PARSED_BYTES_TARGET = 2000000  # JSON bytes parsed per measurement: many copies of small facts, one of large


def parsed_copies(text):
    return max(1, min(PARSED_COPIES_MAX, PARSED_BYTES_TARGET // max(1, len(text))))


def parsed_bytes(value):
    """Bytes one copy of the value takes in Python once its JSON is parsed, among many hosts' copies
    (what the controller holds per host): tracemalloc of json.loads over parsed_copies() copies."""
    text = json.dumps(value)
    copies = parsed_copies(text)
    tracemalloc.start()
    try:
        parsed = [json.loads(text) for _copy in range(copies)]
        held_bytes = tracemalloc.get_traced_memory()[0] - sys.getsizeof(parsed)
    finally:
        tracemalloc.stop()
    del parsed
    return held_bytes // copies


def controller_walk():
    """ansible-core's walk of every value of a task result on the controller, as one function: the
    stdout callback's transform_to_native_types, then module_response_deepcopy and strip_internal_keys
    (the same calls as ansible-core 2.19); None where this ansible-core has no such calls (2.16)."""
    try:
        from ansible.utils.vars import transform_to_native_types
        from ansible.vars.clean import module_response_deepcopy, strip_internal_keys
    except ImportError:
        return None

    def walk(result):
        transform_to_native_types(result)
        strip_internal_keys(module_response_deepcopy(result))
    return walk


def controller_walk_seconds(facts):
    """Seconds controller_walk() takes on a result holding these facts; None without one."""
    walk = controller_walk()
    if walk is None:
        return None
    result = json.loads(json.dumps({'changed': False, 'ansible_facts': {'hostdev': facts}}))
    start = time.perf_counter()
    walk(result)
    return time.perf_counter() - start


def setup_min_facts():
    """ansible.builtin.setup's facts with gather_subset min on this machine, run as a module."""
    with tempfile.NamedTemporaryFile('w', suffix='.json') as args:
        json.dump({'ANSIBLE_MODULE_ARGS': {'gather_subset': 'min'}}, args)
        args.flush()
        completed = subprocess.run([sys.executable, '-m', 'ansible.modules.setup', args.name],
                                   capture_output=True, text=True, check=True, timeout=120)
    return json.loads(completed.stdout)['ansible_facts']


# -- (b) the sysfs path against a bare walk ----------------------------------------------------

# What SysfsReader reads of each device (sysfs_reader.py), and udev's data for the names of a PCI
# device when the host has no pci.ids (id_names.py): the synthetic hosts have none.
PCI_ATTRIBUTES = ('vendor', 'device', 'boot_vga', 'reset_method', 'class', 'subsystem_vendor',
                  'subsystem_device', 'numa_node', 'sriov_totalvfs')
PCI_LINKS = ('iommu_group', 'physfn', 'driver')
USB_ATTRIBUTES = ('busnum', 'devnum', 'idVendor', 'idProduct', 'bDeviceClass', 'bInterfaceNumber',
                  'bInterfaceClass', 'bInterfaceSubClass', 'bInterfaceProtocol')
SCSI_ATTRIBUTES = ('type',)


def bare_walk(sys_root):
    """The floor: every device link listed and resolved (os.path.realpath), every attribute file the
    reader reads opened and read, every link it reads read; no records, no model, no facts."""
    values = []
    host = os.path.dirname(sys_root)
    pci_root = os.path.join(sys_root, 'bus', 'pci', 'devices')
    for entry in sorted(os.listdir(pci_root)):
        base = os.path.realpath(os.path.join(pci_root, entry))
        values.append([read_text(os.path.join(base, name)) for name in PCI_ATTRIBUTES]
                      + [read_link(os.path.join(base, name)) for name in PCI_LINKS]
                      + [os.path.isdir(os.path.join(base, 'mdev_supported_types')),
                         read_text(os.path.join(host, 'run', 'udev', 'data', '+pci:' + entry))])
    for parts, attributes in ((('bus', 'usb', 'devices'), USB_ATTRIBUTES),
                              (('bus', 'scsi', 'devices'), SCSI_ATTRIBUTES),
                              (('class', 'net'), ('address',)),
                              (('class', 'block'), ('dev',))):
        listing = os.path.join(sys_root, *parts)
        for entry in sorted(os.listdir(listing)) if os.path.isdir(listing) else ():
            base = os.path.realpath(os.path.join(listing, entry))
            values.append([read_text(os.path.join(base, name)) for name in attributes]
                          + [read_link(os.path.join(base, 'driver'))])
    return values


def _raw(path):
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(descriptor, 65536)
    except OSError:
        return None
    finally:
        os.close(descriptor)


def lean_walk(sys_root):
    """The I/O alone: the same files, read raw through the links, nothing resolved."""
    values = []
    host = os.path.dirname(sys_root)
    pci_root = sys_root + '/bus/pci/devices/'
    for entry in os.listdir(pci_root):
        base = pci_root + entry + '/'
        values.append([_raw(base + name) for name in PCI_ATTRIBUTES] + [read_link(base + name) for name in PCI_LINKS]
                      + [os.path.isdir(base + 'mdev_supported_types'), _raw(host + '/run/udev/data/+pci:' + entry)])
    net_root = sys_root + '/class/net/'
    for entry in os.listdir(net_root):
        values.append([_raw(net_root + entry + '/address'), read_link(net_root + entry + '/driver')])
    return values


def sysfs_path(sys_root):
    """What hostdev_facts runs with source: sysfs: read, model, blockers, full facts."""
    return facts_of(sys_root, 'full')


def timed(func, *args):
    start = time.perf_counter()
    func(*args)
    return time.perf_counter() - start


def bench_sysfs(work):
    trees = {}
    for size in SIZES:
        root = synthetic_sysfs(os.path.join(work, 'synthetic-%d' % size), max(4, size // 2 // 4 * 4))
        devices = len(read_host('sysfs', 'qemu:///system', root)[0].names())
        trees[size] = (root, devices)
    times = dict((size, {'walk': [], 'path': [], 'lean': []}) for size in SIZES)
    for round_ in range(SYSFS_ROUNDS):
        for size in SIZES if round_ % 2 == 0 else list(reversed(SIZES)):
            root = trees[size][0]
            order = ('walk', 'path', 'lean') if round_ % 2 == 0 else ('path', 'walk', 'lean')
            for variant in order:
                func = {'walk': bare_walk, 'path': sysfs_path, 'lean': lean_walk}[variant]
                times[size][variant].append(timed(func, root))
    rows = []
    for size in SIZES:
        walk, path, lean = (statistics.median(times[size][key]) for key in ('walk', 'path', 'lean'))
        rows.append({'devices': trees[size][1], 'walk_seconds': walk, 'path_seconds': path,
                     'lean_walk_seconds': lean, 'ratio': path / walk, 'ratio_to_lean': path / lean,
                     'path_us_per_device': path / trees[size][1] * 1e6, 'samples': times[size]})
    growth = [rows[index + 1]['path_seconds'] / rows[index]['path_seconds'] for index in range(len(rows) - 1)]
    return {'rounds': SYSFS_ROUNDS, 'rows': rows, 'path_growth_per_step': growth,
            'goal_ratio': 1.10, 'goal_held': all(row['ratio'] <= 1.10 for row in rows)}


# -- (c) bytes of facts per host ---------------------------------------------------------------

BYTES_KEYS = ('full_bytes', 'compact_bytes', 'summary_bytes', 'full_parsed', 'compact_parsed', 'summary_parsed',
              'names_parsed', 'records_parsed', 'undeviced_parsed')
# The goals of (c): compact facts parsed per device they list, summary facts parsed per host.
COMPACT_PER_DEVICE_GOAL = 1.2 * 1024
SUMMARY_PER_HOST_GOAL = 2 * 1024


def bench_bytes(roots, mix):
    rows = []
    for kind, root in roots.items():
        full, compact, summary = facts_of(root, 'full', 'compact', 'summary')
        full_bytes, compact_bytes = json_bytes(full), json_bytes(compact)
        compact_parsed = parsed_bytes(compact)
        rows.append({'host': kind, 'devices': len(full['devices']), 'compact_devices': len(compact['devices']),
                     'full_bytes': full_bytes, 'compact_bytes': compact_bytes, 'summary_bytes': json_bytes(summary),
                     'ratio': compact_bytes / float(full_bytes),
                     'full_parsed': parsed_bytes(full), 'compact_parsed': compact_parsed,
                     'compact_parsed_per_device': compact_parsed / float(len(compact['devices'])),
                     'summary_parsed': parsed_bytes(summary),
                     'names_parsed': parsed_bytes([device['name'] for device in compact['devices']]),
                     'records_parsed': parsed_bytes([dict.fromkeys(COMPACT_DEVICE_KEYS) for _device in compact['devices']]),
                     'undeviced_parsed': parsed_bytes(dict((key, value) for key, value in compact.items()
                                                           if key != 'devices')),
                     'full_walk_seconds': controller_walk_seconds(full),
                     'compact_walk_seconds': controller_walk_seconds(compact)})
    by_kind = dict((row['host'], row) for row in rows)
    fleet = dict((key, sum(by_kind[kind][key] * count for kind, count in mix.items())) for key in BYTES_KEYS)
    setup = setup_min_facts()
    setup_parsed = parsed_bytes(setup)
    return {'rows': rows, 'fleet': fleet, 'mix': mix,
            'setup_min': {'bytes': json_bytes(setup), 'parsed': setup_parsed,
                          'fleet_parsed': setup_parsed * sum(mix.values())},
            'goals': {'compact_per_device_under_1_2_kb': all(row['compact_parsed_per_device'] < COMPACT_PER_DEVICE_GOAL
                                                             for row in rows),
                      'summary_under_2_kb': all(row['summary_parsed'] < SUMMARY_PER_HOST_GOAL for row in rows)}}


# -- (a) the fleet -------------------------------------------------------------------------------

PLAYS = {
    'noop': ('no-op (baseline)', '''- name: Nothing
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Nothing
      ansible.builtin.meta: noop
'''),
    'setup': ('setup gather_subset=min', '''- name: setup min
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Gather setup's minimal facts
      ansible.builtin.setup:
        gather_subset: min
'''),
    'compact': ('hostdev_facts compact', '''- name: hostdev compact
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Gather hostdev's compact facts
      virt.hostdev.hostdev_facts:
        source: sysfs
        sysfs_root: "{{ hostdev_sysfs_root }}"
        facts: compact
'''),
    'full': ('hostdev_facts full', '''- name: hostdev full
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Gather hostdev's full facts
      virt.hostdev.hostdev_facts:
        source: sysfs
        sysfs_root: "{{ hostdev_sysfs_root }}"
'''),
    'summary': ('hostdev_facts summary', '''- name: hostdev summary
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Gather hostdev's summary facts
      virt.hostdev.hostdev_facts:
        source: sysfs
        sysfs_root: "{{ hostdev_sysfs_root }}"
        facts: summary
'''),
}
ORDER = ('setup', 'compact', 'full', 'summary')
# The goals of (a), against setup min: time of compact facts (1.0) and full facts, memory of summary facts.
COMPACT_TIME_GOAL, FULL_TIME_GOAL, SUMMARY_MEMORY_GOAL = 1.0, 1.25, 0.5

# -- (d) the fleet as it gathers ------------------------------------------------------------------

GATHER_PLAYS = {
    'ping': ('ping (any task result)', '''- name: ping
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
'''),
    'gather_setup': ('gather_facts: setup min', '''- name: gather setup
  hosts: fleet
  gather_facts: true
  vars:
    ansible_facts_modules: [ansible.builtin.setup]
    ansible_facts_parallel: false
  module_defaults:
    ansible.builtin.setup:
      gather_subset: min
  tasks: []
'''),
    'gather_compact': ('gather_facts: setup + compact', '''- name: gather setup and hostdev compact
  hosts: fleet
  gather_facts: true
  vars:
    ansible_facts_modules: [ansible.builtin.setup, virt.hostdev.hostdev_facts]
    # one after the other: in parallel, ansible-core kills setup after about 5 s (see hostdev_facts' notes)
    ansible_facts_parallel: false
  module_defaults:
    ansible.builtin.setup:
      gather_subset: min
    virt.hostdev.hostdev_facts:
      source: sysfs
      sysfs_root: "{{ hostdev_sysfs_root }}"
      facts: compact
  tasks: []
'''),
}
GATHER_ORDER = ('gather_setup', 'gather_compact', 'ping')


def fleet_mix():
    """{kind: hosts} of the fleet, and each host's kind in inventory order (support.fleet_hosts.fleet_kinds)."""
    kinds = fleet_kinds(HOSTS, LARGE_EVERY)
    return dict((kind, kinds.count(kind)) for kind in KINDS + ('large',)), kinds


def write_fleet(work, roots, kinds):
    inventory = os.path.join(work, 'fleet.ini')
    with open(inventory, 'w') as handle:
        handle.write('[fleet]\n')
        for index, kind in enumerate(kinds):
            handle.write('host%04d hostdev_sysfs_root=%s\n' % (index, roots[kind]))
        handle.write('[fleet:vars]\nansible_connection=local\nansible_python_interpreter=%s\n' % sys.executable)
    for name, (_label, text) in PLAYS.items():
        with open(os.path.join(work, 'play-%s.yml' % name), 'w') as handle:
            handle.write('---\n' + text)
    return inventory


# Linux keeps, in a child's ru_maxrss, the high-water mark of the memory it was forked from until its
# exec: a play started straight from this process (which holds hundreds of MB of parsed facts after
# part c) would report this process's peak as its own. So each play is started by a small launcher,
# itself started fresh, which reports the play's rusage.
LAUNCHER = r"""
import json, os, subprocess, sys, time
argv, log, env = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
with open(log, 'w') as out:
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
print(json.dumps({'returncode': os.waitstatus_to_exitcode(status), 'seconds': wall,
                  'cpu_seconds': usage.ru_utime + usage.ru_stime, 'peak_kb': usage.ru_maxrss}))
"""


def measured_run(argv, log, env):
    """{returncode, seconds, cpu_seconds, peak_kb} of one command run by LAUNCHER (its output to log):
    peak_kb is the largest RSS of the command and its descendants, none of this process's."""
    completed = subprocess.run([sys.executable, '-c', LAUNCHER, json.dumps(argv), log, json.dumps(env)],
                               capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if completed.returncode != 0:
        raise SystemExit('the play launcher failed (%d): %s' % (completed.returncode, completed.stderr[-2000:]))
    return json.loads(completed.stdout)


def run_play(work, inventory, name):
    """{seconds, cpu_seconds, peak_kb of the largest process, ok: hosts} of one ansible-playbook run."""
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_FORKS=str(FORKS),
               ANSIBLE_PIPELINING='1', ANSIBLE_NOCOLOR='1', ANSIBLE_HOST_KEY_CHECKING='0',
               ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_LOCALHOST_WARNING='0',
               PATH=bindir + os.pathsep + os.environ.get('PATH', ''))
    log = os.path.join(work, 'play-%s.log' % name)
    run = measured_run([os.path.join(bindir, 'ansible-playbook'), '-i', inventory,
                        os.path.join(work, 'play-%s.yml' % name)], log, env)
    if run['returncode'] != 0:
        with open(log) as handle:
            output = handle.readlines()
        # the first failures say why; the recap after them only counts
        fatal = [line for line in output if line.startswith('fatal:')][:3]
        tail = ''.join(line.split(' => ')[0] + ': ' + ' | '.join(re.findall(r'"msg": "([^"]{0,300})', line)) + '\n'
                       for line in fatal) or ''.join(output[-15:])
        raise SystemExit('ansible-playbook %s failed (%d); the end of its output:\n%s' % (name, run['returncode'], tail))
    with open(log) as handle:
        ok = sum(1 for line in handle if line.startswith('ok: ['))
    return {'seconds': run['seconds'], 'cpu_seconds': run['cpu_seconds'], 'peak_kb': run['peak_kb'], 'ok': ok}


def run_plays(work, inventory, order):
    """The no-op play, then the plays of order for PLAY_ROUNDS rounds (every other round reversed):
    (every run of each play, {play: medians of seconds, cpu_seconds and peak_kb})."""
    runs = dict((name, []) for name in ('noop',) + tuple(order))
    runs['noop'].append(run_play(work, inventory, 'noop'))
    for round_ in range(PLAY_ROUNDS):
        for name in order if round_ % 2 == 0 else tuple(reversed(order)):
            runs[name].append(run_play(work, inventory, name))
    summary = dict((name, dict((key, statistics.median(run[key] for run in runs[name]))
                               for key in ('seconds', 'cpu_seconds', 'peak_kb'))) for name in runs)
    return runs, summary


def bench_fleet(work, roots):
    mix, kinds = fleet_mix()
    inventory = write_fleet(work, roots, kinds)
    runs, summary = run_plays(work, inventory, ORDER)
    base = summary['noop']['peak_kb']
    for name in PLAYS:
        summary[name]['added_kb'] = summary[name]['peak_kb'] - base
    return {'hosts': HOSTS, 'forks': FORKS, 'mix': mix, 'rounds': PLAY_ROUNDS, 'runs': runs, 'summary': summary,
            'goals': play_goals(summary)}


def play_goals(summary):
    """The goals of (a), from the plays' medians with their added_kb: each play's time and memory against
    setup min's (memory None when setup added nothing measurable: a fleet too small for its facts to show),
    and whether each goal holds (a memory goal does not when it cannot be told)."""
    setup = summary['setup']
    for name in ORDER:
        summary[name]['time_vs_setup'] = summary[name]['seconds'] / setup['seconds']
        summary[name]['memory_vs_setup'] = (summary[name]['added_kb'] / float(setup['added_kb'])
                                            if setup['added_kb'] > 0 else None)
    memory = summary['summary']['memory_vs_setup']
    return {'compact_no_slower_than_setup': summary['compact']['time_vs_setup'] <= COMPACT_TIME_GOAL,
            'full_within_1_25_of_setup': summary['full']['time_vs_setup'] <= FULL_TIME_GOAL,
            'summary_memory_under_half_of_setup': memory is not None and memory < SUMMARY_MEMORY_GOAL}


def bench_gather(work, inventory):
    """(d): what compact facts add to a gather_facts step beside setup min, and the floor of any task."""
    for name, (_label, text) in GATHER_PLAYS.items():
        with open(os.path.join(work, 'play-%s.yml' % name), 'w') as handle:
            handle.write('---\n' + text)
    runs, summary = run_plays(work, inventory, GATHER_ORDER)
    base = summary['noop']['peak_kb']
    setup_added = summary['gather_setup']['peak_kb'] - base
    compact_added = summary['gather_compact']['peak_kb'] - summary['gather_setup']['peak_kb']
    ping_added = summary['ping']['peak_kb'] - base

    def share(value):
        return value / float(setup_added) if setup_added > 0 else None
    return {'runs': runs, 'summary': summary, 'setup_added_kb': setup_added,
            'compact_added_kb': compact_added, 'ping_added_kb': ping_added,
            'compact_memory_vs_setup': share(compact_added), 'ping_memory_vs_setup': share(ping_added),
            'time_vs_setup': summary['gather_compact']['seconds'] / summary['gather_setup']['seconds']}


# -- (e) the fleet's report ----------------------------------------------------------------------

REPORT_PLAY = '''---
- name: Write the fleet report
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: %(python)s
  tasks:
    - name: Write the report of the fleet's facts
      virt.hostdev.hostdev_report:
        hosts: "{{ lookup('ansible.builtin.file', '%(facts)s') | from_json }}"
        dest: %(dest)s
'''


def dot_svg(source):
    completed = subprocess.run(['dot', '-Tsvg'], input=source, capture_output=True, text=True, check=True,
                               timeout=600)
    return completed.stdout


def report_figures(work, roots, hosts, full, browser=True):
    """(e) on a fleet of `hosts` hosts, full facts for `full` of them: the module's run, the report built in
    process, the files' sizes and (browser) Chromium's timings of the module's page."""
    facts = fleet_facts(roots, hosts, full, LARGE_EVERY)
    facts_path = os.path.join(work, 'report-facts.json')
    with open(facts_path, 'w') as handle:
        json.dump(facts, handle)
    dest = os.path.join(work, 'report')
    with open(os.path.join(work, 'play-report.yml'), 'w') as handle:
        handle.write(REPORT_PLAY % {'python': sys.executable, 'facts': facts_path, 'dest': dest})
    module = run_play(work, 'localhost,', 'report')
    start = time.perf_counter()
    report = FleetReport(facts, names=pci_names)
    built = time.perf_counter()
    pictures = dict((host, dot_svg(source)) for host, source in report.dot_sources().items())
    drawn = time.perf_counter()
    documents = report.documents(FORMATS, 'in-process', pictures)
    written = time.perf_counter()
    files = dict((name, os.path.getsize(os.path.join(dest, name))) for name in sorted(os.listdir(dest)))
    render = None
    if browser:
        # Imported here: selenium is in .venv, not in make compat's venvs, whose unit tests import this file.
        from support.browser import chromium, load, timings  # pylint: disable=import-outside-toplevel
        with chromium(wait=300) as driver:
            render = timings(load(driver, 'file://' + os.path.join(dest, 'hostdev-report.html'), 300))
    return {'hosts': hosts, 'full_hosts': full, 'facts_bytes': os.path.getsize(facts_path),
            'sections': len(report.sections), 'pictures': len(pictures), 'module': module,
            'build_seconds': built - start, 'dot_seconds': drawn - built, 'documents_seconds': written - drawn,
            'file_bytes': files, 'render': render,
            'same_page': files['hostdev-report.html'] == len(documents['in-process.html'].encode('utf-8'))}


# -- the report ----------------------------------------------------------------------------------

def machine():
    model = ''
    try:
        with open('/proc/cpuinfo') as handle:
            model = next((line.split(':', 1)[1].strip() for line in handle if line.startswith('model name')), '')
    except OSError:
        pass
    return {'cpus': os.cpu_count(), 'cpu': model, 'python': platform.python_version(),
            'system': platform.platform(), 'load': os.getloadavg()}


def table(results):
    lines = ['virt.hostdev fleet benchmark: %s CPUs (%s), Python %s, load %.1f at start, %.1f at end' % (
        results['machine']['cpus'], results['machine']['cpu'] or 'unknown CPU', results['machine']['python'],
        results['machine']['load'][0], results['load_at_end'][0])]
    fleet = results.get('fleet')
    if fleet:
        mix = fleet['mix']
        lines += ['', '(a) %d hosts, forks %d, %d round(s): %s' % (
            fleet['hosts'], fleet['forks'], fleet['rounds'],
            ', '.join('%d %s' % (count, KIND_LABELS[kind]) for kind, count in mix.items() if count)),
            '%-26s %9s %9s %10s %10s %10s %10s' % ('play', 'seconds', 'vs setup', 'CPU s', 'peak MB',
                                                   'added MB', 'vs setup')]
        summary = fleet['summary']
        for name in ('noop',) + ORDER:
            row = summary[name]
            lines.append('%-26s %9.1f %9s %10.1f %10.1f %10.1f %10s' % (
                PLAYS[name][0], row['seconds'], ratio(row.get('time_vs_setup')), row['cpu_seconds'],
                row['peak_kb'] / 1024.0, row['added_kb'] / 1024.0, ratio(row.get('memory_vs_setup'))))
        goals = fleet['goals']
        lines.append('goal: compact facts no slower than setup min: %s (%s); full facts within %.2f x: %s (%s)' % (
            held(goals['compact_no_slower_than_setup']), ratio(summary['compact']['time_vs_setup']), FULL_TIME_GOAL,
            held(goals['full_within_1_25_of_setup']), ratio(summary['full']['time_vs_setup'])))
        lines.append('goal: summary facts add < %.1f x what setup min adds to peak memory: %s (%s)' % (
            SUMMARY_MEMORY_GOAL, held(goals['summary_memory_under_half_of_setup']),
            ratio(summary['summary']['memory_vs_setup'])))
    gather = results.get('gather')
    if gather:
        summary = gather['summary']
        lines += ['', '(d) the same fleet gathering: one gather_facts step, setup min alone or beside hostdev compact',
                  '%-32s %9s %10s %10s' % ('play', 'seconds', 'CPU s', 'peak MB')]
        for name in ('noop',) + GATHER_ORDER:
            label = PLAYS['noop'][0] if name == 'noop' else GATHER_PLAYS[name][0]
            lines.append('%-32s %9.1f %10.1f %10.1f' % (label, summary[name]['seconds'], summary[name]['cpu_seconds'],
                                                        summary[name]['peak_kb'] / 1024.0))
        lines.append('setup min adds %.1f MB; compact facts beside it add %.1f MB (%s x); any task result (ping) '
                     'adds %.1f MB (%s x); the gather with compact takes %s x the time of setup alone' % (
                         gather['setup_added_kb'] / 1024.0, gather['compact_added_kb'] / 1024.0,
                         ratio(gather['compact_memory_vs_setup']), gather['ping_added_kb'] / 1024.0,
                         ratio(gather['ping_memory_vs_setup']), ratio(gather['time_vs_setup'])))
    sysfs = results.get('sysfs')
    if sysfs:
        lines += ['', '(b) sysfs path (reader + model + blockers + facts) against a bare walk of the same files, '
                      'median of %d interleaved rounds' % sysfs['rounds'],
                  '%8s %9s %9s %7s %11s %11s %9s' % ('devices', 'walk s', 'path s', 'ratio', 'us/device',
                                                     'lean walk s', 'vs lean')]
        for row in sysfs['rows']:
            lines.append('%8d %9.3f %9.3f %7.2f %11.1f %11.3f %9.2f' % (
                row['devices'], row['walk_seconds'], row['path_seconds'], row['ratio'], row['path_us_per_device'],
                row['lean_walk_seconds'], row['ratio_to_lean']))
        lines.append('goal: 1.10 x the walk or better at every size: %s; path time x%s per doubling' % (
            held(sysfs['goal_held']), ', x'.join('%.2f' % step for step in sysfs['path_growth_per_step'])))
    facts = results.get('bytes')
    if facts:
        lines += ['', '(c) bytes of facts per host: JSON, and parsed into Python (KB); of the devices compact facts '
                      'list, their names alone and one all-null record each, and compact facts without their '
                      'devices, parsed; the controller\'s walk of a result',
                  '%-26s %7s %6s %10s %9s %9s %6s %9s %10s %10s %10s %8s %10s %9s %11s %14s' % (
                      'host', 'devices', 'listed', 'full B', 'compact B', 'summary B', 'ratio', 'full KB',
                      'compact KB', 'KB/listed', 'summary KB', 'names KB', 'records KB', 'no dev KB', 'full walk s',
                      'compact walk s')]
        for row in facts['rows']:
            lines.append('%-26s %7d %6d %10d %9d %9d %6.3f %9.1f %10.1f %10.2f %10.2f %8.1f %10.1f %9.1f %11s %14s' % (
                KIND_LABELS[row['host']], row['devices'], row['compact_devices'], row['full_bytes'],
                row['compact_bytes'], row['summary_bytes'], row['ratio'], row['full_parsed'] / 1024.0,
                row['compact_parsed'] / 1024.0, row['compact_parsed_per_device'] / 1024.0,
                row['summary_parsed'] / 1024.0, row['names_parsed'] / 1024.0, row['records_parsed'] / 1024.0,
                row['undeviced_parsed'] / 1024.0, seconds(row['full_walk_seconds']),
                seconds(row['compact_walk_seconds'])))
        fleet_bytes = facts['fleet']
        lines.append('%-26s %7s %6s %10d %9d %9d %6.3f %9.1f %10.1f %10s %10.1f %8.1f %10.1f %9.1f' % (
            'the fleet of (a), in all', '', '', fleet_bytes['full_bytes'], fleet_bytes['compact_bytes'],
            fleet_bytes['summary_bytes'], fleet_bytes['compact_bytes'] / float(fleet_bytes['full_bytes']),
            fleet_bytes['full_parsed'] / 1024.0, fleet_bytes['compact_parsed'] / 1024.0, '',
            fleet_bytes['summary_parsed'] / 1024.0, fleet_bytes['names_parsed'] / 1024.0,
            fleet_bytes['records_parsed'] / 1024.0, fleet_bytes['undeviced_parsed'] / 1024.0))
        setup = facts['setup_min']
        lines.append('setup min\'s facts on this machine: %d B, %.1f KB parsed; %.1f MB for the fleet' % (
            setup['bytes'], setup['parsed'] / 1024.0, setup['fleet_parsed'] / 1048576.0))
        goals = facts['goals']
        lines.append('goal: compact facts < %.1f KB parsed per listed device: %s (at most %.2f KB); summary facts '
                     '< %.0f KB parsed per host: %s (at most %.2f KB)' % (
                         COMPACT_PER_DEVICE_GOAL / 1024, held(goals['compact_per_device_under_1_2_kb']),
                         max(row['compact_parsed_per_device'] for row in facts['rows']) / 1024.0,
                         SUMMARY_PER_HOST_GOAL / 1024, held(goals['summary_under_2_kb']),
                         max(row['summary_parsed'] for row in facts['rows']) / 1024.0))
        if fleet and gather:
            room = fleet['summary']['setup']['added_kb'] / 2.0 - gather['ping_added_kb']
            lines.append('room the memory goal leaves for facts: half of what setup min adds (a) less what any '
                         'task result adds (ping, d): %.1f MB; summary facts parsed: %.1f MB; compact facts '
                         'parsed: %.1f MB' % (room / 1024.0, fleet_bytes['summary_parsed'] / 1048576.0,
                                              fleet_bytes['compact_parsed'] / 1048576.0))
    report = results.get('report')
    if report:
        lines += ['', '(e) the report of the fleet of (a): summary facts, full facts for %d hosts' % report['full_hosts'],
                  'facts in: %.1f MB of JSON; %d sections; the module on the controller: %.1f s, peak %.1f MB; '
                  'in process: built in %.2f s, %d pictures drawn in %.2f s, documents in %.2f s' % (
                      report['facts_bytes'] / 1048576.0, report['sections'], report['module']['seconds'],
                      report['module']['peak_kb'] / 1024.0, report['build_seconds'], report['pictures'],
                      report['dot_seconds'], report['documents_seconds']),
                  'files: %s' % ', '.join('%s %.1f KB' % (name, size / 1024.0) for name, size in
                                          sorted(report['file_bytes'].items())),
                  'Chromium: DOMContentLoaded %.0f ms, load %.0f ms, first contentful paint %s ms, page %d px high' % (
                      report['render']['dom'], report['render']['load'],
                      'n/a' if report['render']['paint'] is None else '%.0f' % report['render']['paint'],
                      report['render']['height'])]
    return '\n'.join(lines)


def held(value):
    return 'holds' if value else 'DOES NOT HOLD'


def seconds(value):
    return 'n/a' if value is None else '%.3f' % value


def ratio(value):
    return 'n/a' if value is None else '%.2f' % value


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix='fleet-', dir=OUT)
    results = {'machine': machine(), 'settings': {
        'hosts': HOSTS, 'forks': FORKS, 'large_every': LARGE_EVERY, 'play_rounds': PLAY_ROUNDS,
        'sysfs_rounds': SYSFS_ROUNDS, 'sizes': SIZES, 'report_full': REPORT_FULL, 'parts': PARTS}}
    started = time.time()
    try:
        roots = build_fleet_hosts(os.path.join(work, 'hosts'))
        roots['large'] = synthetic_sysfs(os.path.join(work, 'hosts', 'large'), LARGE_ENDPOINTS)
        mix, _kinds = fleet_mix()
        if 'c' in PARTS:
            results['bytes'] = bench_bytes(roots, mix)
        if 'b' in PARTS:
            results['sysfs'] = bench_sysfs(work)
        if 'a' in PARTS:
            results['fleet'] = bench_fleet(work, roots)
        if 'd' in PARTS:
            _mix, kinds = fleet_mix()
            results['gather'] = bench_gather(work, write_fleet(work, roots, kinds))
        if 'e' in PARTS:
            results['report'] = report_figures(work, roots, HOSTS, REPORT_FULL)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results['seconds'] = time.time() - started
    results['load_at_end'] = os.getloadavg()
    results['self_peak_kb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    path = os.path.join(OUT, 'fleet.json')
    with open(path, 'w') as handle:
        json.dump(results, handle, indent=2, sort_keys=True)
    print(table(results))
    print('\nfigures: %s (%.0f s in all)' % (os.path.relpath(path, REPO), results['seconds']))


if __name__ == '__main__':
    main()
