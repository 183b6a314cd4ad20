#!/usr/bin/env python
"""Benchmark: what vendor, product and PCI class names cost one read of a host.

On the sample workstation (about twenty names) and a synthetic host of 5,000 PCI
endpoints, both with this machine's real pci.ids and usb.ids (the runtime bindep installs
them), prints the median milliseconds of:
  - names, wanted ids only: id_names.fill_names, which collects the ids the records carry
    and reads only those lines (one regular-expression pass per file);
  - names, whole files: the former way, every line of both files parsed into tables
    (kept here as the reference), then the same lookups;
  - the whole sysfs read with the names, for scale.
Run: make bench (or python3 this file [ENDPOINTS]).
"""

import os
import re
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from support import ensure_collection_link  # noqa: E402

sys.path.insert(0, ensure_collection_link())

from fixtures.synthetic_host import synthetic_sysfs  # noqa: E402
from fixtures.sample_host import build_tree  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reading.id_names import fill_names  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_reader import SysfsReader  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree  # noqa: E402

DATABASES = ('pci.ids', 'usb.ids')
SYSTEM_DIRS = ('/usr/share/misc', '/usr/share/hwdata')
RUNS = 7


def system_database(name):
    for directory in SYSTEM_DIRS:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return os.path.realpath(path)
    return None


def install_databases(sys_root):
    """The system's databases in the host's usr/share/misc, instead of any the host had."""
    misc = os.path.join(os.path.dirname(sys_root), 'usr', 'share', 'misc')
    os.makedirs(misc, exist_ok=True)
    for name in DATABASES:
        target = os.path.join(misc, name)
        if os.path.lexists(target):
            os.unlink(target)
        shutil.copyfile(system_database(name), target)


def median_ms(func):
    times = []
    for dummy in range(RUNS):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


NAME_KEYS = ('vendor', 'product', 'class_name')


def without_names(records):
    """Copies of the records' PCI and USB sub-dicts with their names emptied."""
    blank = []
    for record in records:
        record = dict(record)
        for key in ('pci', 'usb'):
            if record.get(key):
                record[key] = dict(record[key], **dict.fromkeys(NAME_KEYS))
        blank.append(record)
    return blank


def parse_whole_file(path):
    """The former parse: every vendor and product line of a pci.ids/usb.ids into a table."""
    table = {}
    vendor = None
    with open(path, 'rb') as handle:
        for raw in handle:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            if not line or line.startswith('#'):
                continue
            if line[0] != '\t':
                match = re.match(r'^([0-9a-fA-F]{4})\s+(.*)$', line)
                vendor = None
                if match:
                    vendor = (match.group(2).strip(), {})
                    table['0x' + match.group(1).lower()] = vendor
            elif vendor is not None and not line.startswith('\t\t'):
                match = re.match(r'^\t([0-9a-fA-F]{4})\s+(.*)$', line)
                if match:
                    vendor[1]['0x' + match.group(1).lower()] = match.group(2).strip()
    return table


def names_from_whole_files(records, sys_root):
    misc = os.path.join(os.path.dirname(sys_root), 'usr', 'share', 'misc')
    tables = dict((key, parse_whole_file(os.path.join(misc, key + '.ids'))) for key in ('pci', 'usb'))
    for record in records:
        for key in ('pci', 'usb'):
            sub = record.get(key)
            if sub:
                vendor = tables[key].get(sub.get('vendor_id'))
                sub['vendor'] = vendor[0] if vendor else None
                sub['product'] = vendor[1].get(sub.get('product_id')) if vendor else None


def named(records):
    pci = [record['pci'] for record in records if record.get('pci')]
    return sum(1 for entry in pci if entry.get('vendor') and entry.get('class_name')), len(pci)


def main():
    missing = [name for name in DATABASES if system_database(name) is None]
    if missing:
        sys.exit('bench_names: %s not installed (Debian: apt-get install pci.ids usb.ids)' % ', '.join(missing))
    endpoints = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print('pci.ids: %s (%d bytes)' % (system_database('pci.ids'), os.path.getsize(system_database('pci.ids'))))
    header = ('host', 'devices', 'wanted ids (ms)', 'whole files (ms)', 'read (ms)', 'named pci')
    print('%-26s %8s %18s %18s %12s %10s' % header)
    tmp = tempfile.mkdtemp(prefix='hostdev-bench-names-')
    try:
        hosts = [('sample workstation', build_tree(os.path.join(tmp, 'sample'))),
                 ('synthetic %d endpoints' % endpoints, synthetic_sysfs(os.path.join(tmp, 'big'), endpoints))]
        for label, sys_root in hosts:
            install_databases(sys_root)
            tree = SysfsTree(sys_root)
            records = SysfsReader(tree).read_devices()
            blank = without_names(records)
            wanted = median_ms(lambda: fill_names(without_names(blank), tree))
            whole = median_ms(lambda: names_from_whole_files(without_names(blank), sys_root))
            copying = median_ms(lambda: without_names(blank))
            read = median_ms(lambda: SysfsReader(sys_root).read_devices())
            row = (label, len(records), wanted - copying, whole - copying, read, '%d/%d' % named(records))
            print('%-26s %8d %18.1f %18.1f %12.1f %10s' % row)
    finally:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
