"""bind_now on the sample workstation laid out as a Debian host, with a fake kernel that moves the
`driver` links when driver_override, unbind and drivers_probe are written: devices moved to vfio-pci and
back, check mode, idempotence, a device that does not arrive (the others put back), and every refusal
of a move now."""

import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import HostFiles
from ansible_collections.virt.hostdev.plugins.module_utils.preparing import vfio_bind
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_bind import PciBus
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_boot import ensure_reservation
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_reservation import ReservationRequest
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

from fixtures.sample_host import build_tree
from support.fake_host import FakeTools, debian_root, write
from support.fake_pci_kernel import FakePciKernel

GPU = ['0000:01:00.0', '0000:01:00.1']
NICS = ['0000:04:00.0', '0000:04:01.0']  # e1000 ports behind one PCIe-to-PCI bridge: one IOMMU group


class Host:
    def __init__(self, tmp_path, **kernel):
        self.root = str(tmp_path / 'root')
        self.sysfs = build_tree(self.root)
        debian_root(self.root)
        self.tools = FakeTools(tmp_path, self.root)
        self.kernel = FakePciKernel(self.sysfs, **kernel)

    def ensure(self, devices=(), state='present', check_mode=False, timeout=2.0, **options):
        model = read_host('sysfs', sysfs_root=self.sysfs)[0]
        bus = PciBus(SysfsTree(self.sysfs), timeout=timeout)
        with self.kernel.running():
            return ensure_reservation(HostFiles(self.root), self.tools.commands(), model,
                                      ReservationRequest(list(devices), **options), state=state,
                                      check_mode=check_mode, bus=bus)

    def where(self, address):
        return self.kernel.driver(address), self.kernel.override(address)


@pytest.fixture()
def host(tmp_path):
    return Host(tmp_path)


def test_bind_now_moves_the_devices_and_a_second_run_writes_nothing(host):
    outcome = host.ensure(GPU)
    assert outcome.changed and outcome.pending == [] and not outcome.reboot_required
    assert [(move['address'], move['driver'], move['to'], move['driver_after']) for move in outcome.moves] == [
        ('0000:01:00.0', 'nvidia', 'vfio-pci', 'vfio-pci'), ('0000:01:00.1', 'snd_hda_intel', 'vfio-pci', 'vfio-pci')]
    assert [host.where(address) for address in GPU] == [('vfio-pci', 'vfio-pci')] * 2
    # vfio-pci registered only once the module was loaded (by the fake modprobe), then each device moved
    assert ('bind', '0000:01:00.0', 'vfio-pci') in host.kernel.events
    assert host.kernel.events[:2] == [('unbind', '0000:01:00.0', 'nvidia'), ('bind', '0000:01:00.0', 'vfio-pci')]

    host.tools.clear()
    done = len(host.kernel.events)
    again = host.ensure(GPU)
    assert not again.changed and again.moves == [] and again.diff == [] and host.tools.calls() == []
    assert len(host.kernel.events) == done


def test_check_mode_shows_the_moves_and_moves_nothing(host):
    planned = host.ensure(GPU, check_mode=True)
    assert planned.changed and planned.pending == []
    moves = [item for item in planned.diff if 'driver_override' in item['after_header']]
    assert moves[0] == {'before_header': '0000:01:00.0 (pci_0000_01_00_0): driver and driver_override',
                        'after_header': '0000:01:00.0 (pci_0000_01_00_0): driver and driver_override',
                        'before': 'driver: nvidia\ndriver_override: (none)\n',
                        'after': 'driver: vfio-pci\ndriver_override: vfio-pci\n'}
    assert [move['driver_after'] for move in planned.moves] == [None, None]
    assert host.kernel.events == [] and [host.where(address) for address in GPU] == [
        ('nvidia', None), ('snd_hda_intel', None)]


def test_a_device_on_vfio_pci_without_the_override_only_gets_the_override(host):
    host.ensure(GPU)
    with open(os.path.join(host.sysfs, 'bus/pci/devices/0000:01:00.1/driver_override'), 'w') as handle:
        handle.write('(null)\n')
    outcome = host.ensure(GPU)
    assert [(move['address'], move['driver']) for move in outcome.moves] == [('0000:01:00.1', 'vfio-pci')]
    assert host.where('0000:01:00.1') == ('vfio-pci', 'vfio-pci')
    assert not [event for event in host.kernel.events if event[0] == 'unbind' and event[2] == 'vfio-pci']


