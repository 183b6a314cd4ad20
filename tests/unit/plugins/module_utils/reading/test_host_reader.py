"""host_reader: source selection, fallbacks, and both readers agreeing on one host."""

import os
import shutil

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import connection
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import host_facts
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import assignability
from ansible_collections.virt.hostdev.plugins.module_utils.reading import host_reader

from fixtures.sample_host import WithMttyParent


def facts_by_name(facts):
    return dict((device['name'], device) for device in facts['devices'])


@pytest.mark.parametrize('with_parent', [True, False])
def test_libvirt_and_sysfs_readers_give_the_same_facts(sample_uri, sample_sysfs, with_parent):
    with connection(sample_uri, readonly=True) as conn:
        via_libvirt, used_libvirt, dummy = host_reader.read_host(
            'libvirt', sample_uri, sample_sysfs, conn=WithMttyParent(conn) if with_parent else conn)
    via_sysfs, used_sysfs, dummy = host_reader.read_host('sysfs', sysfs_root=sample_sysfs)
    assert (used_libvirt, used_sysfs) == ('libvirt', 'sysfs')
    libvirt_facts = via_libvirt.facts('x')
    sysfs_facts = via_sysfs.facts('x')
    libvirt_devices = facts_by_name(libvirt_facts)
    sysfs_devices = facts_by_name(sysfs_facts)
    # The stale scsi_target exists only in libvirt's device list, never in sysfs.
    assert set(libvirt_devices) - set(sysfs_devices) == {'scsi_target6_0_0'}
    # The test driver alone has no mtty parent (see fixtures.sample_host): its mdevs' facts are the same all the same (their parent
    # named, their device API and parent address and what mdevctl defines from the sysfs enrichment).
    assert set(sysfs_devices) - set(libvirt_devices) == (set() if with_parent else {'mtty_mtty'})
    for name, device in sysfs_devices.items():
        if name == 'computer' and not with_parent:
            device = dict(device, children=[child for child in device['children'] if child != 'mtty_mtty'])
        if name in libvirt_devices:
            assert libvirt_devices[name] == device, name
    for key in ('iommu', 'iommu_groups', 'eligible', 'domains'):
        assert libvirt_facts[key] == sysfs_facts[key], key
    held = sysfs_devices['mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_mtty']
    assert (held['mdev']['active'], held['mdev']['persistent'], held['mdev']['autostart']) == (True, True, True)
    assert held['assigned_to'] == ['ci-runner'] and held['mdev']['device_api'] == 'vfio-pci'


def test_enrichment_fills_what_libvirt_does_not_report(sample_uri, sample_sysfs):
    model = host_reader.read_host('libvirt', sample_uri, sample_sysfs)[0]
    gpu = model.device('pci_0000_01_00_0')
    assert gpu['driver'] == 'nvidia'
    assert gpu['pci']['boot_vga'] is False
    assert gpu['pci']['reset_method'] == ['bus']
    assert model.device('usb_usb1')['usb']['class'] == '0x09'


def test_class_names_libvirt_lacks_come_from_the_hosts_pci_ids_then_the_static_table(sample_uri, sample_sysfs):
    """libvirt reports no class names: pci.ids' subclass names fill them (the sample host lists 0x03's), and
    the static table the rest; without the host's files (the test driver alone) only the static table."""
    enriched = host_reader.read_host('libvirt', sample_uri, sample_sysfs)[0]
    alone = host_reader.read_host('libvirt', sample_uri)[0]
    names = dict((name, (enriched.device(name)['pci']['class_name'], alone.device(name)['pci']['class_name']))
                 for name in ('pci_0000_01_00_0', 'pci_0000_00_02_0', 'pci_0000_02_00_0'))
    assert names == {'pci_0000_01_00_0': ('VGA compatible controller', 'VGA controller'),
                     'pci_0000_00_02_0': ('3D controller', '3D controller'),
                     'pci_0000_02_00_0': ('Ethernet controller', 'Ethernet controller')}


def test_test_driver_is_not_enriched_from_this_machine(sample_uri):
    model, used, warnings = host_reader.read_host('libvirt', sample_uri)
    assert used == 'libvirt'
    assert model.device('pci_0000_01_00_0')['driver'] is None
    assert model.iommu['kernel_args'] == {}
    assert model.iommu['enabled'] is True and model.iommu['groups'] == 10
    assert any('scsi_host6' in warning for warning in warnings)


def test_auto_falls_back_to_sysfs_when_the_daemon_does_not_answer(tmp_path, sample_sysfs, monkeypatch):
    # As if the sample tree were this machine's /sys: only this machine's own tree replaces its daemon.
    monkeypatch.setattr(host_reader, 'is_this_machines_sysfs', lambda root: root == sample_sysfs)
    uri = 'qemu:///system?socket=%s/absent-sock' % tmp_path
    model, used, warnings = host_reader.read_host('auto', uri, sample_sysfs)
    assert used == 'sysfs'
    assert 'pci_0000_01_00_0' in model
    assert any(uri in warning and 'read devices from sysfs instead' in warning for warning in warnings)


