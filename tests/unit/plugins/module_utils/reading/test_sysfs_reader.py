"""sysfs reader on the sample host's fake tree and on small trees made per test."""

import os
import shutil

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_reader import SysfsReader, libvirt_style_name

from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import host_facts

from support.fake_host import write
from fixtures.sample_host import build_tree
from fixtures.sriov_host import NVME_PF, add_sriov, net_vf
from fixtures.synthetic_host import sriov_vf_address, synthetic_sriov_sysfs


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
    os.symlink('../0000:02:10.0', os.path.join(pf, 'virtfn0'))
    os.symlink('../0000:02:00.0', os.path.join(vf, 'physfn'))
    os.symlink('../../../devices/pci0000:00/0000:00:1c.0/0000:02:10.0',
               os.path.join(sample_copy, 'bus/pci/devices/0000:02:10.0'))
    records = by_name(SysfsReader(sample_copy).read_devices())
    assert records['pci_0000_02_00_0']['pci']['sriov'] == {
        'totalvfs': 7, 'numvfs': 1, 'drivers_autoprobe': None, 'offset': None, 'stride': None,
        'virtual_functions': ['0000:02:10.0'],
        'physical_function': None, 'vf_index': None, 'netdev': None, 'link': None, 'vgpu': None}
    assert records['pci_0000_02_10_0']['pci']['sriov']['physical_function'] == '0000:02:00.0'
    assert records['pci_0000_02_10_0']['parent'] == 'pci_0000_00_1c_0'


@pytest.fixture(scope='module')
def sriov_records(tmp_path_factory):
    """The records of a synthetic host of 2 igb PFs with 12 VFs each, one VF with NVIDIA's vGPU attributes."""
    root = synthetic_sriov_sysfs(str(tmp_path_factory.mktemp('sriov')), pfs=2, vfs=12, nvidia_vf=(1, 11))
    return by_name(SysfsReader(root).read_devices())


def test_a_pf_lists_its_vfs_in_index_order(sriov_records):
    """virtfn10 and virtfn11 come after virtfn9, not after virtfn1 as a listing sorts them."""
    sriov = sriov_records['pci_0000_81_00_0']['pci']['sriov']
    assert sriov['virtual_functions'] == [sriov_vf_address(0, vf) for vf in range(12)]
    assert sriov['virtual_functions'][10] == '0000:81:11.2'
    assert (sriov['totalvfs'], sriov['numvfs'], sriov['drivers_autoprobe']) == (12, 12, True)
    assert sriov['physical_function'] is None and sriov['vgpu'] is None


def test_a_vf_names_its_pf_and_reads_no_listing(sriov_records):
    vf = sriov_records['pci_0000_82_11_3']
    assert vf['driver'] == 'igbvf'
    assert vf['pci']['sriov']['physical_function'] == '0000:82:00.0'
    assert vf['pci']['sriov']['totalvfs'] is None and vf['pci']['sriov']['virtual_functions'] == []


def test_nvidia_vgpu_attributes_of_a_vf(sriov_records):
    assert sriov_records['pci_0000_82_11_3']['pci']['sriov']['vgpu'] == {
        'creatable_types': [{'id': 557, 'name': 'NVIDIA L4-1B'}, {'id': 558, 'name': 'NVIDIA L4-2B'}],
        'current_type': 0}
    assert sriov_records['pci_0000_82_11_2']['pci']['sriov']['vgpu'] is None


