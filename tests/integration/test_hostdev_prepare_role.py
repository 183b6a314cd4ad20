"""The hostdev_prepare role end to end with ansible-playbook, on the sample workstation laid out as a
Debian host (GRUB, initramfs-tools) under a private root, with fake boot tools: the reboot is not
allowed, so the role reports reboot_required; a reboot is then simulated by changing the fake
/proc/cmdline and drivers, and the role verifies. The role's steps that read the facts (a selection,
mappings, the verification) run on full and on compact facts."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import DEVICE_FACTS_MODES

from fixtures.sample_host import build_tree
from support.fake_host import DEBIAN_GRUB, FakeTools, debian_root, read, write
from support.fake_pci_kernel import FakePciKernel

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks', 'prepare_role.yml')
GPU = ['0000:01:00.0']
RESERVATION = '/etc/virt-hostdev/vfio-pci.conf'


@pytest.fixture()
def host(tmp_path):
    root = str(tmp_path / 'root')
    build_tree(root)
    debian_root(root)
    return root, FakeTools(tmp_path, root)


@pytest.fixture()
def role(run_playbook, host, tmp_path):
    """role(check=False, facts='full', tool_env=None, **hostdev_prepare_vars) -> (outcome dict, PlaybookResult).

    facts: the facts the role gathers (hostdev_facts' facts option, through module_defaults).
    tool_env: more environment for the fake tools (FAKE_FAIL, say)."""
    root, tools = host
    counter = [0]

    def run(check=False, facts='full', tool_env=None, **variables):
        counter[0] += 1
        out = tmp_path / ('prepare-%d.json' % counter[0])
        extra = {'hostdev_prepare_root': root, 'hostdev_prepare_source': 'sysfs',
                 'hostdev_prepare_sysfs_root': root + '/sys', 'prepare_out': str(out), 'prepare_facts': facts}
        extra.update(('hostdev_prepare_%s' % key, value) for key, value in variables.items())
        # the fake tools first; the local connection's shell commands need the rest of PATH
        env = tools.env(PATH=tools.bin + os.pathsep + '/usr/bin:/bin', **(tool_env or {}))
        completed = run_playbook(PLAYBOOK, extra_vars=extra, check=check, env=env)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        return json.loads(out.read_text()), completed
    return run


def tool_names(tools):
    return [call[0] for call in tools.calls()]


def reboot(root, outcome):
    """What the reboot does to the fake host: the configured command line, the devices on vfio-pci."""
    write(root, '/proc/cmdline', 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 %s\n' % outcome['result']['cmdline'])
    for address in outcome['result']['addresses']:
        link = os.path.join(root, 'sys', 'bus', 'pci', 'devices', address, 'driver')
        os.unlink(link)
        os.symlink('../../../../bus/pci/drivers/vfio-pci', link)


def test_check_mode_changes_nothing(role, host):
    root, tools = host
    outcome, completed = role(check=True, devices=GPU, include_group=True, iommu_pt=True)
    assert outcome['failed'] is False, outcome
    assert outcome['reboot_required'] is True and outcome['result']['rebooted'] is False
    assert outcome['result']['addresses'] == ['0000:01:00.0', '0000:01:00.1']
    assert outcome['result']['cmdline'].endswith('quiet intel_iommu=on iommu=pt')
    assert 'needs a reboot' in completed.stdout
    assert tools.calls() == [] and read(root, '/etc/default/grub') == DEBIAN_GRUB
    assert not os.path.exists(root + RESERVATION)


# Devices the role's facts list on the sample host: all of them, or the compact summary.
FACTS_DEVICES = {'full': 36, 'compact': 16}


# Before the reboot the role reads no facts for devices given by address (the facts option changes nothing
# there): it prepares once; the verification after the reboot, which reads them, runs on each kind.
def test_prepare_without_reboot_then_verify_after_it(role, host):
    root, tools = host
    outcome, completed = role(devices=GPU, include_group=True, iommu_pt=True)
    assert outcome['failed'] is False, outcome
    result = outcome['result']
    assert result['changed'] is True and outcome['reboot_required'] is True and result['rebooted'] is False
    assert result['pending'] == ['pci_0000_01_00_0', 'pci_0000_01_00_1']
    assert result['bootloader'] == 'grub' and result['initramfs'] == 'initramfs-tools'
    assert tool_names(tools) == ['update-initramfs', 'modprobe', 'update-grub']
    assert 'needs a reboot' in completed.stdout and 'Verify' not in completed.stdout.split('needs a reboot')[1]
    assert outcome['facts_devices'] == 0  # no facts read before the reboot, so none to compare by kind
    assert 'intel_iommu=on iommu=pt' in read(root, '/etc/default/grub')
    assert read(root, RESERVATION).count('# pci_0000_01_00_') == 2

    tools.clear()
    again, _completed = role(devices=GPU, include_group=True, iommu_pt=True)
    assert again['result']['changed'] is False and tools.calls() == []  # nothing regenerated
    assert again['reboot_required'] is True and again['facts_devices'] == 0

    reboot(root, outcome)
    for facts in DEVICE_FACTS_MODES:
        verified, completed = role(devices=GPU, include_group=True, iommu_pt=True, facts=facts)
        assert verified['failed'] is False, (facts, verified)
        assert verified['facts_devices'] == FACTS_DEVICES[facts], facts  # the verification read these facts
        assert verified['reboot_required'] is False and verified['result']['changed'] is False, facts
        assert 'Gather the host\'s IOMMU state and drivers' in completed.stdout and tools.calls() == [], facts


def test_verification_names_what_the_host_lacks(role, host):
    root, _tools = host
    outcome, _completed = role(devices=GPU, include_group=True, iommu_pt=True)
    reboot(root, outcome)
    write(root, '/proc/interrupts', '           CPU0\n  0:         22  IO-APIC    2-edge      timer\n')
    for facts in DEVICE_FACTS_MODES:
        failed, _completed = role(devices=GPU, include_group=True, iommu_pt=True, facts=facts)
        assert failed['failed'] is True and failed['task'] == 'Fail naming what the host lacks', (facts, failed)
        assert 'interrupt remapping is off' in failed['result']['msg'], facts
        passed, _completed = role(devices=GPU, include_group=True, iommu_pt=True, require_interrupt_remapping=False,
                                  facts=facts)
        assert passed['failed'] is False and passed['facts_devices'] == FACTS_DEVICES[facts], (facts, passed)


def test_a_refused_reservation_changes_nothing(role, host):
    root, tools = host
    outcome, _completed = role(devices=['00:17.0', '01:00.0'])
    assert outcome['failed'] is True and outcome['task'] == 'Reserve the devices for vfio-pci at boot and load the VFIO modules'
    assert sorted(item['code'] for item in outcome['result']['problems']) == ['group_not_viable', 'host_in_use']
    assert tools.calls() == [] and read(root, '/etc/default/grub') == DEBIAN_GRUB
    assert not os.path.exists(root + RESERVATION)


def test_absent_undoes_it_all(role, host):
    root, tools = host
    selected, _completed = role(select="[?name=='pci_0000_02_00_0']")
    assert selected['facts_devices'] == FACTS_DEVICES['full'] and selected['result']['changed'] is True
    assert selected['result']['addresses'] == ['0000:02:00.0']
    assert read(root, RESERVATION).count('0000:02:00.0') == 1
    tools.clear()
    # the same selection on compact facts: the same device, so nothing to change
    selected, _completed = role(select="[?name=='pci_0000_02_00_0']", facts='compact')
    assert selected['facts_devices'] == FACTS_DEVICES['compact'] and selected['result']['changed'] is False
    assert selected['result']['addresses'] == ['0000:02:00.0'] and tools.calls() == []
    outcome, _completed = role(state='absent')
    assert outcome['failed'] is False, outcome
    assert outcome['result']['released'] == ['0000:02:00.0'] and outcome['reboot_required'] is False
    assert tool_names(tools) == ['update-initramfs', 'update-grub']
    assert read(root, '/etc/default/grub') == DEBIAN_GRUB.replace('"quiet  intel_iommu=off"', '"quiet"')
    for path in (RESERVATION, '/etc/modules-load.d/virt-hostdev-vfio.conf',
                 '/etc/udev/rules.d/60-virt-hostdev-vfio.rules', '/etc/initramfs-tools/hooks/virt-hostdev-vfio'):
        assert not os.path.exists(root + path), path


def test_devices_with_state_absent_are_refused(role):
    outcome, _completed = role(state='absent', devices=GPU)
    assert outcome['failed'] is True and 'none with hostdev_prepare_state absent' in outcome['result']['msg']


# The GPU and its audio function by a fleet-wide name; the driver stays unchecked before the reboot.
MAPPINGS = {
    'gpu-a4000': {'vendor_id': '10de', 'product_id': '24b0', 'driver': 'vfio-pci',
                  'hosts': {'localhost': {'address': '0000:01:00.0', 'iommu_group': 1}}},
    'gpu-a4000-audio': {'vendor_id': '10de', 'product_id': '228b',
                        'hosts': {'localhost': {'address': '0000:01:00.1', 'iommu_group': 1}}},
}


@pytest.mark.parametrize('facts', DEVICE_FACTS_MODES)
def test_devices_by_mapping_name(role, host, facts):
    root, _tools = host
    outcome, _completed = role(mapping=['gpu-a4000', 'gpu-a4000-audio'], mappings=MAPPINGS, facts=facts)
    assert outcome['failed'] is False, outcome
    assert outcome['facts_devices'] == FACTS_DEVICES[facts]
    assert outcome['result']['addresses'] == ['0000:01:00.0', '0000:01:00.1']
    assert [line.split()[0] for line in read(root, RESERVATION).splitlines() if line and not line.startswith('#')] == [
        '0000:01:00.0', '0000:01:00.1']


@pytest.mark.parametrize('facts', DEVICE_FACTS_MODES)
def test_a_drifted_mapping_is_refused_before_anything_changes(role, host, facts):
    root, tools = host
    moved = dict(MAPPINGS, **{'gpu-a4000': dict(MAPPINGS['gpu-a4000'],
                                                hosts={'localhost': {'address': '0000:01:00.0', 'iommu_group': 7}})})
    outcome, _completed = role(mapping=['gpu-a4000', 'gpu-a4000-audio'], mappings=moved, facts=facts)
    assert outcome['failed'] is True
    assert 'mapping gpu-a4000 on localhost: iommu_group expected 7, found 1' in outcome['result']['msg']
    assert tools.calls() == [] and read(root, '/etc/default/grub') == DEBIAN_GRUB
    assert not os.path.exists(root + RESERVATION)


# -- one plan for the whole role before its first change ---------------------------------------------

def test_a_boot_loader_that_cannot_be_detected_stops_the_role_before_any_change(role, host):
    root, tools = host
    os.unlink(root + '/etc/default/grub')
    outcome, _completed = role(devices=GPU, include_group=True)
    assert outcome['failed'] is True and outcome['task'] == 'Set the IOMMU arguments of the kernel command line'
    assert outcome['result']['msg'].startswith('cannot tell how this host boots')
    assert tools.calls() == [] and not os.path.exists(root + RESERVATION)  # the reservation was planned only


RESERVATION_FILES = ('/etc/virt-hostdev/vfio-pci.conf, /etc/modules-load.d/virt-hostdev-vfio.conf, '
                     '/etc/udev/rules.d/60-virt-hostdev-vfio.rules, /etc/initramfs-tools/hooks/virt-hostdev-vfio, '
                     '/etc/initramfs-tools/scripts/init-top/00-virt-hostdev-vfio')
# A GRUB configuration generated before: its first entry lacks the IOMMU arguments.
GRUB_CFG = "menuentry 'Debian GNU/Linux' {\n\tlinux /boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 ro quiet\n}\n"


@pytest.mark.parametrize('then', ['present', 'absent'])
def test_a_step_failing_after_a_change_names_the_change_and_the_next_run_completes_or_undoes_it(role, host, then):
    root, tools = host
    write(root, '/boot/grub/grub.cfg', GRUB_CFG)
    failed, _completed = role(devices=GPU, include_group=True, tool_env={'FAKE_FAIL': 'update-grub'})
    assert failed['failed'] is True and failed['task'] == 'Fail naming what was changed before the failure'
    assert failed['result']['msg'] == (
        'localhost: Set the IOMMU arguments of the kernel command line failed: %s/update-grub failed with exit '
        'code 3: update-grub: simulated failure; the boot configuration was not regenerated, so %s/etc/default/grub '
        'was put back as it was before the change (from the backup): nothing changed; fix the cause and run again. '
        'Changed before that failure, by virt.hostdev.vfio_reserve: the '
        'files %s; the commands %s/update-initramfs -u -k all, %s/modprobe -a vfio vfio_pci. Run the role again '
        'to complete the preparation, or with hostdev_prepare_state absent to undo it.'
        % (tools.bin, root, RESERVATION_FILES, tools.bin, tools.bin))
    assert tool_names(tools) == ['update-initramfs', 'modprobe', 'update-grub']
    tools.clear()
    outcome, _completed = role(**(dict(devices=GPU, include_group=True) if then == 'present' else dict(state='absent')))
    assert outcome['failed'] is False, outcome
    if then == 'present':  # completed: the boot configuration is regenerated, the reservation stays
        assert tool_names(tools) == ['update-grub'] and outcome['result']['vfio']['changed'] is False
        assert 'intel_iommu=on' in read(root, '/etc/default/grub') and os.path.exists(root + RESERVATION)
    else:  # undone: the reservation is gone, with the initramfs regenerated without it; the failed run had
        # put /etc/default/grub back already, so there is no boot configuration to regenerate
        assert tool_names(tools) == ['update-initramfs']
        assert not os.path.exists(root + RESERVATION) and read(root, '/etc/default/grub') == DEBIAN_GRUB


def test_a_failing_first_step_says_nothing_was_changed_before_it(role, host):
    root, tools = host
    failed, _completed = role(devices=GPU, include_group=True, tool_env={'FAKE_FAIL': 'update-initramfs'})
    assert failed['failed'] is True and failed['task'] == 'Fail naming what was changed before the failure'
    assert failed['result']['msg'].startswith(
        'localhost: Reserve the devices for vfio-pci at boot and load the VFIO modules failed: '
        '%s/update-initramfs -u -k all failed with exit code 3' % tools.bin)
    assert 'Nothing was changed before that failure. Run the role again' in failed['result']['msg']
    assert tool_names(tools) == ['update-initramfs'] and read(root, '/etc/default/grub') == DEBIAN_GRUB


# -- one machine per run -------------------------------------------------------------------------------

def test_the_selection_reads_the_tree_under_the_root(role, host):
    """No hostdev_prepare_sysfs_root: the facts of the selection come from the root's sys, as the
    reservation's validation does, not from this machine's /sys (which has no NVIDIA A4000)."""
    root, _tools = host
    outcome, _completed = role(select="[?pci.vendor_id=='0x10de']", sysfs_root='')
    assert outcome['failed'] is False, outcome
    assert outcome['facts_devices'] == FACTS_DEVICES['full']
    assert outcome['result']['addresses'] == ['0000:01:00.0', '0000:01:00.1']


def test_a_sysfs_root_outside_the_root_is_refused_before_any_change(role, host, sample_sysfs):
    root, tools = host
    outcome, _completed = role(devices=GPU, include_group=True, sysfs_root=sample_sysfs)
    assert outcome['failed'] is True and outcome['task'] == 'Reserve the devices for vfio-pci at boot and load the VFIO modules'
    assert outcome['result']['msg'].startswith('sysfs_root %s is not under root %s' % (sample_sysfs, root))
    assert tools.calls() == [] and not os.path.exists(root + RESERVATION)


def test_bind_now_needs_no_reboot_when_the_command_line_is_right_and_absent_moves_them_back(role, host):
    """vfio_reserve's bind_now through ansible-playbook, with a fake kernel moving the driver links of the
    fake sysfs while the playbook runs: the plan (check mode) refuses a NIC in use before anything changes;
    the GPU moves to vfio-pci at once, no reboot, the verification runs; absent moves it back."""
    root, tools = host
    first, _completed = role(devices=GPU, include_group=True)
    write(root, '/proc/cmdline', 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 %s\n' % first['result']['cmdline'])
    kernel = FakePciKernel(root + '/sys')
    write(root + '/sys', 'class/net/enp4s0/flags', '0x1003\n')  # up, with a route in proc/net/route
    with kernel.running():
        refused, _completed = role(devices=GPU + ['0000:04:00.0'], include_group=True, bind_now=True)
        assert refused['failed'] is True and refused['task'] == 'Reserve the devices for vfio-pci at boot and ' \
            'load the VFIO modules'
        assert [item['code'] for item in refused['result']['problems']] == ['host_in_use']
        assert kernel.events == [] and read(root, RESERVATION).count('# pci_0000_01_00_') == 2

        tools.clear()
        outcome, completed = role(devices=GPU, include_group=True, bind_now=True)
        assert outcome['failed'] is False, outcome
        result = outcome['result']
        assert result['changed'] is True and outcome['reboot_required'] is False and result['pending'] == []
        assert [(move['address'], move['driver_after']) for move in result['vfio']['moves']] == [
            ('0000:01:00.0', 'vfio-pci'), ('0000:01:00.1', 'vfio-pci')]
        assert [kernel.driver(address) for address in ('0000:01:00.0', '0000:01:00.1')] == ['vfio-pci'] * 2
        assert 'Gather the host\'s IOMMU state and drivers' in completed.stdout  # verified without a reboot
        assert 'needs a reboot' not in completed.stdout

        again, _completed = role(devices=GPU, include_group=True, bind_now=True)
        assert again['result']['changed'] is False and again['result']['vfio']['moves'] == []

        back, _completed = role(state='absent', bind_now=True)
        assert back['failed'] is False, back
        assert [(move['address'], move['driver_after']) for move in back['result']['vfio']['moves']] == [
            ('0000:01:00.0', 'nvidia'), ('0000:01:00.1', 'snd_hda_intel')]
    assert [kernel.driver(address) for address in ('0000:01:00.0', '0000:01:00.1')] == ['nvidia', 'snd_hda_intel']
    assert kernel.override('0000:01:00.0') is None
