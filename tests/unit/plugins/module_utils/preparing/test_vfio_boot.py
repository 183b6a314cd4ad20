"""A reservation written to a fake Debian (initramfs-tools) or RHEL (dracut) root laid over the sample
workstation: the files by address, the initramfs regenerated only when its inputs changed, the VFIO
modules loaded, state absent, and refusals that change nothing."""

import os
import stat

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import HostFiles
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_boot import detect_initramfs, ensure_reservation
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_reservation import (
    DRACUT_CONF,
    DRACUT_HOOK,
    INITRAMFS_TOOLS_HOOK,
    INITRAMFS_TOOLS_SCRIPT,
    MODULES_LOAD,
    RESERVATION,
    STAMP,
    UDEV_RULES,
    ReservationRequest,
)

from fixtures.sample_host import build_tree
from support.fake_host import FakeTools, debian_root, read, rhel_root

GPU = ['0000:01:00.0', '0000:01:00.1']


class Host:
    """The sample workstation under root, with the boot files of a distribution and fake tools."""

    def __init__(self, tmp_path, layout=debian_root):
        self.root = str(tmp_path / 'root')
        self.sysfs = build_tree(self.root)
        layout(self.root)
        self.files = HostFiles(self.root)
        self.tools = FakeTools(tmp_path, self.root)

    def ensure(self, devices=(), state='present', check_mode=False, **options):
        model = read_host('sysfs', sysfs_root=self.sysfs)[0]
        request = ReservationRequest(list(devices), **options)
        return ensure_reservation(self.files, self.tools.commands(), model, request, state=state,
                                  check_mode=check_mode)

    def exists(self, path):
        return os.path.lexists(self.files.real(path))

    def calls(self):
        return [call[0] for call in self.tools.calls()]

    def bind_to(self, address, driver):
        link = os.path.join(self.sysfs, 'bus', 'pci', 'devices', address, 'driver')
        os.unlink(link)
        os.symlink('../../../../bus/pci/drivers/%s' % driver, link)


@pytest.fixture()
def debian(tmp_path):
    return Host(tmp_path)


def test_check_mode_plans_without_writing(debian):
    outcome = debian.ensure(GPU, check_mode=True)
    assert outcome.changed and outcome.regenerated and outcome.reboot_required
    assert outcome.initramfs == 'initramfs-tools' and outcome.loaded == ['vfio', 'vfio_pci']
    assert outcome.commands == [[debian.tools.bin + '/update-initramfs', '-u', '-k', 'all'],
                                [debian.tools.bin + '/modprobe', '-a', 'vfio', 'vfio_pci']]
    assert [item['after_header'] for item in outcome.diff] == [
        RESERVATION, MODULES_LOAD, UDEV_RULES, INITRAMFS_TOOLS_HOOK, INITRAMFS_TOOLS_SCRIPT]
    assert debian.tools.calls() == [] and not debian.exists(RESERVATION) and not debian.exists(STAMP)


def test_apply_writes_by_address_and_regenerates_once(debian):
    outcome = debian.ensure(GPU)
    assert outcome.devices == ['pci_0000_01_00_0', 'pci_0000_01_00_1'] and outcome.addresses == GPU
    assert outcome.pending == ['pci_0000_01_00_0', 'pci_0000_01_00_1'] and outcome.reboot_required
    assert debian.tools.calls() == [['update-initramfs', '-u', '-k', 'all'], ['modprobe', '-a', 'vfio', 'vfio_pci']]
    assert '0000:01:00.0  # pci_0000_01_00_0 10de:24b0\n' in read(debian.root, RESERVATION)
    assert 'KERNEL=="0000:01:00.1", ATTR{driver_override}="vfio-pci"' in read(debian.root, UDEV_RULES)
    for path in (INITRAMFS_TOOLS_HOOK, INITRAMFS_TOOLS_SCRIPT):
        assert stat.S_IMODE(os.stat(debian.files.real(path)).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(debian.files.real(RESERVATION)).st_mode) == 0o644
    assert read(debian.root, STAMP).endswith('  initramfs-tools\n')

    debian.tools.clear()
    again = debian.ensure(GPU)
    assert not again.changed and not again.regenerated and again.commands == [] and debian.tools.calls() == []
    assert again.diff == [] and again.loaded == []  # the fake modprobe loaded them

    debian.bind_to('0000:01:00.0', 'vfio-pci')
    debian.bind_to('0000:01:00.1', 'vfio-pci')
    assert not debian.ensure(GPU).reboot_required  # what the reboot does