def test_unreadable_nvidia_attributes_give_no_types(sample_copy):
    """A VF whose nvidia/ directory has junk: no types, current type unknown, no traceback."""
    vf = os.path.join(sample_copy, 'devices/pci0000:00/0000:00:1c.0/0000:02:10.0')
    os.makedirs(os.path.join(vf, 'nvidia'))
    with open(os.path.join(vf, 'nvidia', 'creatable_vgpu_types'), 'wb') as handle:
        handle.write(b'ID : vGPU Name\nnot a type\n\xff\xfe')
    with open(os.path.join(vf, 'nvidia', 'current_vgpu_type'), 'w') as handle:
        handle.write('none\n')
    os.symlink('../0000:02:00.0', os.path.join(vf, 'physfn'))
    os.symlink('../../../devices/pci0000:00/0000:00:1c.0/0000:02:10.0',
               os.path.join(sample_copy, 'bus/pci/devices/0000:02:10.0'))
    reader = SysfsReader(sample_copy)
    records = by_name(reader.read_devices())
    assert records['pci_0000_02_10_0']['pci']['sriov']['vgpu'] == {'creatable_types': None, 'current_type': None}
    assert records['pci_0000_02_00_0']['pci']['sriov'] is None  # no sriov_totalvfs: not a PF
    assert [warning for warning in reader.warnings if 'vGPU' in warning] == [
        'the vGPU attributes of 0000:02:10.0 (nvidia/creatable_vgpu_types, current_vgpu_type) cannot be read: '
        'what cannot be read is null']
    with open(os.path.join(vf, 'nvidia', 'creatable_vgpu_types'), 'w') as handle:
        handle.write('ID    : vGPU Name\nnot a type\n')
    found = SysfsReader(sample_copy).read_devices()
    assert by_name(found)['pci_0000_02_10_0']['pci']['sriov']['vgpu'] == {'creatable_types': [], 'current_type': None}


@pytest.mark.parametrize('junk', ['1_0', '\u0661', '-1', '99999999999'])
def test_a_junk_current_vgpu_type_is_unknown_with_a_warning_naming_the_file(sample_copy, junk):
    """int() read 1_0 as type 10 and an Arabic-Indic 1 as type 1: a VF said to have a vGPU type it has not."""
    vf = os.path.join(sample_copy, 'devices/pci0000:00/0000:00:1c.0/0000:02:10.0')
    os.makedirs(os.path.join(vf, 'nvidia'))
    write(vf, 'nvidia/creatable_vgpu_types', 'ID    : vGPU Name\n557   : NVIDIA L4-1B\n')
    write(vf, 'nvidia/current_vgpu_type', junk + '\n')
    os.symlink('../0000:02:00.0', os.path.join(vf, 'physfn'))
    os.symlink('../../../devices/pci0000:00/0000:00:1c.0/0000:02:10.0',
               os.path.join(sample_copy, 'bus/pci/devices/0000:02:10.0'))
    reader = SysfsReader(sample_copy)
    vgpu = by_name(reader.read_devices())['pci_0000_02_10_0']['pci']['sriov']['vgpu']
    assert vgpu == {'creatable_types': [{'id': 557, 'name': 'NVIDIA L4-1B'}], 'current_type': None}
    assert "/sys/devices/pci0000:00/0000:00:1c.0/0000:02:10.0/nvidia/current_vgpu_type cannot be read as a number " \
           "(%r): it is taken as unknown" % junk in reader.warnings


def test_libvirt_style_names():
    assert libvirt_style_name('net', 'br-lan.10', '52:54:00:aa:bb:cc') == 'net_br_lan_10_52_54_00_aa_bb_cc'
    assert libvirt_style_name('usb', '1-3:1.0') == 'usb_1_3_1_0'


# -- mediated devices: parents from /sys/class/mdev_bus, mdevs from /sys/bus/mdev, mdevctl's definitions --

HELD_UUID = 'c2177883-f1bb-47f0-914d-32a22e3a8804'
FREE_UUID = '5e3c1d9a-0f4b-4c2e-8a61-7d2b9e0c4f13'
DEFINED_UUID = '0d4f2b6e-9a1c-4e83-b5d7-6c2a8f1e3b90'


