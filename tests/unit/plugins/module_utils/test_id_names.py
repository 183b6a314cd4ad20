"""Vendor and product names from pci.ids and usb.ids, parsed once when first asked."""

from ansible_collections.virt.hostdev.plugins.module_utils.id_names import IdNames
from ansible_collections.virt.hostdev.plugins.module_utils.sysfs_tree import SysfsTree

PCI_IDS = """# comment
10de  NVIDIA Corporation
\t24b0  GA104GL [RTX A4000]
\t\t10de 14ad  RTX A4000 (subsystem line, ignored)
8086  Intel Corporation
\t15f3  Ethernet Controller I225-V
C 03  Display controller
"""


def host(tmp_path, relative=None, text=PCI_IDS):
    (tmp_path / 'sys').mkdir()
    if relative:
        path = tmp_path / relative
        path.parent.mkdir(parents=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return IdNames(SysfsTree(str(tmp_path / 'sys')))


def test_names_from_debians_path(tmp_path):
    names = host(tmp_path, 'usr/share/misc/pci.ids')
    assert names.names('pci', '0x10de', '0x24b0') == ('NVIDIA Corporation', 'GA104GL [RTX A4000]')
    assert names.names('pci', '0x8086', '0x9999') == ('Intel Corporation', None)
    assert names.names('pci', '0x1234', '0x0001') == (None, None)
    assert names.names('pci', None, None) == (None, None)


def test_names_from_hwdata_path_and_the_parse_is_cached(tmp_path):
    names = host(tmp_path, 'usr/share/hwdata/pci.ids')
    assert names.names('pci', '0x8086', '0x15f3') == ('Intel Corporation', 'Ethernet Controller I225-V')
    (tmp_path / 'usr/share/hwdata/pci.ids').unlink()
    assert names.names('pci', '0x8086', '0x15f3') == ('Intel Corporation', 'Ethernet Controller I225-V')


def test_without_a_database_every_name_is_unknown(tmp_path):
    names = host(tmp_path)
    assert names.names('usb', '0x046d', '0xc31c') == (None, None)


def test_undecodable_bytes_do_not_break_the_parse(tmp_path):
    names = host(tmp_path, 'usr/share/misc/usb.ids', b'046d  Logitech\n\tc31c  Keyboard \xff\n')
    assert names.names('usb', '0x046d', '0xc31c') == ('Logitech', 'Keyboard \ufffd')
