#!/usr/bin/env python
"""Benchmark: is one run of hostdev_facts linear in the number of devices?

Builds synthetic hosts of growing size (PCI switches with endpoints, each with a
net child; USB trees), then measures:
  - the libvirt reader against a counting fake connection (calls per device),
  - the sysfs reader on a generated tree,
  - HostModel construction + facts, and one affected_by query.
Prints seconds and microseconds per device; a linear pipeline keeps the
per-device cost flat as the host grows. Then SR-IOV (issue 19): a synthetic host of 8 PFs of
64 VFs each (512 VFs, every function with its interface): the sysfs path (read with the VF
link settings from `ip` output, model, blockers, full facts) against a bare walk of the same
files and the same `ip` output (goal: 1.1 times the walk or better), and the size of its
compact facts (goal: under 64 KB), key by key. On a shared, loaded machine wall time measures the
other users too, so the two are timed in this process's CPU time (user and system: both run in
this one thread, the `ip` output given), after a warm-up, in interleaved rounds whose order
alternates; each round's path is compared with its own walk (the two ran under the same load) and
the median of those ratios is the result, the ratio of the fastest rounds beside it. Run: make
bench (or python3 this file; `python3 this_file sriov` runs only the SR-IOV part).
"""

import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from support import ensure_collection_link  # noqa: E402
from support.bare_walk import read_link, read_text  # noqa: E402

sys.path.insert(0, ensure_collection_link())

from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import host_facts  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import assignability  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reading import host_reader  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reading.libvirt_reader import read_devices  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_reader import SysfsReader  # noqa: E402

from fixtures.synthetic_host import synthetic_ip_links, synthetic_sriov_sysfs, synthetic_sysfs  # noqa: E402


