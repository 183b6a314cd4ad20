#!/usr/bin/env python
"""Benchmark: is one run of hostdev_facts linear in the number of devices?

Builds synthetic hosts of growing size (PCI switches with endpoints, each with a
net child; USB trees), then measures:
  - the libvirt reader against a counting fake connection (calls per device),
  - the sysfs reader on a generated tree,
  - HostModel construction + facts, and one affected_by query.
Prints seconds and microseconds per device; a linear pipeline keeps the
per-device cost flat as the host grows. Run: make bench (or python3 this file).
"""

import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from support import ensure_collection_link  # noqa: E402

sys.path.insert(0, ensure_collection_link())

from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import assignability  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reading.libvirt_reader import read_devices  # noqa: E402
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_reader import SysfsReader  # noqa: E402

from fixtures.synthetic_host import synthetic_sysfs  # noqa: E402


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


def main():
    sizes = [int(arg) for arg in sys.argv[1:]] or [1000, 4000, 16000]
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


if __name__ == '__main__':
    main()
