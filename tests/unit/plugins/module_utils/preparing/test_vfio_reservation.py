"""Reservations on the sample workstation: the refusals (the checks of domain_hostdev, for a boot),
the files by address, and the binding script run against a fake sysfs."""

import os
import shutil
import subprocess

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_reservation import (
    ALL_FILES,
    BIND_SCRIPT,
    DRACUT_HOOK,
    DRACUT_SETUP,
    INITRAMFS_TOOLS_HOOK,
    INITRAMFS_TOOLS_SCRIPT,
    MODULES_LOAD,
    RESERVATION,
    UDEV_RULES,
    ReservationRequest,
    boot_files,
    initramfs_stamp,
    plan_reservation,
    reserved_addresses,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host

from fixtures.sample_host import build_tree
from fixtures.sriov_host import net_vf, read_sriov, sriov_model
from support.fake_host import write


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return read_host('sysfs', sysfs_root=build_tree(str(tmp_path_factory.mktemp('host'))))[0]


def plan(model, devices, **options):
    return plan_reservation(model, ReservationRequest(devices, **options))


def codes(reservation):
    return sorted((item['code'], item['device']) for item in reservation.problems)


def test_the_root_disk_controller_is_refused_even_with_force(model):
    for force in (False, True):
        reservation = plan(model, ['00:17.0'], force=force)
        assert codes(reservation) == [('host_in_use', 'block_sdb_CT500MX500SSD1_2113E5901234')]
        message = reservation.problems[0]['message']
        assert 'mounted at /' in message and 'this reservation takes from the host' in message
        assert 'force does not override this for a reservation' in message and 'force: true overrides' not in message


def test_gpu_without_its_audio_function_is_refused(model):
    reservation = plan(model, ['0000:01:00.0'])
    assert codes(reservation) == [('group_not_viable', 'pci_0000_01_00_1')]
    message = reservation.problems[0]['message']
    assert 'pci_0000_01_00_1 (driver snd_hda_intel)' in message and '"group 1 is not viable"' in message
    assert 'bridges in the group (pci_0000_00_01_0) never need reserving' in message


def test_gpu_with_its_audio_function_is_accepted(model):
    for devices, options in ((['01:00.0', 'pci_0000_01_00_1'], {}), (['01:00.0'], {'include_group': True})):
        reservation = plan(model, devices, **options)
        assert reservation.problems == [] and reservation.warnings == []
        assert reservation.devices == ['pci_0000_01_00_0', 'pci_0000_01_00_1']
        assert reservation.addresses(model) == ['0000:01:00.0', '0000:01:00.1']


def test_a_member_already_free_must_still_be_reserved(tmp_path):
    """After the reboot a member left out is back on its host driver, whatever it is bound to now."""
    root = build_tree(str(tmp_path))
    link = os.path.join(root, 'bus', 'pci', 'devices', '0000:01:00.1', 'driver')
    os.unlink(link)
    os.symlink('../../../../bus/pci/drivers/vfio-pci', link)
    model = read_host('sysfs', sysfs_root=root)[0]
    assert model.device('pci_0000_01_00_1')['driver'] == 'vfio-pci'
    assert codes(plan(model, ['01:00.0'])) == [('group_not_viable', 'pci_0000_01_00_1')]


def test_other_refusals_are_all_reported_at_once(model):
    reservation = plan(model, ['usb_1_3', '00:1f.3', '09:00.0'], include_group=True)
    assert codes(reservation) == [('not_eligible', 'pci_0000_00_1f_4'), ('not_pci', 'usb_1_3'),
                                  ('unresolved_reference', '09:00.0')]
    assert 'pci_smbus' in [item['message'] for item in reservation.problems if item['code'] == 'not_eligible'][0]


def test_a_device_a_domain_holds_can_be_reserved(model):
    assert model.assigned_to('pci_0000_02_00_0') == ['ci-runner']
    assert plan(model, ['02:00.0']).problems == []


def test_the_boot_vga_device_only_with_force(tmp_path):
    root = build_tree(str(tmp_path))
    write(os.path.realpath(os.path.join(root, 'bus', 'pci', 'devices', '0000:01:00.0')), 'boot_vga', '1\n')
    model = read_host('sysfs', sysfs_root=root)[0]
    refused = plan(model, ['01:00.0'], include_group=True)
    assert codes(refused) == [('not_eligible', 'pci_0000_01_00_0')] and 'boot_vga' in refused.problems[0]['message']
    forced = plan(model, ['01:00.0'], include_group=True, force=True)
    assert forced.problems == [] and 'boot VGA device' in forced.warnings[0]


def iommu_off(root):
    """The sample host as it boots with intel_iommu=off: no IOMMU units, no groups."""
    for directory, dirs, names in os.walk(os.path.join(root, 'devices')):
        if 'iommu_group' in dirs + names:  # a link to a directory is listed in dirs
            os.unlink(os.path.join(directory, 'iommu_group'))
    shutil.rmtree(os.path.join(root, 'kernel', 'iommu_groups'))
    shutil.rmtree(os.path.join(root, 'class', 'iommu'))


def test_iommu_off_is_no_refusal_but_groups_are_unknown(tmp_path):
    root = build_tree(str(tmp_path))
    iommu_off(root)
    model = read_host('sysfs', sysfs_root=root)[0]
    assert not model.iommu['enabled']
    reservation = plan(model, ['01:00.0'])
    assert reservation.problems == []
    assert 'the IOMMU is off, so the IOMMU groups of pci_0000_01_00_0 are not known' in reservation.warnings[0]
    assert 'shares its card with pci_0000_01_00_1' in reservation.warnings[1]
    assert plan(model, ['01:00.0', '01:00.1']).warnings[1:] == []
    assert codes(plan(model, ['00:17.0'])) == [('host_in_use', 'block_sdb_CT500MX500SSD1_2113E5901234')]


def test_files_name_devices_by_address_only(model):
    files = boot_files('initramfs-tools', model, ['pci_0000_04_00_0', 'pci_0000_04_01_0'])
    assert sorted(path for path, text in files.items() if text is not None) == sorted(
        [RESERVATION, MODULES_LOAD, UDEV_RULES, INITRAMFS_TOOLS_HOOK, INITRAMFS_TOOLS_SCRIPT])
    assert reserved_addresses(files[RESERVATION]) == ['0000:04:00.0', '0000:04:01.0']
    assert '0000:04:00.0  # pci_0000_04_00_0 8086:107c\n' in files[RESERVATION]
    rules = [line for line in files[UDEV_RULES].splitlines() if not line.startswith('#')]
    assert rules == ['ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:04:00.0", ATTR{driver_override}="vfio-pci"',
                     'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:04:01.0", ATTR{driver_override}="vfio-pci"']
    for text in files.values():
        assert text is None or ('ids=' not in text and 'ATTR{vendor}' not in text and '107c' not in text.split('#')[0])
    assert files[MODULES_LOAD].splitlines()[-3:] == ['vfio', 'vfio_iommu_type1', 'vfio_pci']


def test_dracut_files_and_what_absent_and_no_devices_leave(model):
    dracut = boot_files('dracut', model, ['pci_0000_02_00_0'])
    assert dracut[INITRAMFS_TOOLS_HOOK] is None and dracut[DRACUT_SETUP] and dracut[DRACUT_HOOK]
    assert 'inst_hook pre-udev 00' in dracut[DRACUT_SETUP] and 'exit' not in dracut[DRACUT_HOOK]
    assert [path for path, text in boot_files('none', model, []).items() if text is not None] == [MODULES_LOAD]
    assert set(boot_files('initramfs-tools', None, []).values()) == {None}
    assert set(boot_files('initramfs-tools', None, [])) == set(ALL_FILES)


def test_stamp_follows_the_initramfs_inputs(model):
    one = boot_files('initramfs-tools', model, ['pci_0000_02_00_0'])
    two = boot_files('initramfs-tools', model, ['pci_0000_02_00_0', 'pci_0000_00_02_0'])
    assert initramfs_stamp('initramfs-tools', one) == initramfs_stamp('initramfs-tools', dict(one))
    assert initramfs_stamp('initramfs-tools', one) != initramfs_stamp('initramfs-tools', two)
    assert initramfs_stamp('initramfs-tools', one).endswith('  initramfs-tools\n')
    assert initramfs_stamp('initramfs-tools', boot_files('initramfs-tools', model, [])) is None
    assert initramfs_stamp('none', one) is None


def test_reserved_addresses_ignore_comments_and_junk():
    assert reserved_addresses('# x\n01:00.0 # y\n\nnot-an-address\n0000:0a:00.1\n') == ['0000:01:00.0', '0000:0a:00.1']
    assert reserved_addresses(None) == []


@pytest.mark.parametrize('shell', ['sh', 'bash'])
def test_scripts_parse(model, tmp_path, shell):
    files = boot_files('initramfs-tools', model, ['pci_0000_02_00_0'])
    files.update((path, text) for path, text in boot_files('dracut', model, ['pci_0000_02_00_0']).items() if text)
    for path in (INITRAMFS_TOOLS_HOOK, INITRAMFS_TOOLS_SCRIPT, DRACUT_HOOK) + ((DRACUT_SETUP,) if shell == 'bash' else ()):
        script = write(tmp_path, path, files[path])
        assert subprocess.run([shell, '-n', script], check=False).returncode == 0, path
    script = write(tmp_path, 'script', files[INITRAMFS_TOOLS_SCRIPT])
    completed = subprocess.run([shell, script, 'prereqs'], capture_output=True, text=True, check=False)
    assert (completed.returncode, completed.stdout.strip()) == (0, '')


def fake_pci(root, address, driver=None):
    device = os.path.join(root, 'sys', 'bus', 'pci', 'devices', address)
    write(device, 'driver_override', '(null)\n')
    if driver:
        os.makedirs(os.path.join(root, 'sys', 'bus', 'pci', 'drivers', driver), exist_ok=True)
        write(root, '/sys/bus/pci/drivers/%s/unbind' % driver, '')
        os.symlink('../../drivers/%s' % driver, os.path.join(device, 'driver'))
    return device


def test_the_binding_script_binds_by_address(tmp_path):
    """The initramfs script, run against a fake sysfs: the reserved NIC is overridden and released from
    its driver, its identical twin is left alone, a reserved device without a driver is probed."""
    root = str(tmp_path)
    reserved = fake_pci(root, '0000:07:00.0', 'e1000e')
    twin = fake_pci(root, '0000:08:00.0', 'e1000e')
    driverless = fake_pci(root, '0000:09:00.0')
    write(root, '/sys/bus/pci/drivers_probe', '')
    write(root, '/etc/virt-hostdev/vfio-pci.conf', '# reserved\n0000:07:00.0  # pci_0000_07_00_0 8086:10d3\n'
                                                   '0000:09:00.0\n0000:0a:00.0  # gone\n')
    bindir = os.path.join(root, 'bin')
    write(bindir, 'modprobe', '#!/bin/sh\necho "$@" > %s/modprobe.args\nmkdir -p %s/sys/bus/pci/drivers/vfio-pci\n'
          % (root, root), mode=0o755)
    script = write(root, 'init-top', BIND_SCRIPT.replace('/sys/', root + '/sys/').replace(
        '/etc/virt-hostdev/', root + '/etc/virt-hostdev/'))
    completed = subprocess.run(['sh', script], capture_output=True, text=True, check=False,
                               env={'PATH': bindir + os.pathsep + '/usr/bin:/bin'})
    assert completed.returncode == 0, completed.stderr
    assert open(os.path.join(reserved, 'driver_override')).read() == 'vfio-pci\n'
    assert open(os.path.join(root, 'sys/bus/pci/drivers/e1000e/unbind')).read() == '0000:07:00.0\n'
    assert open(os.path.join(twin, 'driver_override')).read() == '(null)\n'
    assert open(os.path.join(driverless, 'driver_override')).read() == 'vfio-pci\n'
    assert open(os.path.join(root, 'sys/bus/pci/drivers_probe')).read() == '0000:09:00.0\n'
    assert open(os.path.join(root, 'modprobe.args')).read() == '-q vfio-pci\n'


# -- VFs ------------------------------------------------------------------------------

VF_RULE_0410 = (
    'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:04:10.0", ATTR{driver_override}="vfio-pci", '
    'RUN+="/bin/sh -c \'/sbin/modprobe -q vfio-pci; '
    '[ /sys/bus/pci/devices/0000:04:10.0/driver -ef /sys/bus/pci/drivers/vfio-pci ] || { '
    '[ -e /sys/bus/pci/devices/0000:04:10.0/driver ] && '
    'echo 0000:04:10.0 > /sys/bus/pci/devices/0000:04:10.0/driver/unbind; '
    'echo 0000:04:10.0 > /sys/bus/pci/drivers_probe; }\'"\n')


@pytest.fixture(scope='module')
def pf_model(tmp_path_factory):
    """The sample host with 04:00.0 an SR-IOV PF of 2 VFs at most, none created: VF 0 at 04:10.0, VF 1 at 04:10.2."""
    sysfs = build_tree(str(tmp_path_factory.mktemp('host')))
    for key, value in (('totalvfs', 2), ('numvfs', 0), ('offset', 128), ('stride', 2)):
        write(sysfs, 'bus/pci/devices/0000:04:00.0/sriov_%s' % key, '%d\n' % value)
    return read_host('sysfs', sysfs_root=sysfs)[0]


def test_a_vf_not_created_yet_is_reserved_by_its_slot_and_gets_the_moving_rule(pf_model):
    model = pf_model
    reservation = plan_reservation(model, ReservationRequest(['04:10.0', '01:00.0', '01:00.1']))
    assert reservation.problems == [] and reservation.future_vfs == {'0000:04:10.0': 'VF 0 of pci_0000_04_00_0'}
    files = boot_files('initramfs-tools', model, reservation.devices, reservation.future_vfs)
    assert files[RESERVATION].endswith('0000:01:00.0  # pci_0000_01_00_0 10de:24b0\n'
                                       '0000:01:00.1  # pci_0000_01_00_1 10de:228b\n'
                                       '0000:04:10.0  # VF 0 of pci_0000_04_00_0, not created yet\n')
    rules = files[UDEV_RULES]
    assert 'KERNEL=="0000:01:00.0", ATTR{driver_override}="vfio-pci"\n' in rules
    assert rules.endswith(VF_RULE_0410)
    assert '%' not in rules and '$' not in rules  # udev substitutes both itself


def test_an_address_that_is_no_device_and_no_vf_slot_is_refused_as_before(pf_model):
    for address in ('04:10.1', '04:10.4'):  # between two VFs; beyond sriov_totalvfs
        reservation = plan_reservation(pf_model, ReservationRequest([address]))
        assert [item['code'] for item in reservation.problems] == ['unresolved_reference']
        assert reservation.future_vfs == {}


def test_a_vf_slot_of_a_pf_whose_vf_layout_is_unknown_is_refused_not_reserved_one_stride_off(tmp_path):
    """Without sriov_offset, sriov_stride and virtfn0, the layout inferred from the VFs listed (VF 1 on) put
    net_vf(5) at VF 4: reserved as a VF to come, under a wrong index. Refused, saying why."""
    model = sriov_model(read_sriov(str(tmp_path), vfs=4, without=['virtfn0']))
    reservation = plan_reservation(model, ReservationRequest([net_vf(5)]))
    assert reservation.future_vfs == {}
    assert [item['code'] for item in reservation.problems] == ['unresolved_reference']
    assert 'where that PF puts its VFs is unknown' in reservation.problems[0]['message']


def test_a_vf_the_host_has_gets_the_moving_rule(tmp_path):
    root = str(tmp_path)
    sysfs = build_tree(root)
    vf = os.path.realpath(os.path.join(sysfs, 'bus/pci/devices/0000:04:01.0'))
    os.symlink(os.path.relpath(os.path.realpath(os.path.join(sysfs, 'bus/pci/devices/0000:04:00.0')), vf),
               os.path.join(vf, 'physfn'))
    vf_model = read_host('sysfs', sysfs_root=sysfs)[0]
    rules = boot_files('none', vf_model, ['pci_0000_04_00_0', 'pci_0000_04_01_0'])[UDEV_RULES]
    assert 'KERNEL=="0000:04:00.0", ATTR{driver_override}="vfio-pci"\n' in rules
    assert rules.endswith(VF_RULE_0410.replace('04:10.0', '04:01.0'))


def test_the_vf_rule_moves_a_vf_its_driver_took_and_leaves_one_on_vfio_pci(tmp_path):
    """The RUN script of a VF's rule, against a fake sysfs and a fake kernel: the VF was probed by its
    host driver when created; udev set the override (ATTR), then the script moves it, once."""
    from support.fake_host import FakeTools
    from support.fake_pci_kernel import FakePciKernel

    root = str(tmp_path / 'root')
    sysfs = build_tree(root)
    kernel = FakePciKernel(sysfs)
    tools = FakeTools(tmp_path, root)
    script = VF_RULE_0410.replace('04:10.0', '04:01.0').split("-c '", 1)[1].rsplit("'", 1)[0]
    script = script.replace('/sys/', sysfs + '/').replace('/sbin/modprobe', tools.bin + '/modprobe')
    write(sysfs, 'bus/pci/devices/0000:04:01.0/driver_override', 'vfio-pci\n')  # ATTR{driver_override}
    env = dict(tools.env(), PATH='/usr/bin:/bin')
    with kernel.running():
        for _run in range(2):
            completed = subprocess.run(['/bin/sh', '-c', script], capture_output=True, text=True, env=env,
                                       check=False, timeout=30)
            assert completed.returncode == 0, completed.stderr
            for _wait in range(400):
                if kernel.driver('0000:04:01.0') == 'vfio-pci':
                    break
                kernel.step()
    assert kernel.driver('0000:04:01.0') == 'vfio-pci' and kernel.driver('0000:04:00.0') == 'e1000'
    assert kernel.events == [('unbind', '0000:04:01.0', 'e1000'), ('bind', '0000:04:01.0', 'vfio-pci')]
    assert [call[0] for call in tools.calls()] == ['modprobe', 'modprobe']


def test_a_pf_reserved_with_vf_slots_it_is_to_create_is_refused(pf_model):
    """vfio-pci makes no VFs: a PF bound to it at boot leaves the slots reserved beside it empty."""
    reservation = plan_reservation(pf_model, ReservationRequest(['04:00.0', '04:10.0', '04:10.2'], include_group=True))
    found = [item for item in reservation.problems if item['code'] == 'has_virtual_functions']
    assert found == [{'code': 'has_virtual_functions', 'device': 'pci_0000_04_00_0', 'message':
                      'pci_0000_04_00_0 is reserved together with virtual functions it is to create (0000:04:10.0, '
                      '0000:04:10.2), but bound to vfio-pci at boot it creates none: reserve the VFs alone, so that '
                      'the PF keeps its driver'}]
    alone = plan_reservation(pf_model, ReservationRequest(['04:10.0', '04:10.2']))
    assert alone.problems == [] and sorted(alone.future_vfs) == ['0000:04:10.0', '0000:04:10.2']


def test_a_created_vf_with_its_pf_is_refused_by_the_pf_s_vfs(tmp_path):
    """The PF of a VF reserved by its address has VFs enabled: has_virtual_functions names them."""
    model = sriov_model(read_sriov(str(tmp_path), vfs=2))
    reservation = plan_reservation(model, ReservationRequest(['06:00.0', net_vf(0)]))
    found = [(item['code'], item['device']) for item in reservation.problems]
    assert ('has_virtual_functions', 'pci_0000_06_00_0') in found
    assert reservation.future_vfs == {}
