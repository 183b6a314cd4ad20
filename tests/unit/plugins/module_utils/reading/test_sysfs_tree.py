"""The careful reads every sysfs reader goes through."""

import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, shown
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree


def test_unreadable_files_and_directories_give_nothing(tmp_path):
    tree = SysfsTree(str(tmp_path / 'sys'))
    (tmp_path / 'sys').mkdir()
    (tmp_path / 'sys' / 'number').write_text(' 42\n')
    (tmp_path / 'sys' / 'word').write_text('forty-two\n')
    (tmp_path / 'sys' / 'binary').write_bytes(b'\xff\xfe')
    assert tree.read(tree.path('number')) == '42'
    assert tree.read_int(tree.path('number'), 100) == 42
    assert tree.read_int(tree.path('word'), 100) is None
    assert tree.read(tree.path('binary')) is None
    assert tree.read(tree.path('missing')) is None
    assert tree.listdir(tree.path('missing')) == []
    assert tree.link_name(tree.path('number')) is None


@pytest.mark.parametrize('text, options, value', [
    ('42', {}, 42),
    ('007', {}, 7),
    ('-1', {'minimum': -1}, -1),          # numa_node: -1 is 'none'
    ('03', {'base': 16}, 3),              # bInterfaceClass: %02x
    ('0x1003', {'base': 16, 'maximum': 0xffffffff}, 0x1003),  # a net interface's flags: %#x
    ('-1', {}, None),                     # no sign where the kernel writes none
    ('-2', {'minimum': -1}, None),
    ('+1', {}, None),
    ('1_0', {}, None),                    # int() reads 10
    ('\u0661', {}, None),                 # int() reads an Arabic-Indic 1 as 1
    ('\uff11', {}, None),                 # and a fullwidth 1
    ('1 0', {}, None),
    ('101', {}, None),                    # above maximum
    ('0000000042', {}, None),             # wider than maximum can be: a long run of digits is not read
    ('9' * 5000, {}, None),               # int() would raise past 4300 digits
    ('0x10', {}, None),                   # 0x in a decimal number
    ('ff', {}, None),
    ('0x', {'base': 16}, None),
    ('', {}, None),
])
def test_a_number_is_read_only_as_the_kernel_writes_it_with_a_warning_on_junk(tmp_path, text, options, value):
    tree = SysfsTree(str(tmp_path / 'sys'))
    (tmp_path / 'sys').mkdir()
    (tmp_path / 'sys' / 'number').write_text(text + '\n')
    assert tree.read_int(tree.path('number'), **dict({'maximum': 100}, **options)) == value
    assert tree.warnings == ([] if value is not None else [
        '/sys/number cannot be read as a number (%s): it is taken as unknown' % shown(repr(text))])
    assert tree.read_int(tree.path('missing'), 100) is None and len(tree.warnings) == (0 if value is not None else 1)


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


def test_libvirt_paths_of_the_root_and_outside_it(tmp_path):
    tree = SysfsTree(str(tmp_path / 'sys'))
    assert tree.libvirt_path(str(tmp_path / 'sys')) == '/sys'
    assert tree.libvirt_path(str(tmp_path / 'sys2' / 'x')) == '/sys/../sys2/x'  # as os.path.relpath says


def test_resolved_paths_are_realpaths(tmp_path, monkeypatch):
    """Every kind of link a tree may hold resolves as os.path.realpath resolves it."""
    sys_root = tmp_path / 'host' / 'sys'
    device = sys_root / 'devices' / 'pci0000:00' / '0000:00:01.0' / '0000:01:00.0'
    (device / 'net' / 'eth0').mkdir(parents=True)
    (sys_root / 'bus' / 'pci' / 'devices').mkdir(parents=True)
    (sys_root / 'class' / 'net').mkdir(parents=True)
    links = {
        'bus/pci/devices/0000:01:00.0': '../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0',  # relative
        'bus/pci/devices/abs': str(device),                                                    # absolute
        'class/net/eth0': '../../bus/pci/devices/0000:01:00.0/net/eth0',                        # through a link
        'class/net/chain': 'eth0',                                                             # link to a link
        'class/net/gone': '../../devices/nothing/here',                                        # dangling
        'class/net/loop1': 'loop2', 'class/net/loop2': 'loop1',                                # a loop
        'shortcut': 'devices/pci0000:00',                                                      # a linked directory
        'twisted': 'shortcut/../pci0000:00/./0000:00:01.0/',                                   # '..' after a link
    }
    for link, target in links.items():
        os.symlink(target, str(sys_root / link))
    (tmp_path / 'alias').symlink_to(tmp_path / 'host')                                         # a linked root
    tree = SysfsTree(str(tmp_path / 'alias' / 'sys'))
    paths = [str(tmp_path / 'alias' / 'sys' / link) for link in links] + [
        str(tmp_path / 'alias' / 'sys' / 'shortcut' / '0000:00:01.0' / '0000:01:00.0' / 'net' / 'eth0'),
        str(tmp_path / 'alias' / 'sys' / 'shortcut' / '..' / 'pci0000:00'),
        str(tmp_path / 'alias' / 'sys' / 'missing' / 'deeper'), '/', str(tmp_path),
        str(tmp_path / 'alias' / 'sys' / 'twisted' / '..' / '..'), str(tmp_path / 'alias' / 'sys') + '//devices/']
    for path in paths + paths:  # the second time from what it remembers
        assert tree.resolved(path) == os.path.realpath(path), path
    monkeypatch.chdir(str(tmp_path / 'alias'))
    assert tree.resolved('sys/class/net/eth0') == os.path.realpath('sys/class/net/eth0') == str(device / 'net' / 'eth0')
    assert tree.resolved(str(sys_root / 'class' / 'net' / 'chain')) == str(device / 'net' / 'eth0')


def test_reads_are_whole_stripped_utf8_text(tmp_path):
    tree = SysfsTree(str(tmp_path / 'sys'))
    (tmp_path / 'sys').mkdir()
    big = 'x' * 200000 + '\n'  # more than one os.read
    (tmp_path / 'sys' / 'big').write_text(big)
    (tmp_path / 'sys' / 'crlf').write_bytes(b'a\r\nb\rc\n')
    (tmp_path / 'sys' / 'utf8').write_bytes('Ger\u00e4t\n'.encode('utf-8'))
    (tmp_path / 'sys' / 'empty').write_text('')
    assert tree.read(tree.path('big')) == big.strip()
    assert tree.read(tree.path('crlf')) == 'a\nb\nc'
    assert tree.read(tree.path('utf8')) == 'Ger\u00e4t'
    assert tree.read(tree.path('empty')) == ''
    assert tree.read(str(tmp_path / 'sys')) is None  # a directory


def test_a_root_one_level_above_a_sys_directory_suggests_it(sample_sysfs):
    """/srv/snap instead of /srv/snap/sys: the copy of a host, not its sysfs tree."""
    above = os.path.dirname(sample_sysfs)
    with pytest.raises(HostdevError) as caught:
        SysfsTree(above).require_sysfs()
    assert caught.value.message == (
        'sysfs_root %s is not a sysfs tree: it has no devices/, bus/, class/ directories (a sysfs tree has '
        'devices, bus, class); %s has a sys/ directory: did you mean %s?' % (above, above, sample_sysfs))


def test_a_root_without_a_sys_directory_suggests_nothing(tmp_path):
    with pytest.raises(HostdevError) as caught:
        SysfsTree(str(tmp_path)).require_sysfs()
    assert caught.value.message.endswith('(a sysfs tree has devices, bus, class)')
