"""The careful reads every sysfs reader goes through."""

import os

from ansible_collections.virt.hostdev.plugins.module_utils.sysfs_tree import SysfsTree


def test_unreadable_files_and_directories_give_nothing(tmp_path):
    tree = SysfsTree(str(tmp_path / 'sys'))
    (tmp_path / 'sys').mkdir()
    (tmp_path / 'sys' / 'number').write_text(' 42\n')
    (tmp_path / 'sys' / 'word').write_text('forty-two\n')
    (tmp_path / 'sys' / 'binary').write_bytes(b'\xff\xfe')
    assert tree.read(tree.path('number')) == '42'
    assert tree.read_int(tree.path('number')) == 42
    assert tree.read_int(tree.path('word')) is None
    assert tree.read(tree.path('binary')) is None
    assert tree.read(tree.path('missing')) is None
    assert tree.listdir(tree.path('missing')) == []
    assert tree.link_name(tree.path('number')) is None


def test_paths_outside_sysfs_are_read_beside_the_root(tmp_path):
    tree = SysfsTree(str(tmp_path / 'host' / 'sys'))
    assert tree.host_file('proc/cmdline') == str(tmp_path / 'host' / 'proc' / 'cmdline')


def test_libvirt_paths_map_to_the_root_and_back(tmp_path):
    device = tmp_path / 'sys' / 'devices' / 'pci0000:00' / '0000:00:02.0'
    device.mkdir(parents=True)
    tree = SysfsTree(str(tmp_path / 'sys'))
    assert tree.libvirt_path(str(device)) == '/sys/devices/pci0000:00/0000:00:02.0'
    assert tree.real_path('/sys/devices/pci0000:00/0000:00:02.0') == str(device)
    assert tree.real_path('/sys/devices/pci0000:00/0000:00:03.0') is None
    assert tree.real_path('/etc/passwd') is None
    assert tree.real_path(None) is None
    os.symlink(str(device), str(tmp_path / 'sys' / 'link'))
    assert tree.link_name(str(tmp_path / 'sys' / 'link')) == '0000:00:02.0'
