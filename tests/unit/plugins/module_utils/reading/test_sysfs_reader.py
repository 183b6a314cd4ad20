"""sysfs reader on the sample host's fake tree and on small trees made per test."""

import os
import shutil

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_reader import SysfsReader, libvirt_style_name


@pytest.fixture()
def sample_copy(sample_sysfs, tmp_path):
    """A private copy of the sample tree that a test may break."""
    dest = tmp_path / 'host'
    shutil.copytree(os.path.dirname(sample_sysfs), str(dest), symlinks=True)
    return str(dest / 'sys')


def by_name(records):
    return dict((record['name'], record) for record in records)


def test_names_follow_libvirt_scheme(sample_sysfs):
    names = set(by_name(SysfsReader(sample_sysfs).read_devices()))
    assert {'computer', 'pci_0000_01_00_0', 'usb_usb1', 'usb_1_3', 'usb_1_3_1_0', 'usb_1_0_1_0',
            'scsi_host0', 'scsi_target0_0_0', 'scsi_0_0_0_0', 'net_enp2s0_a8_a1_59_00_00_01',
            'block_sda_Samsung_SSD_870_EVO_1TB_S6PTNS0T123456A'} <= names
    assert not any(name.startswith('block_sda1') for name in names), 'partitions are not node devices'


def test_parents_are_the_nearest_listed_ancestor(sample_sysfs):
    records = by_name(SysfsReader(sample_sysfs).read_devices())
    assert records['pci_0000_00_01_0']['parent'] == 'computer'
    assert records['pci_0000_04_01_0']['parent'] == 'pci_0000_03_00_0'
    assert records['usb_usb1']['parent'] == 'pci_0000_00_14_0'
    # ata1/ is no device of its own: the scsi host hangs off the SATA controller.
    assert records['scsi_host0']['parent'] == 'pci_0000_00_17_0'
    assert records['block_sda_Samsung_SSD_870_EVO_1TB_S6PTNS0T123456A']['parent'] == 'scsi_0_0_0_0'
    assert records['net_enp4s1_00_1b_21_00_00_41']['parent'] == 'pci_0000_04_01_0'


def test_pci_attributes(sample_sysfs):
    gpu = by_name(SysfsReader(sample_sysfs).read_devices())['pci_0000_01_00_0']
    assert gpu['driver'] == 'nvidia'
    assert gpu['path'] == '/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0'
    pci = gpu['pci']
    assert pci['class'] == '0x030000'
    assert pci['iommu_group'] == 1
    assert pci['boot_vga'] is False
    assert pci['reset_method'] == ['bus']
    assert (pci['subsystem_vendor_id'], pci['subsystem_id']) == ('0x10de', '0x14ad')
    assert (pci['vendor'], pci['product'], pci['class_name']) == \
        ('NVIDIA Corporation', 'GA104GL [RTX A4000]', 'VGA compatible controller')
    assert pci['numa_node'] == 0
    assert pci['sriov'] is None and pci['mdev_types'] is None


def test_usb_and_scsi_attributes(sample_sysfs):
    records = by_name(SysfsReader(sample_sysfs).read_devices())
    assert records['usb_usb1']['usb']['class'] == '0x09'
    assert records['usb_1_3']['usb'] == {'bus': 1, 'device': 3, 'vendor_id': '0x046d', 'product_id': '0xc31c',
                                         'vendor': 'Logitech, Inc.', 'product': 'Keyboard K120', 'class': '0x00'}
    assert records['usb_1_3_1_0']['usb_interface'] == {'number': 0, 'class': 3, 'subclass': 1, 'protocol': 1}
    assert records['scsi_0_0_0_0']['scsi'] == {'host': 0, 'bus': 0, 'target': 0, 'lun': 0, 'type': 'disk'}
    assert records['scsi_0_0_0_0']['driver'] == 'sd'


