"""Vendor, product and PCI class names: pci.ids/usb.ids (only the wanted lines), else udev's
hardware database, else the USB descriptor and the static class table."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.reading import id_names
from ansible_collections.virt.hostdev.plugins.module_utils.reading.id_names import IdQuery, fill_names, udev_properties
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import device_record
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

PCI_IDS = """# comment
10de  NVIDIA Corporation
\t24b0  GA104GL [RTX A4000]
\t\t10de 14ad  RTX A4000 (subsystem line, ignored)
\t2230  AD102GL [RTX 6000 Ada Generation]
8086  Intel Corporation
\t15f3  Ethernet Controller I225-V
\t24b0  an Intel product with an NVIDIA product's id
C 02  Network controller
\t00  Ethernet controller
C 03  Display controller
\t00  VGA compatible controller
\t\t00  VGA controller
\t02  3D controller
C 0c  Serial bus controller
"""

USB_IDS = """046d  Logitech, Inc.
\tc31c  Keyboard K120
C 03  Human Interface Device
AT 046d  not a vendor line
"""


def host(tmp_path, files=()):
    """A host root with a sysfs tree and the given files ({relative path: text or bytes})."""
    (tmp_path / 'sys').mkdir(exist_ok=True)
    for relative, text in dict(files).items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return SysfsTree(str(tmp_path / 'sys'))


def pci(address='0000:01:00.0', vendor_id='0x10de', product_id='0x24b0', pci_class='0x030000', **names):
    details = dict(address=address, vendor_id=vendor_id, product_id=product_id, **names)
    details['class'] = pci_class
    return device_record('pci_' + address.replace(':', '_').replace('.', '_'), 'pci', details=details)


def usb(path=None, vendor_id='0x046d', product_id='0xc31c'):
    return device_record('usb_1_3', 'usb_device', path=path,
                         details=dict(bus=1, device=3, vendor_id=vendor_id, product_id=product_id))


def names(record):
    sub = record.get('pci') or record['usb']
    return sub['vendor'], sub['product'], sub.get('class_name')


def test_names_and_class_names_from_debians_pci_ids(tmp_path):
    tree = host(tmp_path, {'usr/share/misc/pci.ids': PCI_IDS})
    records = [pci(), pci('0000:02:00.0', '0x8086', '0x15f3', '0x020000'), pci('0000:03:00.0', '0x8086', '0x9999'),
               pci('0000:04:00.0', '0x1234', '0x0001', '0x0c0330'), pci('0000:05:00.0', None, None, None)]
    fill_names(records, tree)
    assert [names(record) for record in records] == [
        ('NVIDIA Corporation', 'GA104GL [RTX A4000]', 'VGA compatible controller'),
        ('Intel Corporation', 'Ethernet Controller I225-V', 'Ethernet controller'),
        ('Intel Corporation', None, 'VGA compatible controller'),
        # a subclass pci.ids does not list: the static table's subclass name beats pci.ids' base class
        (None, None, 'USB controller'),
        (None, None, None)]


def test_hwdata_path_and_names_a_reader_found_are_kept(tmp_path):
    tree = host(tmp_path, {'usr/share/hwdata/pci.ids': PCI_IDS})
    records = [pci(vendor='libvirt vendor', pci_class='0x030200'), pci(class_name='kept', product='kept too')]
    fill_names(records, tree)
    assert names(records[0]) == ('libvirt vendor', 'GA104GL [RTX A4000]', '3D controller')
    assert names(records[1]) == ('NVIDIA Corporation', 'kept too', 'kept')


def test_only_the_wanted_lines_are_kept_in_one_pass(tmp_path):
    path = tmp_path / 'pci.ids'
    path.write_text(PCI_IDS)
    query = IdQuery()
    query.want_device('0x10de', '0x24b0')
    query.want_class('02', '00')
    assert query.read(str(path))
    assert query.vendor_names == {'10de': 'NVIDIA Corporation'}
    assert query.product_names == {('10de', '24b0'): 'GA104GL [RTX A4000]'}
    assert query.class_names == {('02', None): 'Network controller', ('02', '00'): 'Ethernet controller'}


def test_a_product_is_searched_in_its_own_vendors_block_only(tmp_path):
    path = tmp_path / 'pci.ids'
    path.write_text('10de  NVIDIA Corporation\n\t\t10de 24b1  a subsystem line\n# a comment in the block\n'
                    '\t24b1  GA104\n'
                    '8086  Intel Corporation\n\t24b0  an Intel product\n')
    query = IdQuery()
    query.want_device('0x10de', '0x24b0')
    query.want_device('0x10de', '0x24b1')
    query.want_device('0x8086', None)
    assert query.read(str(path))
    assert query.vendor_names == {'10de': 'NVIDIA Corporation', '8086': 'Intel Corporation'}
    assert query.product_names == {('10de', '24b1'): 'GA104'}


def test_usb_names_from_usb_ids_and_a_class_line_is_not_a_vendor(tmp_path):
    tree = host(tmp_path, {'usr/share/misc/usb.ids': USB_IDS})
    record = usb()
    fill_names([record], tree)
    assert names(record) == ('Logitech, Inc.', 'Keyboard K120', None)
    query = IdQuery()
    query.want_device('0xc0de', None)  # 'C 03' and 'AT 046d' lines never match a vendor
    query.read(str(tmp_path / 'usr/share/misc/usb.ids'))
    assert query.vendor_names == {}


def usb_device_dir(tmp_path, dev='189:2', manufacturer='Logi', product='USB Keyboard'):
    device = tmp_path / 'sys' / 'devices' / 'pci0000:00' / '0000:00:14.0' / 'usb1' / '1-3'
    device.mkdir(parents=True)
    for name, value in (('dev', dev), ('manufacturer', manufacturer), ('product', product)):
        if value is not None:
            (device / name).write_text(value + '\n')
    return '/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3'


def test_without_databases_udev_names_the_devices(tmp_path):
    gpu = ('E:ID_VENDOR_FROM_DATABASE=NVIDIA Corporation\nE:ID_MODEL_FROM_DATABASE=GA104GL [RTX A4000]\n'
           'E:ID_PCI_CLASS_FROM_DATABASE=Display controller\n'
           'E:ID_PCI_SUBCLASS_FROM_DATABASE=VGA compatible controller\n')
    tree = host(tmp_path, {
        'run/udev/data/+pci:0000:01:00.0': gpu,
        'run/udev/data/+pci:0000:00:1f.4': 'E:ID_PCI_CLASS_FROM_DATABASE=Serial bus controller\n',
        'run/udev/data/c189:2': 'E:ID_VENDOR_FROM_DATABASE=Logitech, Inc.\nE:ID_MODEL_FROM_DATABASE=Keyboard K120\n'})
    path = usb_device_dir(tmp_path)
    records = [pci(), pci('0000:00:1f.4', '0x8086', '0x7aa3', '0x0c8000'), usb(path)]
    fill_names(records, tree)
    assert [names(record) for record in records] == [
        ('NVIDIA Corporation', 'GA104GL [RTX A4000]', 'VGA compatible controller'),
        (None, None, 'Serial bus controller'),
        ('Logitech, Inc.', 'Keyboard K120', None)]


def test_a_usb_device_unknown_to_both_databases_keeps_its_descriptor_strings(tmp_path):
    tree = host(tmp_path, {'usr/share/misc/usb.ids': USB_IDS})
    record = usb(usb_device_dir(tmp_path, dev='189:7'), vendor_id='0x1234', product_id='0x5678')
    fill_names([record], tree)
    assert names(record) == ('Logi', 'USB Keyboard', None)


def test_without_the_hosts_files_only_the_static_class_names_apply(tmp_path):
    records = [pci(pci_class='0x010802'), pci(pci_class='0x120000'), usb()]
    fill_names(records, None)
    assert [names(record) for record in records] == [
        (None, None, 'NVMe controller'), (None, None, 'processing accelerator'), (None, None, None)]


def test_nothing_is_read_when_nothing_is_wanted(tmp_path, monkeypatch):
    tree = host(tmp_path, {'usr/share/misc/pci.ids': PCI_IDS})
    monkeypatch.setattr(IdQuery, 'read', lambda self, path: pytest.fail('read %s' % path))
    fill_names([pci(vendor='v', product='p', class_name='c')], tree)


def test_undecodable_bytes_and_an_unreadable_file(tmp_path):
    tree = host(tmp_path, {'usr/share/misc/usb.ids': b'046d  Logitech\n\tc31c  Keyboard \xff\n'})
    record = usb()
    fill_names([record], tree)
    assert names(record) == ('Logitech', 'Keyboard \ufffd', None)
    assert IdQuery().read(str(tmp_path / 'missing')) is False


def test_udev_properties_skip_empty_values(tmp_path):
    tree = host(tmp_path, {'run/udev/data/+pci:x': 'S:a\nE:A=1\nE:B=\nI:1\n'})
    assert udev_properties(tree, '+pci:x') == {'A': '1'}
    assert udev_properties(tree, 'missing') == {}


def test_the_real_pci_ids_parses_the_common_classes():
    """The host's own pci.ids (bindep.txt installs it: Debian's pci.ids, hwdata elsewhere)."""
    query = IdQuery()
    query.want_class('03', '00')
    query.want_device('0x8086', None)
    assert query.read('/usr/share/misc/pci.ids'), 'pci.ids is not installed: see bindep.txt'
    assert query.class_names[('03', '00')] == 'VGA compatible controller'
    assert query.vendor_names['8086'] == 'Intel Corporation'
    assert id_names.ID_DATABASES['pci'][0] == 'usr/share/misc/pci.ids'