def test_a_changed_reservation_regenerates_and_releases(debian):
    debian.ensure(GPU)
    debian.tools.clear()
    outcome = debian.ensure(['02:00.0'])
    assert outcome.released == GPU and outcome.addresses == ['0000:02:00.0']
    assert outcome.regenerated and debian.calls() == ['update-initramfs']
    assert reserved_in(debian) == ['0000:02:00.0']


def reserved_in(host):
    return [line.split()[0] for line in read(host.root, RESERVATION).splitlines() if not line.startswith('#')]


def test_a_failed_regeneration_is_done_by_the_next_run(debian):
    with pytest.raises(HostdevError, match='update-initramfs -u -k all failed with exit code 3'):
        model = read_host('sysfs', sysfs_root=debian.sysfs)[0]
        ensure_reservation(debian.files, debian.tools.commands(FAKE_FAIL='update-initramfs'), model,
                           ReservationRequest(GPU))
    assert debian.exists(RESERVATION) and not debian.exists(STAMP)
    debian.tools.clear()
    outcome = debian.ensure(GPU)
    assert outcome.diff == [] and outcome.regenerated and debian.calls() == ['update-initramfs', 'modprobe']


def test_refusals_change_nothing(debian):
    for devices in (['00:17.0'], ['01:00.0'], ['usb_1_3']):
        with pytest.raises(HostdevError) as refused:
            debian.ensure(devices)
        assert refused.value.result['problems'] and 'nothing was changed' in refused.value.message
    assert debian.tools.calls() == [] and not debian.exists(MODULES_LOAD) and not debian.exists(RESERVATION)


def test_absent_removes_everything_and_regenerates(debian):
    debian.ensure(GPU)
    debian.bind_to('0000:01:00.0', 'vfio-pci')
    debian.tools.clear()
    outcome = debian.ensure(state='absent')
    assert outcome.changed and outcome.regenerated and outcome.released == GPU
    assert outcome.pending == ['pci_0000_01_00_0'] and outcome.reboot_required  # still on vfio-pci until the reboot
    assert debian.calls() == ['update-initramfs']  # no modprobe: loaded modules stay
    for path in (RESERVATION, MODULES_LOAD, UDEV_RULES, INITRAMFS_TOOLS_HOOK, INITRAMFS_TOOLS_SCRIPT, STAMP):
        assert not debian.exists(path), path
    debian.tools.clear()
    assert not debian.ensure(state='absent').changed and debian.tools.calls() == []
    with pytest.raises(HostdevError, match='leave devices empty'):
        debian.ensure(GPU, state='absent')


def test_no_devices_keeps_only_the_modules(debian):
    outcome = debian.ensure([])
    assert not outcome.regenerated and debian.calls() == ['modprobe']
    assert debian.exists(MODULES_LOAD) and not debian.exists(RESERVATION) and not debian.exists(STAMP)


def test_a_planted_symlink_stops_the_run_before_any_change(debian, tmp_path):
    os.makedirs(os.path.dirname(debian.files.real(UDEV_RULES)))
    os.symlink(str(tmp_path / 'elsewhere'), debian.files.real(UDEV_RULES))
    with pytest.raises(HostdevError, match='60-virt-hostdev-vfio.rules: it is a symbolic link'):
        debian.ensure(GPU)
    assert not debian.exists(RESERVATION) and not os.path.exists(str(tmp_path / 'elsewhere'))


def test_dracut_host(tmp_path):
    rhel = Host(tmp_path, rhel_root)
    assert detect_initramfs(rhel.files) == 'dracut'
    outcome = rhel.ensure(GPU)
    assert outcome.initramfs == 'dracut' and rhel.tools.calls()[0] == ['dracut', '-f', '--regenerate-all']
    assert rhel.exists(DRACUT_CONF) and rhel.exists(DRACUT_HOOK) and not rhel.exists(INITRAMFS_TOOLS_SCRIPT)


def test_no_initramfs_generator_warns(tmp_path):
    host = Host(tmp_path, lambda root: None)
    outcome = host.ensure(GPU)
    assert outcome.initramfs == 'none' and not outcome.regenerated and host.calls() == ['modprobe']
    assert 'bound by a udev rule only' in outcome.warnings[0]
    assert host.exists(UDEV_RULES) and not host.exists(INITRAMFS_TOOLS_HOOK)
