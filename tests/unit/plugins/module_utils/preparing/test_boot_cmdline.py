"""The kernel command line through each boot mechanism, on fake hosts with fake tools."""

import json

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_cmdline import detect_bootloader, ensure_cmdline
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import CmdlineSpec
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import HostFiles

from support.fake_host import DEBIAN_GRUB, FakeTools, debian_root, read, rhel_root, systemd_boot_root, write

INTEL_PT = CmdlineSpec('present', 'intel', passthrough=True)
AMD = CmdlineSpec('present', 'amd')
ABSENT = CmdlineSpec('absent')


@pytest.fixture()
def debian(tmp_path):
    root = debian_root(tmp_path / 'root')
    return HostFiles(root), FakeTools(tmp_path, root)


def names(tools):
    return [call[0] for call in tools.calls()]


def test_debian_check_mode_changes_nothing(debian):
    files, tools = debian
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT, check_mode=True)
    assert outcome.bootloader == 'grub' and outcome.changed and outcome.reboot_required
    assert outcome.added == ['intel_iommu=on', 'iommu=pt'] and outcome.removed == ['intel_iommu=off']
    assert outcome.commands == [[tools.bin + '/update-grub']]
    assert outcome.diff[0]['before'] == DEBIAN_GRUB and 'intel_iommu=on iommu=pt' in outcome.diff[0]['after']
    assert read(files.root, '/etc/default/grub') == DEBIAN_GRUB and tools.calls() == []