def test_unreadable_attribute_is_null(sample_copy):
    class_file = os.path.join(sample_copy, 'devices/pci0000:00/0000:00:02.0/class')
    os.remove(class_file)
    os.mkdir(class_file)  # reading a directory fails, as an unreadable file would
    records = by_name(SysfsReader(sample_copy).read_devices())
    assert records['pci_0000_00_02_0']['pci']['class'] is None


def test_device_that_vanished_is_skipped_with_a_warning(sample_copy, monkeypatch):
    """Unplugged right after the listing: a live sysfs removes the device's links with its directory."""
    device_dir = os.path.join(sample_copy, 'devices/pci0000:00/0000:00:1c.0/0000:02:00.0')
    reader = SysfsReader(sample_copy)
    listdir = reader.tree.listdir

    def listed_then_unplugged(path):
        entries = listdir(path)
        if path == reader.tree.path('bus', 'pci', 'devices') and os.path.isdir(device_dir):
            shutil.rmtree(device_dir)
            os.remove(os.path.join(path, '0000:02:00.0'))
        return entries
    monkeypatch.setattr(reader.tree, 'listdir', listed_then_unplugged)
    names = by_name(reader.read_devices())
    assert 'pci_0000_02_00_0' not in names
    assert any('pci_0000_02_00_0' in warning and 'vanished' in warning for warning in reader.warnings)


def test_a_dangling_link_is_named_as_such_not_as_a_device_that_vanished(sample_copy):
    """A partial copy of a tree: class/net/wg0 points to a directory the copy left out."""
    os.symlink('../../devices/virtual/net/wg0', os.path.join(sample_copy, 'class', 'net', 'wg0'))
    reader = SysfsReader(sample_copy)
    names = by_name(reader.read_devices())
    assert not [name for name in names if name.startswith('net_wg0')]
    assert [warning for warning in reader.warnings if 'wg0' in warning] == [
        'the link class/net/wg0 points to ../../devices/virtual/net/wg0, which is not in the tree (a dangling '
        'link: is the tree an incomplete copy?); device net_wg0 skipped']


def test_sriov_from_links(sample_copy):
    pf = os.path.join(sample_copy, 'devices/pci0000:00/0000:00:1c.0/0000:02:00.0')
    vf = os.path.join(sample_copy, 'devices/pci0000:00/0000:00:1c.0/0000:02:10.0')
    os.makedirs(vf)
    for key, value in (('class', '0x020000'), ('vendor', '0x8086'), ('device', '0x15f4')):
        with open(os.path.join(vf, key), 'w') as handle:
            handle.write(value + '\n')
    with open(os.path.join(pf, 'sriov_totalvfs'), 'w') as handle:
        handle.write('7\n')
    with open(os.path.join(pf, 'sriov_drivers_autoprobe'), 'w') as handle:
        handle.write('1\n')
    os.symlink('../0000:02:10.0', os.path.join(pf, 'virtfn0'))
    os.symlink('../0000:02:00.0', os.path.join(vf, 'physfn'))
    os.symlink('../../../devices/pci0000:00/0000:00:1c.0/0000:02:10.0',
               os.path.join(sample_copy, 'bus/pci/devices/0000:02:10.0'))
    records = by_name(SysfsReader(sample_copy).read_devices())
    assert records['pci_0000_02_00_0']['pci']['sriov'] == {
        'totalvfs': 7, 'numvfs': 1, 'drivers_autoprobe': True, 'virtual_functions': ['pci_0000_02_10_0'],
        'physical_function': None}
    assert records['pci_0000_02_10_0']['pci']['sriov']['physical_function'] == 'pci_0000_02_00_0'
    assert records['pci_0000_02_10_0']['parent'] == 'pci_0000_00_1c_0'


def test_libvirt_style_names():
    assert libvirt_style_name('net', 'br-lan.10', '52:54:00:aa:bb:cc') == 'net_br_lan_10_52_54_00_aa_bb_cc'
    assert libvirt_style_name('usb', '1-3:1.0') == 'usb_1_3_1_0'
