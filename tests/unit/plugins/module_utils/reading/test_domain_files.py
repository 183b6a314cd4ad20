"""Domains and hostdev networks from libvirt's state files, read without the daemon."""

import os

from ansible_collections.virt.hostdev.plugins.module_utils.reading.domain_files import (
    read_domain_files,
    read_network_files,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

from fixtures.synthetic_host import synthetic_sriov_sysfs


def test_domains_from_libvirt_state_files(sample_sysfs):
    assert read_domain_files(SysfsTree(sample_sysfs)) == [
        {'name': 'ci-runner', 'active': True, 'hostdevs': [
            {'type': 'pci', 'address': '0000:02:00.0'}, {'type': 'mdev', 'uuid': 'c2177883-f1bb-47f0-914d-32a22e3a8804'}]}]
    assert read_network_files(SysfsTree(sample_sysfs)) == []


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)


def test_running_hostdev_networks_and_the_vfs_they_handed_out(tmp_path):
    """A running network's state (<networkstatus>) holds its pool; a running domain's state holds the VF
    the network gave its <interface type='network'> (<actual type='hostdev'>)."""
    root = synthetic_sriov_sysfs(str(tmp_path), pfs=1, vfs=4)
    write(str(tmp_path / 'run/libvirt/network/sriov-pool.xml'),
          "<networkstatus><class_id bitmap='0-2'/><floor sum='0'/><network><name>sriov-pool</name>"
          "<forward mode='hostdev' managed='yes'><pf dev='enp129s0f0'/>"
          "<address type='pci' domain='0x0000' bus='0x81' slot='0x10' function='0x0'/></forward></network>"
          "</networkstatus>")
    write(str(tmp_path / 'run/libvirt/network/default.xml'),
          "<networkstatus><network><name>default</name><forward mode='nat'/></network></networkstatus>")
    write(str(tmp_path / 'run/libvirt/network/broken.xml'), '<networkstatus><network>')
    write(str(tmp_path / 'run/libvirt/qemu/vm.xml'),
          "<domstatus state='running'><domain type='kvm'><name>vm</name><devices>"
          "<interface type='network'><source network='sriov-pool'/><actual type='hostdev' managed='yes'><source>"
          "<address type='pci' domain='0x0000' bus='0x81' slot='0x10' function='0x2'/></source></actual>"
          "</interface></devices></domain></domstatus>")
    tree = SysfsTree(root)
    assert read_network_files(tree) == [
        {'name': 'sriov-pool', 'pf': ['enp129s0f0'], 'addresses': ['0000:81:10.0'], 'active': True}]
    assert tree.warnings == ['network state file broken.xml is not valid XML; skipped']
    model = read_host('sysfs', sysfs_root=root)[0]
    assert model.assigned_to('pci_0000_81_10_2') == ['vm']
    assert [model.held_by_network('pci_0000_81_10_%d' % vf) for vf in range(4)] == [['sriov-pool']] * 4
