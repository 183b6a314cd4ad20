"""A reservation written to a fake Debian (initramfs-tools) or RHEL (dracut) root laid over the sample
workstation: the files by address, the initramfs regenerated only when its inputs changed, the VFIO
modules loaded, state absent, and refusals that change nothing."""

import os
import stat

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import HostFiles
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_boot import (
    REGENERATING,
    detect_initramfs,
    ensure_reservation,
    reservation_sysfs_root,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_reservation import (
    DRACUT_CONF,
    DRACUT_HOOK,
    INITRAMFS_FILES,
    INITRAMFS_TOOLS_HOOK,
    INITRAMFS_TOOLS_SCRIPT,
    MODULES_LOAD,
    RESERVATION,
    STAMP,
    UDEV_RULES,
    ReservationRequest,
    initramfs_stamp,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host

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


# -- the stamp tells what the initramfs holds ------------------------------------------------------

def stamp_of_files_on_disk(host):
    inputs = dict((path, host.files.read(path)) for path in INITRAMFS_FILES['initramfs-tools'])
    return initramfs_stamp('initramfs-tools', inputs)


def test_the_stamp_describes_the_inputs_the_regeneration_read(debian):
    debian.ensure(GPU)
    assert read(debian.root, STAMP) == stamp_of_files_on_disk(debian) and not debian.exists(REGENERATING)


def test_a_regeneration_that_failed_is_redone_even_for_the_reservation_of_before(debian):
    """GPU reserved; then 02:00.0, whose regeneration fails half-way (the initramfs of some kernels may
    hold it); then the GPU again: its files are as the stamp says, yet the initramfs is unknown."""
    debian.ensure(GPU)
    model = read_host('sysfs', sysfs_root=debian.sysfs)[0]
    with pytest.raises(HostdevError, match='update-initramfs -u -k all failed'):
        ensure_reservation(debian.files, debian.tools.commands(FAKE_FAIL='update-initramfs'), model,
                           ReservationRequest(['02:00.0']))
    assert debian.exists(REGENERATING)
    debian.tools.clear()
    planned = debian.ensure(GPU, check_mode=True)
    assert planned.regenerated and planned.diff != [] and debian.tools.calls() == []
    outcome = debian.ensure(GPU)
    assert outcome.regenerated and debian.calls() == ['update-initramfs']
    assert read(debian.root, STAMP) == stamp_of_files_on_disk(debian) and not debian.exists(REGENERATING)


def test_a_failed_release_is_redone_by_the_next_release(debian):
    debian.ensure(GPU)
    model = read_host('sysfs', sysfs_root=debian.sysfs)[0]
    with pytest.raises(HostdevError, match='update-initramfs -u -k all failed'):
        ensure_reservation(debian.files, debian.tools.commands(FAKE_FAIL='update-initramfs'), model,
                           ReservationRequest([]), state='absent')
    debian.tools.clear()
    outcome = debian.ensure(state='absent')
    assert outcome.regenerated and debian.calls() == ['update-initramfs']
    assert not debian.exists(STAMP) and not debian.exists(REGENERATING)


def test_the_stamp_of_a_regeneration_stays_when_modprobe_fails_after_it(debian):
    """The initramfs was regenerated: its stamp says so, whatever fails after it."""
    debian.ensure(GPU)
    os.rmdir(os.path.join(debian.root, 'sys', 'module', 'vfio_pci'))  # modprobe runs again
    model = read_host('sysfs', sysfs_root=debian.sysfs)[0]
    with pytest.raises(HostdevError, match='modprobe -a vfio_pci failed'):
        ensure_reservation(debian.files, debian.tools.commands(FAKE_FAIL='modprobe'), model,
                           ReservationRequest(['02:00.0']))
    assert read(debian.root, STAMP) == stamp_of_files_on_disk(debian)
    debian.tools.clear()
    outcome = debian.ensure(GPU)  # back to the GPU: its initramfs was replaced, so regenerate
    assert outcome.regenerated and debian.calls() == ['update-initramfs', 'modprobe']


# -- the sysfs tree a reservation is validated against -------------------------------------------------

@pytest.mark.parametrize('root, sysfs_root, expected', [
    ('/', None, None),
    ('/', '/srv/hosts/hv1/sys', '/srv/hosts/hv1/sys'),
    ('/srv/fake', None, '/srv/fake/sys'),
    ('/srv/fake/', None, '/srv/fake/sys'),
    ('/srv/fake', '/srv/fake/copy/sys', '/srv/fake/copy/sys'),
])
def test_the_sysfs_of_a_reservation_is_under_its_root(root, sysfs_root, expected):
    assert reservation_sysfs_root(root, sysfs_root) == expected


@pytest.mark.parametrize('sysfs_root', ['/sys', '/srv/fake-other/sys', '/srv/fake/../other/sys'])
def test_a_sysfs_outside_the_root_is_refused(sysfs_root):
    with pytest.raises(HostdevError) as refused:
        reservation_sysfs_root('/srv/fake', sysfs_root)
    assert refused.value.message == (
        'sysfs_root %s is not under root /srv/fake: the devices would be read from another tree than the one '
        'whose files are written; leave sysfs_root unset (it defaults to /srv/fake/sys) or give one under root'
        % sysfs_root)