def test_absent_puts_them_back_on_their_drivers(host):
    host.ensure(GPU)
    outcome = host.ensure(state='absent')
    assert outcome.released == GPU and outcome.pending == []
    assert [(move['to'], move['driver_after']) for move in outcome.moves] == [
        ('host', 'nvidia'), ('host', 'snd_hda_intel')]
    assert [host.where(address) for address in GPU] == [('nvidia', None), ('snd_hda_intel', None)]
    assert host.ensure(state='absent').moves == []


def test_a_device_dropped_from_the_reservation_goes_back_now(host):
    host.ensure(GPU)
    outcome = host.ensure(NICS)
    assert outcome.released == GPU
    assert [(move['address'], move['to']) for move in outcome.moves] == [
        ('0000:04:00.0', 'vfio-pci'), ('0000:04:01.0', 'vfio-pci'), ('0000:01:00.0', 'host'), ('0000:01:00.1', 'host')]
    assert host.where('0000:01:00.0') == ('nvidia', None) and host.where('0000:04:01.0') == ('vfio-pci', 'vfio-pci')


def test_back_on_no_driver_when_none_claims_it_is_said(tmp_path):
    host = Host(tmp_path)
    host.ensure(GPU)
    del host.kernel.host_drivers['0000:01:00.1']  # its driver is not loaded any more
    outcome = host.ensure(state='absent')
    assert [move['driver_after'] for move in outcome.moves] == ['nvidia', None]
    assert outcome.warnings == ['0000:01:00.1 (pci_0000_01_00_1) is back from vfio-pci on no driver: no loaded '
                                'driver claims it (load its driver with modprobe, or leave it so)']


def test_a_device_that_does_not_arrive_fails_naming_it_and_the_others_go_back(tmp_path):
    host = Host(tmp_path, refuse=['0000:01:00.1'])
    with pytest.raises(HostdevError) as failed:
        host.ensure(GPU, timeout=0.3)
    message = failed.value.message
    assert message.startswith('0000:01:00.1 (pci_0000_01_00_1) was not moved to vfio-pci: it has no driver, not '
                              'vfio-pci, 0.3 s after the write to drivers_probe')
    assert 'Put back as they were: 0000:01:00.1 (driver snd_hda_intel), 0000:01:00.0 (driver nvidia).' in message
    assert 'The boot files were written before (/etc/virt-hostdev/vfio-pci.conf' in message
    assert [host.where(address) for address in GPU] == [('nvidia', None), ('snd_hda_intel', None)]


def test_a_vfio_pci_id_table_that_takes_it_back_is_an_error(host):
    host.ensure(GPU)
    host.kernel.host_drivers['0000:01:00.0'] = 'vfio-pci'  # vfio-pci.ids=10de:24b0
    with pytest.raises(HostdevError) as failed:
        host.ensure(state='absent')
    assert 'vfio-pci took it again: its vendor and device ids are in vfio-pci\'s id table' in failed.value.message


def refused(host, devices, **options):
    with pytest.raises(HostdevError) as failed:
        host.ensure(devices, **options)
    assert host.kernel.events == [] and not os.path.exists(host.root + '/etc/virt-hostdev')
    return failed.value


def nic_up(host, interface, flags='0x1003'):
    write(host.sysfs, 'class/net/%s/flags' % interface, flags + '\n')


def test_an_interface_up_with_a_route_is_refused(host):
    nic_up(host, 'enp4s0')  # proc/net/route has a route through enp4s0
    error = refused(host, NICS)
    assert [(item['code'], item['device']) for item in error.result['problems']] == [
        ('host_in_use', 'net_enp4s0_00_1b_21_00_00_40')]
    assert 'network interface enp4s0 (net_enp4s0_00_1b_21_00_00_40) of pci_0000_04_00_0 is in use by the host ' \
           'now: up with 1 route' in error.message


def test_an_interface_up_with_a_global_ipv6_address_is_refused_a_link_local_one_is_not(host):
    nic_up(host, 'enp4s1')
    write(host.root, '/proc/net/if_inet6', 'fe80000000000000021b21fffe000041 03 40 20 80 enp4s1\n')
    assert host.ensure(NICS, check_mode=True).moves  # link-local only: free
    write(host.root, '/proc/net/if_inet6', '20010db8000000000000000000000041 03 40 00 80 enp4s1\n'
          'fe80000000000000021b21fffe000041 03 40 20 80 enp4s1\n')
    error = refused(host, NICS)
    assert 'up with IPv6 address 2001:0db8:0000:0000:0000:0000:0000:0041/64' in error.message


