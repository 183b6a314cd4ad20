"""What the host itself runs on: mounts, swap, device-mapper, bridges, the default route."""

import os
import shutil

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_usage import attach_host_usage, read_host_usage
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_reader import SysfsReader
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree


def test_host_usage_of_the_sample_host(sample_sysfs):
    tree = SysfsTree(sample_sysfs)
    usage = dict((tree.libvirt_path(path), uses) for path, uses in read_host_usage(tree).items())
    assert usage == {
        '/sys/devices/pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0/block/sdb':
            ['mounted at /', 'mounted at /boot/efi', 'swap']}


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), 'w') as handle:
        handle.write(text)


def test_host_usage_through_device_mapper_and_a_bridge(tmp_path):
    """/ on LVM over a partition of vda; the default route on a bridge over eth0; swap on vdb."""
    sys_root = tmp_path / 'sys'
    devices = sys_root / 'devices'
    vda = devices / 'pci0000:00' / '0000:00:04.0' / 'virtio1' / 'block' / 'vda'
    vdb = devices / 'pci0000:00' / '0000:00:05.0' / 'virtio2' / 'block' / 'vdb'
    dm = devices / 'virtual' / 'block' / 'dm-0'
    write(vda / 'vda3' / 'partition', '3')
    write(vdb / 'dev', '252:16')
    write(dm / 'dm' / 'name', 'vg-root')
    (dm / 'slaves').mkdir(parents=True)
    os.symlink(str(vda / 'vda3'), str(dm / 'slaves' / 'vda3'))
    eth0 = devices / 'pci0000:00' / '0000:00:03.0' / 'virtio0' / 'net' / 'eth0'
    br0 = devices / 'virtual' / 'net' / 'br0'
    write(eth0 / 'address', '52:54:00:00:00:01')
    write(br0 / 'address', '52:54:00:00:00:01')
    os.symlink(str(eth0), str(br0 / 'lower_eth0'))
    for name, target in (('vda3', vda / 'vda3'), ('vdb', vdb), ('dm-0', dm)):
        (sys_root / 'class' / 'block').mkdir(parents=True, exist_ok=True)
        os.symlink(str(target), str(sys_root / 'class' / 'block' / name))
    (sys_root / 'class' / 'net').mkdir(parents=True)
    os.symlink(str(eth0), str(sys_root / 'class' / 'net' / 'eth0'))
    os.symlink(str(br0), str(sys_root / 'class' / 'net' / 'br0'))
    write(tmp_path / 'proc' / 'mounts', '/dev/mapper/vg-root / xfs rw 0 0\n/dev/my\\040disk /x ext4 rw 0 0\n')
    write(tmp_path / 'proc' / 'swaps', 'Filename Type Size Used Priority\n/dev/vdb partition 1 0 -2\n')
    write(tmp_path / 'proc' / 'net' / 'route',
          'Iface\tDestination\tGateway\tFlags\nbr0\t00000000\t0102A8C0\t0003\nbr0\t0002A8C0\t00000000\t0001\n')
    write(tmp_path / 'proc' / 'net' / 'ipv6_route',
          '00000000000000000000000000000000 00 00000000000000000000000000000000 00 '
          'fe800000000000000000000000000001 00000400 00000001 00000000 00000003 lo\n')
    reader = SysfsReader(str(sys_root))
    usage = dict((reader.tree.libvirt_path(path), uses) for path, uses in read_host_usage(reader.tree).items())
    assert usage == {
        '/sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda': ['mounted at /'],
        '/sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vdb': ['swap'],
        '/sys/devices/virtual/net/br0': ['default route'],
        '/sys/devices/pci0000:00/0000:00:03.0/virtio0/net/eth0': ['default route (through br0)'],
    }
    # The interface, disk and bridge sit under devices the readers list: the records get the uses.
    names = dict((record['name'], record) for record in reader.read_devices())
    assert 'net_eth0_52_54_00_00_00_01' in names and 'net_br0_52_54_00_00_00_01' in names


def test_host_use_reaches_the_nearest_listed_device(sample_sysfs):
    """Without udev libvirt lists no storage: the SCSI disk above the block device gets its uses."""
    reader = SysfsReader(sample_sysfs)
    records = [record for record in reader.read_devices() if record['type'] != 'storage']
    attach_host_usage(records, reader.tree)
    by_name = dict((record['name'], record) for record in records)
    assert by_name['scsi_1_0_0_0']['host_use'] == ['mounted at /', 'mounted at /boot/efi', 'swap']
    assert 'host_use' not in by_name['scsi_0_0_0_0']


def host_copy(sample_sysfs, tmp_path, *removed):
    """A copy of the sample host without the host files removed (proc/mounts, ...): its sysfs tree."""
    dest = tmp_path / 'host'
    shutil.copytree(os.path.dirname(sample_sysfs), str(dest), symlinks=True)
    for relative in removed:
        os.remove(str(dest / relative))
    return str(dest / 'sys')


def test_the_sample_hosts_use_is_known(sample_sysfs):
    reader = SysfsReader(sample_sysfs)
    assert attach_host_usage(reader.read_devices(), reader.tree) == []
    assert reader.warnings == []


@pytest.mark.parametrize('removed, unknown', [
    (('proc/mounts',), ['proc/mounts']),
    (('proc/net/route',), ['proc/net/route or {root}/proc/net/ipv6_route']),
    (('proc/mounts', 'proc/net/route'), ['proc/mounts', 'proc/net/route or {root}/proc/net/ipv6_route']),
])
def test_without_mounts_or_a_route_table_the_hosts_use_is_unknown_not_nothing(sample_sysfs, tmp_path,
                                                                              removed, unknown):
    root = host_copy(sample_sysfs, tmp_path, *removed)
    host = os.path.dirname(root)
    reader = SysfsReader(root)
    found = attach_host_usage(reader.read_devices(), reader.tree)
    assert found == [os.path.join(host, item.format(root=host)) for item in unknown]
    assert reader.warnings == [
        'what the host itself runs on is unknown: %s cannot be read, so no device is known to be free of it '
        '(blocker host_use_unknown)' % ' and '.join(found)]


def test_without_a_swaps_file_the_hosts_use_is_known(sample_sysfs, tmp_path):
    """A kernel without swap support has no /proc/swaps: its mounts still say where the root disk is."""
    reader = SysfsReader(host_copy(sample_sysfs, tmp_path, 'proc/swaps'))
    records = reader.read_devices()
    assert attach_host_usage(records, reader.tree) == []
    by_name = dict((record['name'], record) for record in records)
    assert by_name['block_sdb_CT500MX500SSD1_2113E5901234']['host_use'] == ['mounted at /', 'mounted at /boot/efi']


def test_the_ipv6_route_table_alone_is_a_route_table(sample_sysfs, tmp_path):
    root = host_copy(sample_sysfs, tmp_path, 'proc/net/route')
    write(os.path.join(os.path.dirname(root), 'proc', 'net', 'ipv6_route'),
          '00000000000000000000000000000000 00 00000000000000000000000000000000 00 '
          'fe800000000000000000000000000001 00000400 00000001 00000000 00000003 enp4s0\n')
    reader = SysfsReader(root)
    records = reader.read_devices()
    assert attach_host_usage(records, reader.tree) == []
    by_name = dict((record['name'], record) for record in records)
    assert by_name['net_enp4s0_00_1b_21_00_00_40']['host_use'] == ['default route']
