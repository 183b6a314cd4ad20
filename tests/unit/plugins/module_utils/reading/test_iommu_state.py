"""The host's IOMMU state from the sample tree and small trees made per test."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.reading.iommu_state import (
    interrupt_remapping_from,
    parse_kernel_args,
    read_iommu_state,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_reader import SysfsReader
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree


def test_iommu_state(sample_sysfs):
    state = read_iommu_state(SysfsTree(sample_sysfs))
    assert state == {
        'enabled': True, 'groups': 10, 'units': ['dmar0', 'dmar1'],
        'kernel_args': {'intel_iommu': 'on', 'iommu': 'pt', 'vfio-pci.ids': '10de:24b0,10de:228b'},
        'interrupt_remapping': True, 'unsafe_interrupts': False, 'acs_override': False,
    }


def test_host_without_iommu(tmp_path):
    (tmp_path / 'sys' / 'devices').mkdir(parents=True)
    (tmp_path / 'proc').mkdir()
    (tmp_path / 'proc' / 'cmdline').write_text('root=/dev/vda1 ro\n')
    (tmp_path / 'proc' / 'interrupts').write_text(' 24:  1  PCI-MSI 49152-edge virtio0\n')
    reader = SysfsReader(str(tmp_path / 'sys'))
    state = read_iommu_state(reader.tree)
    assert (state['enabled'], state['groups'], state['kernel_args']) == (False, 0, {})
    assert state['interrupt_remapping'] is None
    assert [record['name'] for record in reader.read_devices()] == ['computer']


def test_an_emulated_mdevs_group_is_not_the_iommus(tmp_path):
    """mtty's mdevs get VFIO groups of their own with the IOMMU off: they do not turn it on, nor count."""
    sysfs = tmp_path / 'sys'
    mdev = sysfs / 'devices' / 'virtual' / 'mtty' / 'mtty' / 'c2177883-f1bb-47f0-914d-32a22e3a8804'
    (sysfs / 'kernel' / 'iommu_groups' / '0' / 'devices').mkdir(parents=True)
    mdev.mkdir(parents=True)
    (mdev / 'iommu_group').symlink_to('../../../../../kernel/iommu_groups/0')
    (sysfs / 'bus' / 'mdev' / 'devices').mkdir(parents=True)
    (sysfs / 'bus' / 'mdev' / 'devices' / mdev.name).symlink_to('../../../devices/virtual/mtty/mtty/' + mdev.name)
    state = read_iommu_state(SysfsTree(str(sysfs)))
    assert (state['enabled'], state['groups']) == (False, 0)
    (sysfs / 'kernel' / 'iommu_groups' / '1').mkdir()  # a PCI device's group: the IOMMU is on
    assert read_iommu_state(SysfsTree(str(sysfs)))['groups'] == 1


@pytest.mark.parametrize('cmdline, expected', [
    ('ro quiet intel_iommu=on iommu=pt', {'intel_iommu': 'on', 'iommu': 'pt'}),
    ('amd_iommu=on iommu.strict=1 pcie_acs_override=downstream,multifunction',
     {'amd_iommu': 'on', 'iommu.strict': '1', 'pcie_acs_override': 'downstream,multifunction'}),
    ('vfio-pci.ids=10de:1b80 vfio_iommu_type1.allow_unsafe_interrupts=1 intremap=off',
     {'vfio-pci.ids': '10de:1b80', 'vfio_iommu_type1.allow_unsafe_interrupts': '1', 'intremap': 'off'}),
    ('iommufd=1 noiommu root=/dev/sda', {}),
    ('', {}),
])
def test_kernel_args(cmdline, expected):
    assert parse_kernel_args(cmdline) == expected


def test_interrupt_remapping_from_proc_interrupts():
    assert interrupt_remapping_from('  0: 1  IR-IO-APIC 2-edge timer') is True
    assert interrupt_remapping_from('  0: 1  IO-APIC 2-edge timer\n 24: PCI-MSI') is False
    assert interrupt_remapping_from(None) is None