def sys_link(sysfs, path, target):
    """A relative symlink at <sysfs>/<path> to <sysfs>/<target>, as sysfs has."""
    full = os.path.join(sysfs, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.makedirs(os.path.join(sysfs, target), exist_ok=True)
    os.symlink(os.path.relpath(os.path.join(sysfs, target), os.path.dirname(full)), full)


def host_file(sysfs, relative, text):
    full = os.path.join(os.path.dirname(sysfs), relative)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w') as handle:
        handle.write(text)


def test_a_non_pci_parent_is_named_subsystem_sysname_and_its_mdevs_by_uuid_and_parent(sample_sysfs):
    records = by_name(SysfsReader(sample_sysfs).read_devices())
    parent = records['mtty_mtty']
    assert (parent['type'], parent['parent'], parent['path']) == ('mdev_types', 'computer', '/sys/devices/virtual/mtty/mtty')
    assert [(item['type'], item['available_instances'], item['device_api']) for item in parent['mdev_parent']['types']
            ] == [('mtty-1', 20, 'vfio-pci'), ('mtty-2', 10, 'vfio-pci')]
    held = records['mdev_%s_mtty' % HELD_UUID.replace('-', '_')]
    assert (held['parent'], held['driver'], held['path']) == ('mtty_mtty', 'mtty', '/sys/devices/virtual/mtty/mtty/' + HELD_UUID)
    assert held['mdev'] == {'uuid': HELD_UUID, 'type': 'mtty-2', 'device_api': 'vfio-pci', 'parent_address': 'mtty',
                            'iommu_group': 10, 'active': True, 'persistent': True, 'autostart': True}
    free = records['mdev_%s_mtty' % FREE_UUID.replace('-', '_')]['mdev']
    assert (free['active'], free['persistent'], free['autostart']) == (True, False, False)  # not defined in mdevctl


def test_a_pci_parent_keeps_its_types_with_their_description_under_pci(sample_copy):
    gpu = 'devices/pci0000:00/0000:00:02.0'
    for key, value in (('name', 'GVTg_V5_4'), ('device_api', 'vfio-pci'), ('available_instances', '3'),
                       ('description', 'low_gm_size: 128MB\nhigh_gm_size: 512MB\n')):
        write(sample_copy, '%s/mdev_supported_types/i915-GVTg_V5_4/%s' % (gpu, key), value + '\n')
    sys_link(sample_copy, 'class/mdev_bus/0000:00:02.0', gpu)
    sys_link(sample_copy, '%s/%s/mdev_type' % (gpu, DEFINED_UUID), gpu + '/mdev_supported_types/i915-GVTg_V5_4')
    sys_link(sample_copy, 'bus/mdev/devices/' + DEFINED_UUID, '%s/%s' % (gpu, DEFINED_UUID))
    records = by_name(SysfsReader(sample_copy).read_devices())
    assert records['pci_0000_00_02_0']['pci']['mdev_types'] == [
        {'type': 'i915-GVTg_V5_4', 'name': 'GVTg_V5_4', 'device_api': 'vfio-pci', 'available_instances': 3,
         'description': 'low_gm_size: 128MB\nhigh_gm_size: 512MB'}]
    assert records['pci_0000_00_02_0']['capabilities'] == ['mdev_types']  # as libvirt's sub-capability
    assert not [name for name in records if records[name]['type'] == 'mdev_types' and name != 'mtty_mtty']
    mdev = records['mdev_%s_0000_00_02_0' % DEFINED_UUID.replace('-', '_')]
    assert mdev['parent'] == 'pci_0000_00_02_0' and mdev['mdev']['parent_address'] == '0000:00:02.0'
    assert mdev['mdev']['type'] == 'i915-GVTg_V5_4' and mdev['mdev']['iommu_group'] is None


def test_defined_mdevs_that_do_not_exist_are_records_with_active_false(sample_copy):
    host_file(sample_copy, 'etc/mdevctl.d/mtty/' + DEFINED_UUID, '{"mdev_type": "mtty-1", "start": "manual"}')
    host_file(sample_copy, 'etc/mdevctl.d/css/' + FREE_UUID.replace('5e', '6e'), '{"mdev_type": "vfio_ccw-io", "start": "auto"}')
    model = read_host('sysfs', sysfs_root=sample_copy)[0]
    defined = model.device('mdev_%s_mtty' % DEFINED_UUID.replace('-', '_'))
    assert (defined['parent'], defined['path'], defined['driver']) == ('mtty_mtty', None, None)
    assert defined['mdev'] == {'uuid': DEFINED_UUID, 'type': 'mtty-1', 'device_api': 'vfio-pci', 'parent_address': 'mtty',
                               'iommu_group': None, 'active': False, 'persistent': True, 'autostart': False}
    orphan = model.device('mdev_%s_css' % FREE_UUID.replace('5e', '6e').replace('-', '_'))
    assert orphan['parent'] is None and orphan['mdev']['autostart'] is True and orphan['mdev']['device_api'] is None


def test_without_mdevctl_persistence_is_unknown_not_false(sample_copy):
    shutil.rmtree(os.path.join(os.path.dirname(sample_copy), 'etc', 'mdevctl.d'))
    records = by_name(SysfsReader(sample_copy).read_devices())
    held = records['mdev_%s_mtty' % HELD_UUID.replace('-', '_')]['mdev']
    assert (held['active'], held['persistent'], held['autostart']) == (True, None, None)


def mdev_states(reader, uuid):
    mdev = by_name(reader.read_devices())['mdev_%s_mtty' % uuid.replace('-', '_')]['mdev']
    return mdev['active'], mdev['persistent'], mdev['autostart']


def test_an_mdevctl_directory_that_cannot_be_listed_leaves_persistence_unknown_never_false(sample_copy, monkeypatch):
    """Root reads any directory: os.listdir is made to refuse /etc/mdevctl.d as it would refuse another user."""
    directory = os.path.join(os.path.dirname(sample_copy), 'etc', 'mdevctl.d')
    listdir = os.listdir

    def refusing(path):
        if os.path.abspath(path) == directory:
            raise PermissionError(13, 'Permission denied', path)
        return listdir(path)
    monkeypatch.setattr(os, 'listdir', refusing)
    reader = SysfsReader(sample_copy)
    assert mdev_states(reader, HELD_UUID) == mdev_states(reader, FREE_UUID) == (True, None, None)
    assert 'etc/mdevctl.d cannot be listed (Permission denied): whether any mdev is persistent, and its autostart, ' \
           'are unknown' in reader.warnings


def test_another_parents_directory_that_cannot_be_listed_leaves_these_mdevs_known(sample_copy):
    os.symlink('/nothing-here', os.path.join(os.path.dirname(sample_copy), 'etc', 'mdevctl.d', '0000:00:02.0'))
    reader = SysfsReader(sample_copy)
    assert mdev_states(reader, HELD_UUID) == (True, True, True)
    assert mdev_states(reader, FREE_UUID) == (True, False, False)
    assert [warning for warning in reader.warnings if 'mdevctl' in warning] == [
        'etc/mdevctl.d/0000:00:02.0 cannot be listed (No such file or directory): whether an mdev of parent 0000:00:02.0 is '
        'persistent, and its autostart, are unknown']


def test_a_directory_where_an_mdevs_definition_would_be_leaves_its_persistence_unknown(sample_copy):
    os.makedirs(os.path.join(os.path.dirname(sample_copy), 'etc', 'mdevctl.d', 'mtty', FREE_UUID))
    reader = SysfsReader(sample_copy)
    assert mdev_states(reader, FREE_UUID) == (True, None, None)
    assert mdev_states(reader, HELD_UUID) == (True, True, True)


# -- junk in the SR-IOV attributes and links of a tree (fixtures.sriov_host: igb PF 06:00.0 with 4 VFs) --

NET_PF_PATH = '/sys/devices/pci0000:00/0000:00:1d.0/0000:06:00.0'


@pytest.fixture()
def sriov_copy(tmp_path):
    """The sample host with the igb and NVMe PFs of fixtures.sriov_host, for a test to break."""
    return add_sriov(build_tree(str(tmp_path)))


def plant(path, junk):
    """Replace the file at path by junk: bytes, 'DIRECTORY' (a read fails) or 'DANGLING' (a link to nothing)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)
    if junk == 'DIRECTORY':
        os.mkdir(path)
    elif junk == 'DANGLING':
        os.symlink('nowhere', path)
    else:
        with open(path, 'wb') as handle:
            handle.write(junk)


def facts_of(sysfs):
    model, used, warnings = read_host('sysfs', sysfs_root=sysfs)
    return by_name(host_facts(model, used)['devices']), warnings


JUNK_COUNTS = [b'', b'abc\n', b'-1\n', b'99999999999999999999999\n', b'7\x00', b'1_0\n', '\u0664\n'.encode(),
               'DIRECTORY', 'DANGLING']


@pytest.mark.parametrize('junk', JUNK_COUNTS)
def test_a_pf_whose_totalvfs_is_junk_is_still_a_pf_with_its_vfs(sriov_copy, junk):
    """An unreadable sriov_totalvfs made the PF no SR-IOV device at all: assignable, with 4 VFs enabled."""
    plant(os.path.join(sriov_copy, NET_PF_PATH[len('/sys/'):], 'sriov_totalvfs'), junk)
    devices, warnings = facts_of(sriov_copy)
    pf = devices['pci_0000_06_00_0']
    sriov = pf['pci']['sriov']
    assert (sriov['totalvfs'], sriov['numvfs']) == (None, 4)
    assert sriov['virtual_functions'] == [net_vf(index) for index in range(4)]
    assert not pf['assignable'] and 'has_virtual_functions' in pf['blockers']
    assert [devices['pci_' + net_vf(index).replace(':', '_').replace('.', '_')]['pci']['sriov']['vf_index']
            for index in range(4)] == [0, 1, 2, 3]
    assert [warning for warning in warnings if 'sriov_totalvfs' in warning] == [
        '%s/sriov_totalvfs cannot be read as a count (%s): it is taken as unknown' % (
            NET_PF_PATH, 'unreadable' if isinstance(junk, str) else repr(junk.decode('utf-8').strip()))]


@pytest.mark.parametrize('attribute', ['sriov_numvfs', 'sriov_offset', 'sriov_stride'])
def test_junk_in_the_other_counts_of_a_pf_is_unknown_with_a_warning(sriov_copy, attribute):
    plant(os.path.join(sriov_copy, NET_PF_PATH[len('/sys/'):], attribute), b'-2\n')
    devices, warnings = facts_of(sriov_copy)
    sriov = devices['pci_0000_06_00_0']['pci']['sriov']
    assert sriov['offset'] is None and sriov['stride'] is None
    assert sriov['numvfs'] == 4  # the VFs it lists
    assert [warning for warning in warnings if attribute in warning] == [
        "%s/%s cannot be read as a count ('-2'): it is taken as unknown" % (NET_PF_PATH, attribute)]


def vf_name(index):
    return 'pci_' + net_vf(index).replace(':', '_').replace('.', '_')


def relink(path, target):
    os.remove(path)
    os.symlink(target, path)


def test_a_gap_in_the_virtfn_links_does_not_shift_the_vf_indexes(sriov_copy):
    """virtfn1 names no PCI function: VF 2 stays VF 2 (its MAC and VLAN from `ip link` go by the index)."""
    pf = os.path.join(sriov_copy, NET_PF_PATH[len('/sys/'):])
    relink(os.path.join(pf, 'virtfn1'), 'junk')
    devices, warnings = facts_of(sriov_copy)
    sriov = devices['pci_0000_06_00_0']['pci']['sriov']
    assert (sriov['numvfs'], sriov['virtual_functions']) == (4, [net_vf(0), net_vf(2), net_vf(3)])
    assert [devices[vf_name(index)]['pci']['sriov']['vf_index'] for index in range(4)] == [0, None, 2, 3]
    assert [warning for warning in warnings if 'virtfn' in warning] == [
        "%s/virtfn1 names 'junk', not a PCI function: that VF is not listed" % NET_PF_PATH,
        '%s/sriov_numvfs says 4 VFs, but 3 virtfn links name one: the PF\'s VF count is taken from sriov_numvfs'
        % NET_PF_PATH,
        'the physfn of %s names 0000:06:00.0, whose virtfn links do not name it: its VF index is unknown' % net_vf(1)]


def test_a_vf_two_pfs_name_is_the_vf_of_the_one_its_physfn_names(sriov_copy):
    """The NVMe PF's virtfn0 names the igb PF's VF 1, whose physfn names the NVMe PF: it is VF 0 of the NVMe
    PF (both its links say so), not VF 1 of the igb PF, and the links that disagree are named."""
    nvme = os.path.realpath(os.path.join(sriov_copy, 'bus/pci/devices', NVME_PF))
    vf = os.path.realpath(os.path.join(sriov_copy, 'bus/pci/devices', net_vf(1)))
    relink(os.path.join(nvme, 'virtfn0'), os.path.relpath(vf, nvme))
    relink(os.path.join(vf, 'physfn'), os.path.relpath(nvme, vf))
    devices, warnings = facts_of(sriov_copy)
    assert [devices[vf_name(index)]['pci']['sriov']['vf_index'] for index in range(4)] == [0, 0, 2, 3]
    assert devices[vf_name(1)]['pci']['sriov']['physical_function'] == NVME_PF
    assert devices['pci_0000_07_00_1']['pci']['sriov']['vf_index'] is None  # no longer named by its PF
    assert sorted(warning for warning in warnings if 'virtfn' in warning) == [
        'the physfn of 0000:07:00.1 names 0000:07:00.0, whose virtfn links do not name it: its VF index is unknown',
        'virtfn1 of 0000:06:00.0 names %s, whose physfn names 0000:07:00.0: it is read as a VF of 0000:07:00.0'
        % net_vf(1)]


# -- junk in the other numbers a device's directory holds: unknown with a warning, never a number from junk --

GPU_PATH = '/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0'
USB_PATH = '/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3'
SCSI_PATH = '/sys/devices/pci0000:00/0000:00:17.0/ata1/host0'


def _numa(records):
    return records['pci_0000_01_00_0']['pci']['numa_node']


NUMBERS = [  # (file, what the record holds of it)
    (GPU_PATH + '/numa_node', _numa),
    (USB_PATH + '/busnum', lambda records: records['usb_1_3']['usb']['bus']),
    (USB_PATH + '/devnum', lambda records: records['usb_1_3']['usb']['device']),
    (USB_PATH + '/1-3:1.0/bInterfaceClass', lambda records: records['usb_1_3_1_0']['usb_interface']['class']),
    (SCSI_PATH + '/scsi_host/host0/unique_id', lambda records: records['scsi_host0']['scsi_host']['unique_id']),
    (SCSI_PATH + '/target0:0:0/0:0:0:0/type', lambda records: records['scsi_0_0_0_0']['scsi']['type']),
]
JUNK_NUMBERS = [b'1_0\n', '\u0661\n'.encode(), b'99999999999\n', b'-2\n', b'+1\n', b'1 0\n', b'']


@pytest.mark.parametrize('junk', JUNK_NUMBERS, ids=repr)
@pytest.mark.parametrize('attribute, value', NUMBERS, ids=lambda item: item if isinstance(item, str) else '')
def test_junk_in_a_number_of_a_device_is_unknown_with_a_warning(sample_copy, attribute, value, junk):
    """int() read 1_0 as 10, a Devanagari or Arabic digit as a digit, a bus of 99999999999 as a bus: a USB
    device named by another bus or device number than its own, a NUMA node that is none."""
    plant(os.path.join(sample_copy, attribute[len('/sys/'):]), junk)
    reader = SysfsReader(sample_copy)
    assert value(by_name(reader.read_devices())) is None
    assert [warning for warning in reader.warnings if attribute in warning] == [
        '%s cannot be read as a number (%r): it is taken as unknown' % (attribute, junk.decode().strip())]


def test_numa_node_minus_1_is_none_without_a_warning_and_a_hex_number_may_have_0x(sample_copy):
    plant(os.path.join(sample_copy, GPU_PATH[len('/sys/'):], 'numa_node'), b'-1\n')
    plant(os.path.join(sample_copy, USB_PATH[len('/sys/'):], '1-3:1.0/bInterfaceClass'), b'0x0e\n')
    reader = SysfsReader(sample_copy)
    records = by_name(reader.read_devices())
    assert _numa(records) is None and records['usb_1_3_1_0']['usb_interface']['class'] == 14
    assert [warning for warning in reader.warnings if 'cannot be read as a number' in warning] == []


# -- junk in the mdev attributes and links of a tree (the sample host's mtty parent and its two mdevs) --

MTTY = 'devices/virtual/mtty/mtty'


@pytest.mark.parametrize('junk', [b'-3\n', b'99999999999999999999999\n', b'abc\n', 'DIRECTORY'])
def test_junk_available_instances_is_unknown_with_a_warning(sample_copy, junk):
    plant(os.path.join(sample_copy, MTTY, 'mdev_supported_types/mtty-1/available_instances'), junk)
    reader = SysfsReader(sample_copy)
    types = by_name(reader.read_devices())['mtty_mtty']['mdev_parent']['types']
    assert [item['available_instances'] for item in types] == [None, 10]
    assert [warning for warning in reader.warnings if 'available_instances' in warning] == [
        '/sys/%s/mdev_supported_types/mtty-1/available_instances cannot be read as a count (%s): it is taken as '
        'unknown' % (MTTY, 'unreadable' if isinstance(junk, str) else repr(junk.decode().strip()))]


@pytest.mark.parametrize('target', ['../mdev_supported_types/mtty-9', '../../../../devices/pci0000:00/0000:00:02.0', None])
def test_an_mdev_type_link_that_names_no_type_of_its_parent_is_unknown(sample_copy, target):
    """Dangling, leading out of its parent's mdev_supported_types, or missing: the type is not the link's last word."""
    link = os.path.join(sample_copy, MTTY, FREE_UUID, 'mdev_type')
    os.remove(link)
    if target:
        os.symlink(target, link)
    reader = SysfsReader(sample_copy)
    mdev = by_name(reader.read_devices())['mdev_%s_mtty' % FREE_UUID.replace('-', '_')]['mdev']
    assert (mdev['type'], mdev['device_api']) == (None, None)
    assert [warning for warning in reader.warnings if 'mdev_type' in warning] == [
        'the mdev_type link of mdev %s (/sys/%s/%s/mdev_type) names no type its parent offers: its type is unknown'
        % (FREE_UUID, MTTY, FREE_UUID)]


def test_an_mdev_bus_entry_that_leads_to_another_uuid_is_skipped_with_a_warning(sample_copy):
    """/sys/bus/mdev/devices/<A> leading to the directory of mdev B: no record named A with B's values, and B keeps
    its own name and record."""
    entry = os.path.join(sample_copy, 'bus/mdev/devices', FREE_UUID)
    relink(entry, '../../../%s/%s' % (MTTY, HELD_UUID))
    reader = SysfsReader(sample_copy)
    records = by_name(reader.read_devices())
    assert 'mdev_%s_mtty' % FREE_UUID.replace('-', '_') not in records
    assert records['mdev_%s_mtty' % HELD_UUID.replace('-', '_')]['mdev']['uuid'] == HELD_UUID
    assert [warning for warning in reader.warnings if FREE_UUID in warning] == [
        'bus/mdev/devices/%s leads to %s, the directory of another mdev: skipped' % (FREE_UUID, '/sys/%s/%s' % (MTTY, HELD_UUID))]


@pytest.mark.parametrize('target', ['../../../../kernel/iommu_groups/1x', 'DANGLING', 'DIRECTORY'])
def test_a_junk_iommu_group_link_of_an_mdev_is_unknown_with_a_warning_as_a_pci_devices(sample_copy, target):
    link = os.path.join(sample_copy, MTTY, FREE_UUID, 'iommu_group')
    if target.startswith('..'):
        relink(link, target)
    else:
        plant(link, target)
    reader = SysfsReader(sample_copy)
    name = 'mdev_%s_mtty' % FREE_UUID.replace('-', '_')
    assert by_name(reader.read_devices())[name]['mdev']['iommu_group'] is None
    assert [warning for warning in reader.warnings if 'iommu_group' in warning] == [
        'the iommu_group link of %s cannot be read as a group number (%s); its IOMMU group is unknown'
        % (name, {'DANGLING': 'nowhere', 'DIRECTORY': 'unreadable'}.get(target, '1x'))]


@pytest.mark.parametrize('junk, name', [(b'\n', None), (b'  \n', None), (b'Single port\x00serial\n', 'Single port'),
                                        (b'\x00\n', None)])
def test_an_mdev_type_name_is_cleaned_as_libvirt_reads_it(sample_copy, junk, name):
    """libvirt reads a sysfs attribute as a C string: it ends at the first NUL; an empty one is no name."""
    for key in ('name', 'device_api', 'description'):
        plant(os.path.join(sample_copy, MTTY, 'mdev_supported_types/mtty-1', key), junk)
    types = by_name(SysfsReader(sample_copy).read_devices())['mtty_mtty']['mdev_parent']['types']
    assert [(item['name'], item['device_api'], item['description']) for item in types][0] == (name, name, name)


def test_an_mdev_whose_parent_is_not_listed_keeps_that_parent_as_stale_not_an_ancestor(sample_copy):
    """/sys/class/mdev_bus/mtty gone (a partial copy, a parent going away): its mdevs name their own parent, which the
    model lists as stale with a warning, not the nearest listed ancestor (computer here, a bridge for a GPU), which
    would put the mdevs among that device's descendants."""
    os.remove(os.path.join(sample_copy, 'class', 'mdev_bus', 'mtty'))
    model, _used, warnings = read_host('sysfs', sysfs_root=sample_copy)
    name = 'mdev_%s_mtty' % FREE_UUID.replace('-', '_')
    assert model.device(name)['parent'] == 'mtty_mtty' and 'mtty_mtty' not in model
    assert 'parent mtty_mtty of device %s does not exist (stale node device); the device is listed without ' \
           'inheriting from it' % name in warnings
    assert name not in model.descendants('computer') and model.eligibility(name) == (True, [])


def test_an_mdev_on_a_pci_parent_that_is_not_listed_is_not_its_bridges(sample_copy):
    gpu = 'devices/pci0000:00/0000:00:1c.0/0000:02:00.0'
    write(sample_copy, '%s/mdev_supported_types/nvidia-35/name' % gpu, 'GRID M60-1B\n')
    sys_link(sample_copy, '%s/%s/mdev_type' % (gpu, DEFINED_UUID), gpu + '/mdev_supported_types/nvidia-35')
    sys_link(sample_copy, 'bus/mdev/devices/' + DEFINED_UUID, '%s/%s' % (gpu, DEFINED_UUID))
    os.remove(os.path.join(sample_copy, 'bus', 'pci', 'devices', '0000:02:00.0'))
    model, _used, warnings = read_host('sysfs', sysfs_root=sample_copy)
    name = 'mdev_%s_0000_02_00_0' % DEFINED_UUID.replace('-', '_')
    assert model.device(name)['parent'] == 'pci_0000_02_00_0'
    assert name not in model.descendants('pci_0000_00_1c_0')