def test_explicit_libvirt_source_fails_naming_the_uri(tmp_path):
    uri = 'qemu:///system?socket=%s/absent-sock' % tmp_path
    with pytest.raises(HostdevError, match='cannot connect to libvirt at qemu:///system\\?socket=.*absent-sock'):
        host_reader.read_host('libvirt', uri)


def test_without_the_binding_auto_reads_sysfs_and_libvirt_is_refused(monkeypatch, sample_sysfs, sample_uri):
    monkeypatch.setattr(host_reader, 'HAS_LIBVIRT', False)
    model, used, warnings = host_reader.read_host('auto', 'qemu:///system', sample_sysfs)
    assert used == 'sysfs' and 'pci_0000_01_00_0' in model
    assert any('binding is not installed' in warning for warning in warnings)
    with pytest.raises(host_reader.MissingLibvirtError):
        host_reader.read_host('libvirt', sample_uri)


@pytest.mark.parametrize('uri', ['test:///default', 'qemu+ssh://hv1.example/system', 'qemu+tcp://10.0.0.1/system'])
def test_without_the_binding_another_machine_is_never_read_from_this_sysfs(monkeypatch, sample_sysfs, uri):
    monkeypatch.setattr(host_reader, 'HAS_LIBVIRT', False)
    with pytest.raises(host_reader.MissingLibvirtError):
        host_reader.read_host('auto', uri, sample_sysfs)


@pytest.mark.parametrize('uri, words', [
    # Nothing listens on port 1 of the loopback address: the connection is refused at once.
    ('qemu+tcp://127.0.0.1:1/system', 'cannot connect to libvirt at qemu\\+tcp://127.0.0.1:1/system: '),
    ('test:///no/such/host.xml', 'cannot connect to libvirt at test:///no/such/host.xml: '),
])
def test_auto_never_falls_back_to_this_machine_for_another_one(uri, words, sample_sysfs):
    """A remote URI or the test driver that cannot be read fails with libvirt's error: this
    machine's sysfs would describe another machine than the one asked for."""
    with pytest.raises(HostdevError, match=words):
        host_reader.read_host('auto', uri)
    with pytest.raises(HostdevError, match=words):
        host_reader.read_host('auto', uri, sample_sysfs)


def not_a_sysfs_tree(tmp_path, kind):
    """A sysfs_root a tired operator may type: missing, a file, empty, or some other tree."""
    path = tmp_path / 'root'
    if kind == 'file':
        path.write_text('not a directory')
    elif kind == 'empty':
        path.mkdir()
    elif kind == 'other tree':
        (path / 'devices').mkdir(parents=True)
        (path / 'etc').mkdir()
    return str(path)


@pytest.mark.parametrize('kind, words', [
    ('missing', 'does not exist'), ('file', 'is not a directory'),
    ('empty', 'is not a sysfs tree: it has no devices/, bus/, class/ directories'),
    ('other tree', 'is not a sysfs tree: it has no bus/, class/ directories')])
@pytest.mark.parametrize('source', ['sysfs', 'libvirt', 'auto'])
def test_a_wrong_sysfs_root_is_an_error_naming_it(tmp_path, sample_uri, kind, words, source):
    """Enrichment and host-use detection are safety inputs: a wrong root must not read as an
    empty host with the IOMMU off, whichever source reads the devices."""
    root = not_a_sysfs_tree(tmp_path, kind)
    with pytest.raises(HostdevError) as caught:
        host_reader.read_host(source, sample_uri if source == 'libvirt' else 'qemu:///system', root)
    assert caught.value.message.startswith('sysfs_root %s ' % root) and words in caught.value.message


def test_unknown_source_is_refused():
    with pytest.raises(HostdevError, match="source must be one of auto, libvirt, sysfs, not 'udev'"):
        host_reader.read_host('udev')


@pytest.mark.parametrize('uri, local', [
    ('qemu:///system', True),
    ('qemu:///system?socket=/tmp/x', True),
    ('qemu+unix:///system', True),
    ('qemu://localhost/system', True),
    ('qemu+ssh://root@hv1.example.com/system', False),
    ('test:///default', False),
])
def test_local_hypervisor_uris(uri, local):
    assert host_reader.uri_is_local_hypervisor(uri) is local


def test_host_use_in_both_readers(sample_uri, sample_sysfs):
    for source in ('libvirt', 'sysfs'):
        model = host_reader.read_host(source, sample_uri, sample_sysfs)[0]
        assert model.host_use('block_sdb_CT500MX500SSD1_2113E5901234') == [
            'mounted at /', 'mounted at /boot/efi', 'swap'], source
        assert model.host_use('pci_0000_00_17_0') == []


