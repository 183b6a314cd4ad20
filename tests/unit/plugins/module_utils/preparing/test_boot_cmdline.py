"""The kernel command line through each boot mechanism, on fake hosts with fake tools."""

import json
import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import HostFiles
from ansible_collections.virt.hostdev.plugins.module_utils.preparing import boot_grub
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_cmdline import (
    detect_bootloader,
    ensure_cmdline,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_mechanism import PENDING
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import CmdlineSpec

from support.fake_host import DEBIAN_GRUB, FakeTools, debian_root, read, rhel_root, systemd_boot_root, write

INTEL_PT = CmdlineSpec('present', 'intel', passthrough=True)
AMD = CmdlineSpec('present', 'amd')
AMD_PT = CmdlineSpec('present', 'amd', passthrough=True)
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
    # as when a script in /etc/grub.d writes its own command line: update-grub leaves the entry stale
    outcome = ensure_cmdline(files, tools.commands(FAKE_GRUB_CFG_KEPT='1'), INTEL_PT)
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
    with pytest.raises(HostdevError, match='update-grub failed with exit code 3: update-grub: simulated failure') as caught:
        ensure_cmdline(files, tools.commands(FAKE_FAIL='update-grub'), INTEL_PT)
    # the edited file was put back from its backup: the host boots as before, and the next run redoes it all
    assert caught.value.message.endswith(
        '; the boot configuration was not regenerated, so %s was put back as it was before the change (from the '
        'backup): nothing changed; fix the cause and run again' % files.real('/etc/default/grub'))
    assert read(files.root, '/etc/default/grub') == DEBIAN_GRUB and not files.exists(PENDING)
    tools.clear()
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert outcome.changed and outcome.diff[0]['before'] == DEBIAN_GRUB and names(tools) == ['update-grub']
    assert 'intel_iommu=on iommu=pt' in read(files.root, '/boot/grub/grub.cfg') and not files.exists(PENDING)


@pytest.fixture()
def rhel(tmp_path):
    root = rhel_root(tmp_path / 'root')
    return HostFiles(root), FakeTools(tmp_path, root)


def grubby_state(files):
    return json.loads(read(files.root, '/grubby.json'))


def test_rhel_grubby_check_apply_idempotent(rhel):
    files, tools = rhel
    assert detect_bootloader(files, tools.commands()) == 'grubby'
    planned = ensure_cmdline(files, tools.commands(), AMD_PT, check_mode=True)
    assert planned.bootloader == 'grubby' and planned.changed and tools.calls() == [['grubby', '--info=ALL']]
    # the older entry also has iommu=off to remove: one call per entry
    assert planned.commands == [
        [tools.bin + '/grubby', '--update-kernel=/boot/vmlinuz-5.14.0-427.el9.x86_64', '--args=iommu=pt'],
        [tools.bin + '/grubby', '--update-kernel=/boot/vmlinuz-5.14.0-362.el9.x86_64', '--args=iommu=pt',
         '--remove-args=iommu=off']]
    assert 'iommu=off' in planned.diff[0]['before'] and 'iommu=off' not in planned.diff[0]['after']
    assert grubby_state(files)[1][1].endswith('iommu=off')
    tools.clear()
    outcome = ensure_cmdline(files, tools.commands(), AMD_PT)
    assert names(tools) == ['grubby'] * 4  # info, an update per entry, info again (the check)
    assert [args for _kernel, args in grubby_state(files)] == [
        'ro crashkernel=auto rhgb quiet iommu=pt', 'ro crashkernel=auto rhgb quiet iommu=pt']
    assert outcome.reboot_required
    tools.clear()
    again = ensure_cmdline(files, tools.commands(), AMD_PT)
    assert not again.changed and tools.calls() == [['grubby', '--info=ALL']]
    tools.clear()
    absent = ensure_cmdline(files, tools.commands(), ABSENT)
    assert absent.changed and absent.removed == ['iommu=pt']
    assert tools.calls()[1] == ['grubby', '--update-kernel=ALL', '--remove-args=iommu=pt']  # the same change
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
        ensure_cmdline(files, tools.commands(FAKE_GRUBBY_IGNORES='1'), AMD_PT)


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


# -- GRUB's files read as the shell reads them ---------------------------------------------

def grub_cfg(files):
    return read(files.root, '/boot/grub/grub.cfg')


def test_a_quoted_argument_in_grub_is_seen_and_removed(debian):
    """A quoted "iommu=off" inside the value was not seen: the IOMMU stayed off, success was reported."""
    files, tools = debian
    write(files.root, '/etc/default/grub', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet \\"iommu=off\\""\n')
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert outcome.removed == ['iommu=off'] and outcome.added == ['intel_iommu=on', 'iommu=pt']
    assert read(files.root, '/etc/default/grub') == 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on iommu=pt"\n'
    assert 'iommu=off' not in grub_cfg(files) and 'quiet intel_iommu=on iommu=pt' in grub_cfg(files)


@pytest.mark.parametrize('check_mode', [True, False])
def test_a_value_from_a_variable_is_refused_and_nothing_runs(debian, check_mode):
    """It was reported as success while the IOMMU stayed off, and every later run said changed."""
    files, tools = debian
    text = 'IOMMU_ARGS="iommu=off"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet $IOMMU_ARGS"\n'
    write(files.root, '/etc/default/grub', text)
    with pytest.raises(HostdevError) as caught:
        ensure_cmdline(files, tools.commands(), INTEL_PT, check_mode=check_mode)
    assert caught.value.message.startswith(
        'refusing %s line 2: GRUB_CMDLINE_LINUX_DEFAULT takes part of its value from the variable $IOMMU_ARGS'
        % files.real('/etc/default/grub'))
    assert read(files.root, '/etc/default/grub') == text and tools.calls() == [] and not files.exists(PENDING)


def test_an_unterminated_quote_is_refused_and_the_file_kept(debian):
    files, tools = debian
    text = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=off\nGRUB_TIMEOUT=5\n'
    write(files.root, '/etc/default/grub', text)
    with pytest.raises(HostdevError, match=r'line 1: the shell cannot read it: a double quote \(\"\) that is never '
                                           r'closed; nothing was changed$'):
        ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert read(files.root, '/etc/default/grub') == text and tools.calls() == []


def test_a_continued_line_is_edited_into_a_file_the_shell_reads(debian):
    """The file once became one the shell could not parse: update-grub failed, no backup."""
    files, tools = debian
    write(files.root, '/etc/default/grub', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet \\\n    iommu=off"\nGRUB_TIMEOUT=5\n')
    ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert read(files.root, '/etc/default/grub') == \
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on iommu=pt"\nGRUB_TIMEOUT=5\n'
    assert names(tools) == ['update-grub'] and 'ro  quiet intel_iommu=on iommu=pt\n' in grub_cfg(files)


def test_a_file_the_shell_cannot_parse_is_refused_as_it_is(debian):
    files, tools = debian
    text = DEBIAN_GRUB + 'if true; then\nfi\n'  # an empty then: /bin/sh refuses it
    write(files.root, '/etc/default/grub', text)
    with pytest.raises(HostdevError) as caught:
        ensure_cmdline(files, tools.commands(), INTEL_PT, check_mode=True)
    assert caught.value.message.startswith('refusing %s: the shell cannot parse it as it is (sh -n: '
                                           % files.real('/etc/default/grub'))
    assert 'so update-grub would fail too: fix it first; nothing was changed' in caught.value.message
    assert read(files.root, '/etc/default/grub') == text


def test_an_edit_the_shell_cannot_parse_is_never_written(debian, monkeypatch):
    """The consumer's own check (sh -n) stands behind the reader's: a wrong edit is not written."""
    files, tools = debian
    monkeypatch.setattr(boot_grub, 'edit_grub_files', lambda texts, spec, paths: ['GRUB_CMDLINE_LINUX="x\n'])
    with pytest.raises(HostdevError) as caught:
        ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert caught.value.message.startswith('refusing %s: the edited file would not parse as a shell file (sh -n: '
                                           % files.real('/etc/default/grub'))
    assert read(files.root, '/etc/default/grub') == DEBIAN_GRUB and tools.calls() == []


def test_a_fifo_in_grub_d_is_refused_without_blocking_also_in_check_mode(debian):
    files, tools = debian
    os.makedirs(files.real('/etc/default/grub.d'))
    os.mkfifo(files.real('/etc/default/grub.d/50-cloudimg-settings.cfg'))
    for check_mode in (True, False):
        with pytest.raises(HostdevError, match='50-cloudimg-settings.cfg: it is a FIFO'):
            ensure_cmdline(files, tools.commands(), INTEL_PT, check_mode=check_mode)
    os.unlink(files.real('/etc/default/grub.d/50-cloudimg-settings.cfg'))
    os.makedirs(files.real('/etc/grub.d'))
    os.mkfifo(files.real('/etc/grub.d/41_custom'))  # update-grub runs what is there
    with pytest.raises(HostdevError, match='/etc/grub.d/41_custom: it is a FIFO'):
        ensure_cmdline(files, tools.commands(), INTEL_PT, check_mode=True)
    assert tools.calls() == [] and read(files.root, '/etc/default/grub') == DEBIAN_GRUB


def test_a_symlinked_etc_default_is_refused(debian, tmp_path):
    files, tools = debian
    outside = tmp_path / 'elsewhere'
    os.rename(files.real('/etc/default'), str(outside))
    os.symlink(str(outside), files.real('/etc/default'))
    with pytest.raises(HostdevError, match='is a symbolic link .* never reads or writes through a linked directory'):
        ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert (outside / 'grub').read_text() == DEBIAN_GRUB and tools.calls() == []


# -- the regeneration is retried until it succeeded -----------------------------------------

def test_a_missing_grub_cfg_is_generated_by_the_next_run(debian):
    """With grub.cfg missing, the next run said changed: false and never generated it."""
    files, tools = debian
    ensure_cmdline(files, tools.commands(FAKE_GRUB_CFG_KEPT='1'), INTEL_PT)
    assert not files.exists('/boot/grub/grub.cfg')
    tools.clear()
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert outcome.changed and outcome.diff == [] and names(tools) == ['update-grub']
    assert 'quiet intel_iommu=on iommu=pt' in grub_cfg(files)
    tools.clear()
    assert not ensure_cmdline(files, tools.commands(), INTEL_PT).changed and tools.calls() == []


class Died(BaseException):
    """The module process killed (a task timeout, a lost connection) while a command ran."""


def die_on(commands, tool):
    run = commands.run

    def dying(argv, timeout):
        if argv[0].endswith('/' + tool):
            raise Died()
        return run(argv, timeout)
    commands.run = dying
    return commands


def test_a_regeneration_that_never_finished_is_done_by_the_next_run(tmp_path):
    """kernel_install: the next run said changed: false while the boot entries never got the arguments."""
    root = systemd_boot_root(tmp_path / 'root')
    files, tools = HostFiles(root), FakeTools(tmp_path, root)
    with pytest.raises(Died):
        ensure_cmdline(files, die_on(tools.commands(), 'kernel-install'), INTEL_PT)
    assert read(root, '/etc/kernel/cmdline') == 'root=UUID=1234 rw quiet intel_iommu=on iommu=pt\n'
    assert json.loads(read(root, PENDING))['files'] == [{
        'path': '/etc/kernel/cmdline', 'before': 'root=UUID=1234 rw quiet\n',
        'after': 'root=UUID=1234 rw quiet intel_iommu=on iommu=pt\n'}]
    planned = ensure_cmdline(files, tools.commands(), INTEL_PT, check_mode=True)
    assert planned.changed and planned.diff == [] and len(planned.commands) == 2
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)
    assert outcome.changed and 'never regenerated' in outcome.warnings[0]
    assert [call[:3] for call in tools.calls()] == [['kernel-install', 'add', '6.8.0-1'],
                                                    ['kernel-install', 'add', '6.9.2-1']]
    assert not files.exists(PENDING)
    tools.clear()
    assert not ensure_cmdline(files, tools.commands(), INTEL_PT).changed and tools.calls() == []


def test_a_failed_kernel_install_puts_the_file_back_and_runs_the_done_ones_again(tmp_path):
    root = systemd_boot_root(tmp_path / 'root')
    files, tools = HostFiles(root), FakeTools(tmp_path, root)
    with pytest.raises(HostdevError) as caught:
        ensure_cmdline(files, tools.commands(FAKE_FAIL_WITH='6.9.2-1'), INTEL_PT)
    image = '/usr/lib/modules/6.8.0-1/vmlinuz'
    assert caught.value.message == (
        '%s/kernel-install add 6.9.2-1 /usr/lib/modules/6.9.2-1/vmlinuz failed with exit code 3: kernel-install: '
        'simulated failure; the boot configuration was not regenerated, so %s was put back as it was before the '
        'change (from the backup) and %s/kernel-install add 6.8.0-1 %s ran again with it: nothing changed; fix the '
        'cause and run again' % (tools.bin, files.real('/etc/kernel/cmdline'), tools.bin, image))
    assert read(root, '/etc/kernel/cmdline') == 'root=UUID=1234 rw quiet\n' and not files.exists(PENDING)
    assert [call[2] for call in tools.calls()] == ['6.8.0-1', '6.9.2-1', '6.8.0-1']
    tools.clear()
    outcome = ensure_cmdline(files, tools.commands(), INTEL_PT)  # the next run does it all again
    assert outcome.changed and outcome.diff and len(tools.calls()) == 2 and not files.exists(PENDING)


def test_the_backup_of_before_the_first_unfinished_change_is_the_one_restored(debian):
    files, tools = debian
    with pytest.raises(Died):
        ensure_cmdline(files, die_on(tools.commands(), 'update-grub'), INTEL_PT)
    with pytest.raises(HostdevError, match='was put back as it was before the change'):
        ensure_cmdline(files, tools.commands(FAKE_FAIL='update-grub'), ABSENT)
    assert read(files.root, '/etc/default/grub') == DEBIAN_GRUB and not files.exists(PENDING)


def test_a_file_changed_by_hand_meanwhile_is_not_put_back(debian):
    files, tools = debian
    with pytest.raises(Died):
        ensure_cmdline(files, die_on(tools.commands(), 'update-grub'), INTEL_PT)
    by_hand = read(files.root, '/etc/default/grub').replace('GRUB_TIMEOUT=5', 'GRUB_TIMEOUT=9')
    write(files.root, '/etc/default/grub', by_hand)
    with pytest.raises(HostdevError) as caught:
        ensure_cmdline(files, tools.commands(FAKE_FAIL='update-grub'), INTEL_PT)
    assert caught.value.message.endswith(
        '; the boot configuration was not regenerated; %s changed since it was written, so it was left as it is: the '
        'backups stay in %s, and the next run regenerates again' % (files.real('/etc/default/grub'), files.real(PENDING)))
    assert read(files.root, '/etc/default/grub') == by_hand and files.exists(PENDING)


def test_an_unreadable_pending_marker_is_a_clear_error(debian):
    files, tools = debian
    write(files.root, PENDING, '{not json')
    with pytest.raises(HostdevError, match='^cannot read %s \\(' % files.real(PENDING)):
        ensure_cmdline(files, tools.commands(), INTEL_PT, check_mode=True)


# -- grubby: no entry left half-edited ------------------------------------------------------

def test_rhel_grubby_failing_on_the_second_entry_puts_the_first_back(rhel):
    """The first entry stayed edited, and the message did not say so."""
    files, tools = rhel
    before = grubby_state(files)
    with pytest.raises(HostdevError) as caught:
        ensure_cmdline(files, tools.commands(FAKE_GRUBBY_FAIL_UPDATE='2'), AMD_PT)
    grubby = tools.bin + '/grubby'
    assert caught.value.message == (
        '%s --update-kernel=/boot/vmlinuz-5.14.0-362.el9.x86_64 --args=iommu=pt --remove-args=iommu=off failed with '
        'exit code 3: grubby: simulated failure of update 2; before it, %s --update-kernel=/boot/vmlinuz-5.14.0-427.'
        'el9.x86_64 --args=iommu=pt succeeded; the entry grubby changed (/boot/vmlinuz-5.14.0-427.el9.x86_64) was put '
        'back as it was' % (grubby, grubby))
    assert grubby_state(files) == before