def test_debian_apply_then_nothing_to_do(debian):
    files, tools = debian
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert outcome.changed and names(tools) == ['update-grub']
    assert read(files.root, '/etc/default/grub') == DEBIAN_GRUB.replace(
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet  intel_iommu=off"', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on iommu=pt"')
    assert outcome.cmdline == 'console=ttyS0,115200n8 quiet intel_iommu=on iommu=pt'
    tools.clear()
    again = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert not again.changed and again.commands == [] and again.diff == [] and tools.calls() == []
    assert again.reboot_required  # the running kernel still has intel_iommu=off
    write(files.root, '/proc/cmdline', 'BOOT_IMAGE=/vmlinuz ro ' + outcome.cmdline + '\n')
    assert not ensure_cmdline(files, tools.commands(), INTEL_PT).reboot_required


def test_debian_absent_removes_the_arguments(debian):
    files, tools = debian
    ensure_cmdline(files, tools.commands(), INTEL_PT)
    tools.clear()
    outcome = ensure_cmdline(files, tools.commands(), ABSENT)
    assert outcome.changed and outcome.removed == ['intel_iommu=on', 'iommu=pt'] and names(tools) == ['update-grub']
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"' in read(files.root, '/etc/default/grub')
    assert not outcome.reboot_required  # /proc/cmdline has none of them


def test_debian_regenerates_a_stale_grub_cfg_without_a_file_change(debian):
    files, tools = debian
    ensure_cmdline(files, tools.commands(), INTEL_PT)
    write(files.root, '/boot/grub/grub.cfg', "menuentry 'Debian' {\n\tlinux\t/vmlinuz root=/dev/vda1 ro quiet\n}\n")
    tools.clear()
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert outcome.changed and outcome.diff == [] and names(tools) == ['update-grub']
    assert 'still lacks' in outcome.warnings[0]  # the fake update-grub did not rewrite it
    write(files.root, '/boot/grub/grub.cfg', "\tlinux\t/vmlinuz ro quiet intel_iommu=on iommu=pt\n"
                                             "\tlinux\t/vmlinuz ro single\n")
    tools.clear()
    assert not ensure_cmdline(files, tools.commands(), INTEL_PT).changed and tools.calls() == []


def test_grub_mkconfig_without_update_grub(debian):
    files, tools = debian
    tools.remove('update-grub')
    write(files.root, '/boot/grub2/grub.cfg', '')
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert tools.calls() == [['grub2-mkconfig', '-o', '/boot/grub2/grub.cfg']]
    assert outcome.commands == [[tools.bin + '/grub2-mkconfig', '-o', '/boot/grub2/grub.cfg']]


def test_grub_d_file_that_overrides_the_default_is_edited(debian):
    files, tools = debian
    write(files.root, '/etc/default/grub.d/50-cloudimg-settings.cfg', 'GRUB_CMDLINE_LINUX_DEFAULT="console=tty1"\n')
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert read(files.root, '/etc/default/grub.d/50-cloudimg-settings.cfg') == \
        'GRUB_CMDLINE_LINUX_DEFAULT="console=tty1 intel_iommu=on iommu=pt"\n'
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"' in read(files.root, '/etc/default/grub')
    assert [item['before_header'] for item in outcome.diff] == [
        '/etc/default/grub', '/etc/default/grub.d/50-cloudimg-settings.cfg']


def test_failed_regeneration_fails_and_the_next_run_regenerates(debian):
    files, tools = debian
    write(files.root, '/boot/grub/grub.cfg', '\tlinux\t/vmlinuz ro quiet intel_iommu=off\n')
    with pytest.raises(HostdevError, match='update-grub failed with exit code 3: update-grub: simulated failure'):
        ensure_cmdline(files, tools.commands(FAKE_FAIL='update-grub'), INTEL_PT)
    tools.clear()
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert outcome.changed and outcome.diff == [] and names(tools) == ['update-grub']


@pytest.fixture()
def rhel(tmp_path):
    root = rhel_root(tmp_path / 'root')
    return HostFiles(root), FakeTools(tmp_path, root)


def grubby_state(files):
    return json.loads(read(files.root, '/grubby.json'))


def test_rhel_grubby_check_apply_idempotent(rhel):
    files, tools = rhel
    assert detect_bootloader(files, tools.commands()) == 'grubby'
    planned = ensure_cmdline(files, tools.commands(), AMD, check_mode=True)
    assert planned.bootloader == 'grubby' and planned.changed and tools.calls() == [['grubby', '--info=ALL']]
    # the older entry also has iommu=off to remove: one call per entry
    assert planned.commands == [
        [tools.bin + '/grubby', '--update-kernel=/boot/vmlinuz-5.14.0-427.el9.x86_64', '--args=amd_iommu=on'],
        [tools.bin + '/grubby', '--update-kernel=/boot/vmlinuz-5.14.0-362.el9.x86_64', '--args=amd_iommu=on',
         '--remove-args=iommu=off']]
    assert 'iommu=off' in planned.diff[0]['before'] and 'iommu=off' not in planned.diff[0]['after']
    assert grubby_state(files)[1][1].endswith('iommu=off')
    tools.clear()
    outcome = ensure_cmdline(files, tools.commands(), AMD)
    assert names(tools) == ['grubby'] * 4  # info, an update per entry, info again (the check)
    assert [args for _kernel, args in grubby_state(files)] == [
        'ro crashkernel=auto rhgb quiet amd_iommu=on', 'ro crashkernel=auto rhgb quiet amd_iommu=on']
    assert outcome.reboot_required
    tools.clear()
    again = ensure_cmdline(files, tools.commands(), AMD)
    assert not again.changed and tools.calls() == [['grubby', '--info=ALL']]
    tools.clear()
    absent = ensure_cmdline(files, tools.commands(), ABSENT)
    assert absent.changed and absent.removed == ['amd_iommu=on']
    assert tools.calls()[1] == ['grubby', '--update-kernel=ALL', '--remove-args=amd_iommu=on']  # the same change
    assert [args for _kernel, args in grubby_state(files)] == ['ro crashkernel=auto rhgb quiet'] * 2


def test_rhel_grubby_keeps_the_options_of_an_argument_it_would_replace(tmp_path):
    # grubby --args=intel_iommu=on replaces intel_iommu=igfx_off (the fake grubby does as the real one)
    root = rhel_root(tmp_path / 'root', entries=(('/boot/vmlinuz-5.14.0-427.el9.x86_64', 'ro intel_iommu=igfx_off quiet'),
                                                 ('/boot/vmlinuz-5.14.0-362.el9.x86_64', 'ro quiet')))
    files, tools = HostFiles(root), FakeTools(tmp_path, root)
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert outcome.changed
    assert [args for _kernel, args in grubby_state(files)] == [
        'ro quiet intel_iommu=igfx_off,on iommu=pt', 'ro quiet intel_iommu=on iommu=pt']
    assert 'intel_iommu=igfx_off,on' in outcome.diff[0]['after']
    tools.clear()
    assert not ensure_cmdline(files, tools.commands(), INTEL_PT).changed and names(tools) == ['grubby']


def test_rhel_grubby_that_changes_nothing_fails_naming_the_entries(rhel):
    files, tools = rhel
    with pytest.raises(HostdevError, match='still do not have what was asked: /boot/vmlinuz-5.14.0-427.*'
                                           '; grubby changed none of them$'):
        ensure_cmdline(files, tools.commands(FAKE_GRUBBY_IGNORES='1'), AMD)


def test_rhel_grubby_that_edits_otherwise_than_asked_is_undone(rhel):
    # An early grubby-bls matched iommu= inside intel_iommu=on: adding iommu=pt made it intel_iommu=pt.
    files, tools = rhel
    before = grubby_state(files)
    with pytest.raises(HostdevError) as caught:
        ensure_cmdline(files, tools.commands(FAKE_GRUBBY_SUBSTRING_KEYS='1'), INTEL_PT)
    assert 'still do not have what was asked: /boot/vmlinuz-5.14.0-427.el9.x86_64: ro crashkernel=auto rhgb ' \
           'quiet intel_iommu=pt' in caught.value.message
    assert caught.value.message.endswith('; the 2 entries grubby changed were put back as they were')
    assert [sorted(args.split()) for _kernel, args in grubby_state(files)] == \
        [sorted(args.split()) for _kernel, args in before]


def test_rhel_grubby_that_cannot_put_entries_back_says_which_and_what_they_were(tmp_path):
    root = rhel_root(tmp_path / 'root', entries=(('/boot/vmlinuz-5.14.0-427.el9.x86_64', 'ro quiet'),))
    files, tools = HostFiles(root), FakeTools(tmp_path, root)
    with pytest.raises(HostdevError) as caught:
        ensure_cmdline(files, tools.commands(FAKE_GRUBBY_SUBSTRING_KEYS='1', FAKE_GRUBBY_UPDATES_OK='1'), INTEL_PT)
    assert 'putting back the entries grubby changed failed too (' in caught.value.message
    assert 'simulated failure of update 2' in caught.value.message
    assert caught.value.message.endswith(
        'so set these back by hand: /boot/vmlinuz-5.14.0-427.el9.x86_64 (was: ro quiet)')
    assert grubby_state(files) == [['/boot/vmlinuz-5.14.0-427.el9.x86_64', 'ro quiet intel_iommu=pt']]


def test_systemd_boot_kernel_install(tmp_path):
    root = systemd_boot_root(tmp_path / 'root')
    files, tools = HostFiles(root), FakeTools(tmp_path, root)
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert outcome.bootloader == 'kernel_install'
    assert read(root, '/etc/kernel/cmdline') == 'root=UUID=1234 rw quiet intel_iommu=on iommu=pt\n'
    assert tools.calls() == [['kernel-install', 'add', '6.8.0-1', '/usr/lib/modules/6.8.0-1/vmlinuz'],
                             ['kernel-install', 'add', '6.9.2-1', '/usr/lib/modules/6.9.2-1/vmlinuz']]
    tools.clear()
    assert not ensure_cmdline(files, tools.commands(), INTEL_PT).changed and tools.calls() == []


def test_kernel_install_without_cmdline_file_starts_from_the_running_one(tmp_path):
    root = systemd_boot_root(tmp_path / 'root', cmdline_file=None)
    files, tools = HostFiles(root), FakeTools(tmp_path, root)
    with pytest.raises(HostdevError, match='cannot tell how this host boots'):
        ensure_cmdline(files, tools.commands(), INTEL_PT)
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT, bootloader='kernel_install', check_mode=True)
    assert outcome.diff == [{'before_header': '/etc/kernel/cmdline (absent)', 'after_header': '/etc/kernel/cmdline',
                             'before': '', 'after': 'root=UUID=1234 rw quiet intel_iommu=on iommu=pt\n'}]


def test_explicit_bootloader_that_the_host_lacks(tmp_path):
    root = systemd_boot_root(tmp_path / 'root')
    files, tools = HostFiles(root), FakeTools(tmp_path, root)
    with pytest.raises(HostdevError, match='/etc/default/grub does not exist'):
        ensure_cmdline(files, tools.commands(), INTEL_PT, bootloader='grub')
    tools.remove('kernel-install')
    with pytest.raises(HostdevError, match='kernel-install not found'):
        ensure_cmdline(files, tools.commands(), INTEL_PT)
