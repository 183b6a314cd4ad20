"""The addresses an SR-IOV PF gives its VFs, from its sriov_offset and sriov_stride (the kernel's own
arithmetic: pci_iov_virtfn_bus and pci_iov_virtfn_devfn), created or not."""

import os

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_vf_slots import vf_slots
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

from fixtures.sample_host import build_tree
from support.fake_host import write


def slots_of(tmp_path, **attributes):
    sysfs = build_tree(str(tmp_path))
    for key, value in attributes.items():
        write(sysfs, 'bus/pci/devices/0000:04:00.0/sriov_%s' % key, '%s\n' % value)
    return vf_slots(SysfsTree(sysfs), read_host('sysfs', sysfs_root=sysfs)[0])


def test_offset_and_stride_give_each_vf_its_address(tmp_path):
    # 04:00.0 is routing ID 0x400; its first VF 0x400 + 0x80 = 04:10.0, then every second function
    slots = slots_of(tmp_path, totalvfs=7, offset=128, stride=2)
    assert slots == dict(('0000:04:%s' % address, 'VF %d of pci_0000_04_00_0' % index) for index, address in
                         enumerate(['10.0', '10.2', '10.4', '10.6', '11.0', '11.2', '11.4']))


def test_vfs_may_cross_to_the_next_bus(tmp_path):
    slots = slots_of(tmp_path, totalvfs=3, offset=255, stride=1)
    assert sorted(slots) == ['0000:04:1f.7', '0000:05:00.0', '0000:05:00.1']


def test_a_pf_without_offset_or_stride_gives_none(tmp_path):
    assert slots_of(tmp_path, totalvfs=7) == {}
    assert slots_of(tmp_path / 'zero', totalvfs=0, offset=128, stride=2) == {}
    assert not os.path.exists(str(tmp_path / 'sys/bus/pci/devices/0000:04:00.0/sriov_offset'))
