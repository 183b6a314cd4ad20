"""SR-IOV questions of a host model: the addresses a PF gives its VFs (the kernel's own arithmetic:
pci_iov_virtfn_bus and pci_iov_virtfn_devfn), created or not, and a PF named by its netdev."""

import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import DeviceReferenceError
from ansible_collections.virt.hostdev.plugins.module_utils.model.sriov import (
    resolve_function,
    vf_layout,
    vf_slot_of,
    vf_slots,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host

from fixtures.sample_host import build_tree
from fixtures.sriov_host import add_sriov, net_vf
from support.fake_host import write

PF = 'pci_0000_04_00_0'


def model_with(tmp_path, **attributes):
    sysfs = build_tree(str(tmp_path))
    for key, value in attributes.items():
        write(sysfs, 'bus/pci/devices/0000:04:00.0/sriov_%s' % key, '%s\n' % value)
    return read_host('sysfs', sysfs_root=sysfs)[0]


def test_offset_and_stride_are_read_into_the_pf_record_and_give_each_vf_its_address(tmp_path):
    # 04:00.0 is routing ID 0x400; its first VF 0x400 + 0x80 = 04:10.0, then every second function
    model = model_with(tmp_path, totalvfs=7, offset=128, stride=2)
    sriov = model.device(PF)['pci']['sriov']
    assert (sriov['offset'], sriov['stride']) == (128, 2)
    assert vf_slots(model) == dict(('0000:04:%s' % address, (PF, index)) for index, address in
                                   enumerate(['10.0', '10.2', '10.4', '10.6', '11.0', '11.2', '11.4']))
    assert vf_slot_of(model, '04:11.2') == (PF, 5)
    assert vf_slot_of(model, '0000:04:10.1') is None  # between two VFs
    assert vf_slot_of(model, '0001:04:10.0') is None  # another PCI domain


def test_vfs_may_cross_to_the_next_bus(tmp_path):
    assert sorted(vf_slots(model_with(tmp_path, totalvfs=3, offset=255, stride=1))) == [
        '0000:04:1f.7', '0000:05:00.0', '0000:05:00.1']


def test_a_pf_without_offset_or_stride_and_fewer_than_two_vfs_gives_none(tmp_path):
    assert vf_slots(model_with(tmp_path, totalvfs=7)) == {}
    assert vf_slots(model_with(tmp_path / 'zero', totalvfs=0, offset=128, stride=2)) == {}
    assert vf_slots(model_with(tmp_path / 'nostride', totalvfs=7, offset=128, stride=0)) == {}
    assert not os.path.exists(str(tmp_path / 'sys/bus/pci/devices/0000:04:00.0/sriov_offset'))


def test_without_offset_and_stride_the_layout_comes_from_two_vfs(tmp_path):
    # A read through libvirt alone has no offset or stride: the VFs the PF lists tell them.
    sysfs = add_sriov(build_tree(str(tmp_path)), vfs=2)
    model = read_host('sysfs', sysfs_root=sysfs)[0]
    pf = 'pci_0000_06_00_0'
    sriov = model.device(pf)['pci']['sriov']
    assert (sriov['offset'], sriov['stride']) == (None, None)  # the fixture's PF does not show them
    assert vf_layout(model, pf) == (128, 2)
    assert vf_slot_of(model, net_vf(6)) == (pf, 6)
    assert vf_slot_of(model, net_vf(7)) is None  # beyond sriov_totalvfs (7)
    # one VF alone does not tell the stride
    single = read_host('sysfs', sysfs_root=add_sriov(build_tree(str(tmp_path / 'one')), vfs=1))[0]
    assert vf_layout(single, pf) is None
    assert [slot for slot in vf_slots(single).values() if slot[0] == pf] == []


def test_without_offset_and_stride_a_pf_whose_virtfn0_is_missing_has_no_layout(tmp_path):
    """Its list of VFs starts at VF 1: an offset read from it is one stride off, and so is every VF slot."""
    sysfs = add_sriov(build_tree(str(tmp_path)), vfs=4)
    os.unlink(os.path.join(sysfs, 'bus/pci/devices/0000:06:00.0/virtfn0'))
    model = read_host('sysfs', sysfs_root=sysfs)[0]
    pf = 'pci_0000_06_00_0'
    assert model.device(pf)['pci']['sriov']['virtual_functions'] == [net_vf(1), net_vf(2), net_vf(3)]
    assert vf_layout(model, pf) is None
    assert [slot for slot in vf_slots(model).values() if slot[0] == pf] == []
    assert vf_slot_of(model, net_vf(5)) is None  # not "VF 4"


def test_a_function_is_named_by_address_node_name_or_netdev(tmp_path):
    model = read_host('sysfs', sysfs_root=add_sriov(build_tree(str(tmp_path)), vfs=2))[0]
    assert resolve_function(model, 'enp6s0') == resolve_function(model, '06:00.0') == 'pci_0000_06_00_0'
    assert resolve_function(model, ' enp6s0v1 ') == 'pci_0000_06_10_2'
    with pytest.raises(DeviceReferenceError, match='nor is it the name of a network interface of this host'):
        resolve_function(model, 'eth9')