def synthetic_xml(endpoints):
    """Node device XML strings: root ports, each with 4 endpoints in one group and a net child each."""
    xmls = ["<device><name>computer</name><capability type='system'/></device>"]
    group = 0
    for bus in range(1, endpoints // 4 + 1):
        port = 'pci_0000_00_%02x_%x' % (bus // 8 % 32, bus % 8)
        xmls.append(
            "<device><name>%s_%d</name><parent>computer</parent><capability type='pci'><class>0x060400</class>"
            "<domain>%d</domain><bus>0</bus><slot>%d</slot><function>%d</function>"
            "<iommuGroup number='%d'/></capability></device>" % (port, bus, bus, bus // 8 % 32, bus % 8, group))
        group += 1
        for slot in range(4):
            name = 'pci_%04x_%02x_%02x_0' % (bus, bus % 256, slot)
            xmls.append(
                "<device><name>%s</name><parent>%s_%d</parent><capability type='pci'><class>0x020000</class>"
                "<domain>%d</domain><bus>%d</bus><slot>%d</slot><function>0</function>"
                "<vendor id='0x8086'/><product id='0x10d3'/><iommuGroup number='%d'/></capability></device>"
                % (name, port, bus, bus, bus % 256, slot, group))
            xmls.append(
                "<device><name>net_eth%d_%d</name><parent>%s</parent><capability type='net'>"
                "<interface>eth%d_%d</interface></capability></device>" % (bus, slot, name, bus, slot))
        group += 1
    return xmls


class CountingDevice:
    calls = 0

    def __init__(self, xml):
        self.xml = xml

    def name(self):
        return 'x'

    def XMLDesc(self, _flags):
        CountingDevice.calls += 1
        return self.xml


class CountingConnection:
    calls = 0

    def __init__(self, xmls):
        self.devices = [CountingDevice(xml) for xml in xmls]

    def listAllDevices(self, _flags):
        CountingConnection.calls += 1
        return self.devices


def timed(func):
    start = time.perf_counter()
    value = func()
    return value, time.perf_counter() - start


def cpu_timed(func):
    """The CPU time (user and system) this process spends in func, from a collected heap."""
    gc.collect()
    start = time.process_time()
    func()
    return time.process_time() - start


def main():
    sizes = [int(arg) for arg in sys.argv[1:] if arg.isdigit()] or [1000, 4000, 16000]
    print('%8s  %-28s %10s %14s' % ('devices', 'stage', 'seconds', 'us/device'))
    for endpoints in sizes:
        xmls = synthetic_xml(endpoints)
        CountingConnection.calls = CountingDevice.calls = 0
        records, seconds = timed(lambda: read_devices(CountingConnection(xmls), []))
        count = len(records)
        print('%8d  %-28s %10.3f %14.1f' % (count, 'libvirt reader (parse)', seconds, seconds / count * 1e6))
        print('%8d  %-28s %10s %14s' % (count, 'libvirt calls', '',
                                        '%d list + %d XMLDesc' % (CountingConnection.calls, CountingDevice.calls)))
        model, seconds = timed(lambda: HostModel(records))
        print('%8d  %-28s %10.3f %14.1f' % (count, 'model build', seconds, seconds / count * 1e6))
        blockers, seconds = timed(lambda: assignability(model))
        print('%8d  %-28s %10.3f %14.1f' % (count, 'assignability (blockers)', seconds, seconds / count * 1e6))
        seconds = timed(lambda: model.facts('libvirt', blockers))[1]
        print('%8d  %-28s %10.3f %14.1f' % (count, 'facts', seconds, seconds / count * 1e6))
        target = [name for name in model.names() if name.startswith('pci_') and name.endswith('_00_0')][-1]
        seconds = timed(lambda: model.affected_by(target))[1]
        print('%8d  %-28s %10.3f %14.1f' % (count, 'one affected_by query', seconds, seconds / count * 1e6))
        tmp = tempfile.mkdtemp(prefix='hostdev-bench-')
        try:
            root = synthetic_sysfs(tmp, endpoints)
            sysfs_records, seconds = timed(lambda: SysfsReader(root).read_devices())
            print('%8d  %-28s %10.3f %14.1f' % (len(sysfs_records), 'sysfs reader', seconds,
                                                seconds / len(sysfs_records) * 1e6))
        finally:
            shutil.rmtree(tmp)
        print()


# -- SR-IOV: 8 PFs of 64 VFs ----------------------------------------------------------------------

SRIOV_PFS, SRIOV_VFS, SRIOV_ROUNDS = 8, 64, 15
# What SysfsReader reads of every PCI function, and of a PF or VF besides (sysfs_reader.py).
PCI_ATTRIBUTES = ('vendor', 'device', 'boot_vga', 'reset_method', 'class', 'subsystem_vendor',
                  'subsystem_device', 'numa_node', 'sriov_totalvfs')
PF_ATTRIBUTES = ('sriov_numvfs', 'sriov_drivers_autoprobe', 'sriov_offset', 'sriov_stride')


def sriov_bare_walk(sys_root, ip_text):
    """The floor: every PCI device link and interface listed and resolved, every attribute and link the
    reader reads of them read (a PF's virtfn links, a VF's nvidia/ looked for), the `ip` output parsed;
    no records, no model, no facts."""
    values = []
    host = os.path.dirname(sys_root)
    pci_root = os.path.join(sys_root, 'bus', 'pci', 'devices')
    for entry in sorted(os.listdir(pci_root)):
        base = os.path.realpath(os.path.join(pci_root, entry))
        row = [read_text(os.path.join(base, name)) for name in PCI_ATTRIBUTES]
        row += [read_link(os.path.join(base, name)) for name in ('iommu_group', 'physfn', 'driver')]
        row += [os.path.isdir(os.path.join(base, 'mdev_supported_types')),
                read_text(os.path.join(host, 'run', 'udev', 'data', '+pci:' + entry))]
        if row[PCI_ATTRIBUTES.index('sriov_totalvfs')] is not None:
            row += [read_text(os.path.join(base, name)) for name in PF_ATTRIBUTES]
            row += [read_link(os.path.join(base, name)) for name in sorted(os.listdir(base)) if name.startswith('virtfn')]
        elif row[len(PCI_ATTRIBUTES) + 1] is not None:
            row.append(os.path.isdir(os.path.join(base, 'nvidia')))
        values.append(row)
    net_root = os.path.join(sys_root, 'class', 'net')
    for entry in sorted(os.listdir(net_root)):
        base = os.path.realpath(os.path.join(net_root, entry))
        values.append([read_text(os.path.join(base, 'address')), read_link(os.path.join(base, 'driver'))])
    values.append(json.loads(ip_text))
    return values


def sriov_path(sys_root, ip_text):
    """What hostdev_facts runs with source: sysfs on this machine: read (ip once), model, blockers, full facts."""
    model, used, _warnings = host_reader.read_host('sysfs', sysfs_root=sys_root, run=lambda argv, timeout: ip_text)
    return host_facts(model, used, 'full'), model, used


def bench_sriov():
    tmp = tempfile.mkdtemp(prefix='hostdev-bench-sriov-')
    # The tree stands for this machine's /sys here, so that the path runs `ip` (its output given) as on a host.
    this_machine = host_reader.is_this_machines_sysfs
    host_reader.is_this_machines_sysfs = lambda root: True
    try:
        root = synthetic_sriov_sysfs(tmp, SRIOV_PFS, SRIOV_VFS)
        ip_text = synthetic_ip_links(SRIOV_PFS, SRIOV_VFS, {(0, 1): {'mac': '52:54:00:6d:90:02', 'vlan': 100}})
        times = {'walk': [], 'path': []}
        sriov_bare_walk(root, ip_text)  # warm-up: the page cache and the imports, for both
        sriov_path(root, ip_text)
        for round_ in range(SRIOV_ROUNDS):
            for variant in (('walk', 'path') if round_ % 2 == 0 else ('path', 'walk')):
                func = sriov_bare_walk if variant == 'walk' else sriov_path
                times[variant].append(cpu_timed(lambda: func(root, ip_text)))
        facts, model, used = sriov_path(root, ip_text)
        compact = host_facts(model, used, 'compact')
    finally:
        host_reader.is_this_machines_sysfs = this_machine
        shutil.rmtree(tmp)
    walk, path = statistics.median(times['walk']), statistics.median(times['path'])
    ratio = statistics.median(mine / floor for mine, floor in zip(times['path'], times['walk']))
    fastest = min(times['path']) / min(times['walk'])
    vfs = sum(1 for device in facts['devices'] if ((device.get('pci') or {}).get('sriov') or {}).get('physical_function'))
    compact_bytes, full_bytes = len(json.dumps(compact)), len(json.dumps(facts))
    print('SR-IOV: %d PFs of %d VFs (%d VFs with netdevs, %d devices), CPU time, median of %d interleaved rounds '
          '(load average %s)' % (SRIOV_PFS, SRIOV_VFS, vfs, len(facts['devices']), SRIOV_ROUNDS,
                                 ' '.join('%.2f' % load for load in os.getloadavg())))
    print('%8s  %-28s %10s %14s' % ('devices', 'stage', 'seconds', 'us/device'))
    count = len(facts['devices'])
    print('%8d  %-28s %10.3f %14.1f' % (count, 'bare walk (same files, ip)', walk, walk / count * 1e6))
    print('%8d  %-28s %10.3f %14.1f' % (count, 'sysfs path (to full facts)', path, path / count * 1e6))
    held = 'held' if ratio <= 1.10 else 'NOT held'
    print('%8s  path / walk %.2f, median of the rounds\' ratios (goal 1.10 or better: %s); fastest rounds %.2f'
          % ('', ratio, held, fastest))
    print('%8s  compact facts %.1f KB, %d devices listed with their PFs\' %d VF rows (goal under 64 KB: %s); '
          'full facts %.1f KB' % ('', compact_bytes / 1024.0, len(compact['devices']), vfs,
                                  'held' if compact_bytes < 64 * 1024 else 'NOT held', full_bytes / 1024.0))
    print('%8s  compact facts by key: %s' % ('', ', '.join(
        '%s %.1f KB' % (key, len(json.dumps(value)) / 1024.0) for key, value in compact.items())))


if __name__ == '__main__':
    if sys.argv[1:] != ['sriov']:
        main()
    bench_sriov()