@pytest.mark.parametrize('junk', ['up', '0x1_003', ''])
def test_an_interface_whose_flags_are_junk_is_refused_as_maybe_up(host, junk):
    """Junk flags read as none (or 1_003 as 0x1003) decided whether the host uses the interface: unknown is
    not down."""
    nic_up(host, 'enp4s0', flags=junk)
    error = refused(host, NICS)
    assert [(item['code'], item['device']) for item in error.result['problems']] == [
        ('host_in_use', 'net_enp4s0_00_1b_21_00_00_40')]
    assert 'is in use by the host now: its flags cannot be read, so it may be up' in error.message


def test_an_interface_down_is_free_whatever_its_routes(host):
    nic_up(host, 'enp4s0', flags='0x1002')
    assert len(host.ensure(NICS).moves) == 2


def test_a_bridge_port_is_refused(host):
    os.makedirs(os.path.join(host.sysfs, 'devices/virtual/net/br0'))
    os.symlink('../../../../../../../../virtual/net/br0', os.path.join(
        os.path.realpath(os.path.join(host.sysfs, 'class/net/enp4s1')), 'master'))
    error = refused(host, NICS)
    assert 'of pci_0000_04_01_0 is in use by the host now: a port of br0' in error.message


def test_a_device_of_a_running_domain_is_refused(host):
    # ci-runner runs with 0000:02:00.0 (the fixture leaves it on igc)
    error = refused(host, ['0000:02:00.0'])
    assert error.result['problems'][0]['code'] == 'held_by_running_domain'
    assert error.message.endswith('pci_0000_02_00_0 is held by running domain ci-runner: moving it to vfio-pci '
                                  'now would take it from the guest; shut the domain down or remove the device '
                                  'from it first, or leave bind_now false')


def test_releasing_a_device_a_running_domain_holds_is_refused(host):
    # 0000:02:00.0, which ci-runner runs with, reserved and on vfio-pci with the override
    write(host.root, '/etc/virt-hostdev/vfio-pci.conf', '0000:02:00.0\n')
    host.kernel._register('vfio-pci')
    link = os.path.join(host.sysfs, 'bus/pci/devices/0000:02:00.0/driver')
    os.unlink(link)
    os.symlink('../../../../bus/pci/drivers/vfio-pci', link)
    write(host.sysfs, 'bus/pci/devices/0000:02:00.0/driver_override', 'vfio-pci\n')
    with pytest.raises(HostdevError) as failed:
        host.ensure(state='absent')
    assert failed.value.result['problems'][0]['code'] == 'held_by_running_domain'
    assert 'moving it off vfio-pci now would take it from the guest' in failed.value.message
    assert host.kernel.events == [] and host.where('0000:02:00.0') == ('vfio-pci', 'vfio-pci')


def test_a_mounted_disk_s_controller_stays_refused_by_the_reservation_rules(host):
    error = refused(host, ['0000:00:17.0'])
    assert [item['code'] for item in error.result['problems']] == ['host_in_use']


def test_a_kernel_without_driver_override_is_refused_before_any_change(host):
    os.unlink(os.path.join(host.sysfs, 'bus/pci/devices/0000:01:00.1/driver_override'))
    error = refused(host, GPU)
    assert error.message.startswith('0000:01:00.1 (pci_0000_01_00_1) has no driver_override in ')


def test_a_write_outside_the_tree_is_refused(host, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'unbind').write_text('')
    bus = PciBus(SysfsTree(host.sysfs))
    with pytest.raises(HostdevError) as failed:
        bus.write(str(outside / 'unbind'), '0000:01:00.0')
    assert 'outside the sysfs tree' in failed.value.message
    os.mkfifo(os.path.join(host.sysfs, 'bus/pci/rescan'))
    with pytest.raises(HostdevError) as failed:
        bus.write(os.path.join(host.sysfs, 'bus/pci/rescan'), '1')
    assert failed.value.message.endswith('it is not a sysfs attribute (not a regular file)') or \
        'cannot open' in failed.value.message


def test_every_wait_is_bounded(host):
    bus = PciBus(SysfsTree(host.sysfs), timeout=0.05, sleep=lambda seconds: None)
    assert bus.wait(lambda: False) is False and vfio_bind.POLL > 0