# -- one machine per run ---------------------------------------------------------------

def test_auto_with_another_hosts_tree_reads_that_tree_alone(sample_sysfs):
    """This machine's daemon answers (here an open connection to another host than the tree's): the
    devices once came from it, the IOMMU state and host use from the tree, and the tree's GPU was
    missing. Now every read of the run comes from the tree; the domains of a caller's connection stay."""
    libvirt = pytest.importorskip('libvirt')
    conn = libvirt.open('test:///default')
    try:
        model, used, warnings = host_reader.read_host('auto', 'qemu:///system', sample_sysfs, conn=conn)
    finally:
        conn.close()
    assert used == 'sysfs'
    assert 'pci_0000_01_00_0' in model and model.device('pci_0000_01_00_0')['driver'] == 'nvidia'
    assert model.iommu['groups'] == 10 and model.host_use_unknown == []
    assert [dom['name'] for dom in model.domains] == ['test']  # the domains of the connection it edits
    assert not any('libvirt' in warning for warning in warnings)


def test_libvirt_with_another_hosts_tree_is_refused(sample_sysfs):
    with pytest.raises(HostdevError) as caught:
        host_reader.read_host('libvirt', 'qemu:///system', sample_sysfs)
    assert caught.value.message == (
        "source libvirt reads this machine's devices from qemu:///system, but sysfs_root %s is not this "
        "machine's /sys: the devices would come from one machine and the IOMMU state and what the host runs on "
        "from another. Set source: sysfs to read %s alone, or leave sysfs_root out to read this machine"
        % (sample_sysfs, sample_sysfs))


@pytest.mark.parametrize('spelling', ['/sys', '/sys/', '//sys', '/sys/../sys'])
def test_this_machines_sysfs_however_spelled_is_not_another_host(spelling):
    assert host_reader.is_this_machines_sysfs(spelling) is True


def test_a_copy_of_a_tree_is_another_host(sample_sysfs, tmp_path):
    assert host_reader.is_this_machines_sysfs(sample_sysfs) is False
    assert host_reader.is_this_machines_sysfs(str(tmp_path / 'missing')) is False


def test_the_test_driver_with_its_matching_tree_is_still_read_through_libvirt(sample_uri, sample_sysfs):
    """A remote URI or the test driver with a sysfs_root: the user says the tree is that machine's."""
    model, used, _warnings = host_reader.read_host('auto', sample_uri, sample_sysfs)
    assert used == 'libvirt' and 'scsi_target6_0_0' in model  # the stale target only libvirt lists


def test_a_wrong_root_says_so_before_the_combination_is_refused(tmp_path):
    with pytest.raises(HostdevError, match='^sysfs_root %s is not a sysfs tree' % tmp_path):
        host_reader.read_host('libvirt', 'qemu:///system', str(tmp_path))


# -- what the host runs on, unknown ----------------------------------------------------

@pytest.mark.parametrize('removed, named', [
    (['proc/mounts'], ['proc/mounts']),
    (['proc/net/route'], ['proc/net/route or ', 'proc/net/ipv6_route']),
])
def test_a_snapshot_without_mounts_or_routes_has_its_host_use_unknown(sample_sysfs, tmp_path, removed, named):
    root = copy_of(sample_sysfs, tmp_path)
    for relative in removed:
        os.remove(os.path.join(os.path.dirname(root), relative))
    model, _used, warnings = host_reader.read_host('sysfs', sysfs_root=root)
    assert len(model.host_use_unknown) == 1 and all(part in model.host_use_unknown[0] for part in named)
    assert any(warning.startswith('what the host itself runs on is unknown: %s' % os.path.dirname(root))
               for warning in warnings)
    facts = host_facts(model, 'sysfs')
    assert facts['assignable'] == []
    assert all('host_use_unknown' in device['blockers'] for device in facts['devices'])


def copy_of(sample_sysfs, tmp_path):
    dest = tmp_path / 'host'
    shutil.copytree(os.path.dirname(sample_sysfs), str(dest), symlinks=True)
    return str(dest / 'sys')


def test_a_hostdev_networks_pool_is_held_through_the_read(sample_uri, sample_sysfs):
    """read_host asks the same connection for the networks: an active one holds the devices of its pool."""
    with connection(sample_uri) as conn:
        conn.networkCreateXML("<network><name>pool</name><forward mode='hostdev'>"
                              "<address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>"
                              "</forward></network>")
        model = host_reader.read_host('libvirt', sample_uri, sample_sysfs, conn=conn)[0]
    assert model.held_by_network('pci_0000_02_00_0') == ['pool']
    assert 'held_by_network' in assignability(model, ['pci_0000_02_00_0'])['pci_0000_02_00_0']
