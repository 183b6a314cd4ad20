"""kernel_cmdline in-process on a fake Debian host: check mode, diff, idempotence, options."""

import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils import host_lock as host_lock_module
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import host_lock
from ansible_collections.virt.hostdev.plugins.modules import kernel_cmdline

from support.fake_host import DEBIAN_GRUB, FakeTools, debian_root, read, write
from support.module_run import module_runner


@pytest.fixture()
def host(tmp_path, monkeypatch):
    root = debian_root(tmp_path / 'root')
    return root, FakeTools(tmp_path, root).use_in(monkeypatch)


@pytest.fixture()
def run(monkeypatch):
    return module_runner(monkeypatch, kernel_cmdline.main)


def test_check_mode_then_apply_then_no_change(host, run):
    root, tools = host
    planned = run(root=root, passthrough_mode=True, _ansible_check_mode=True, _ansible_diff=True)
    assert planned['failed'] is False and planned['changed'] is True and planned['reboot_required'] is True
    assert planned['vendor'] == 'intel' and planned['bootloader'] == 'grub'
    assert planned['added'] == ['intel_iommu=on', 'iommu=pt'] and planned['removed'] == ['intel_iommu=off']
    assert planned['diff'][0]['before'] == DEBIAN_GRUB and tools.calls() == []
    assert read(root, '/etc/default/grub') == DEBIAN_GRUB

    applied = run(root=root, passthrough_mode=True)
    assert applied['changed'] is True and [call[0] for call in tools.calls()] == ['update-grub']
    assert applied['diff'] == planned['diff'] and applied['cmdline'] == planned['cmdline']
    assert applied['running_cmdline'].endswith('quiet intel_iommu=off')

    again = run(root=root, passthrough_mode=True)
    assert again['changed'] is False and again['commands'] == [] and len(tools.calls()) == 1

    removed = run(root=root, state='absent')
    assert removed['changed'] is True and removed['removed'] == ['intel_iommu=on', 'iommu=pt']
    assert removed['reboot_required'] is False


def test_unknown_cpu_vendor_adds_no_vendor_argument(host, run):
    root, _tools = host
    with open(root + '/proc/cpuinfo', 'w') as handle:
        handle.write('processor\t: 0\nCPU implementer\t: 0x41\n')
    result = run(root=root, passthrough_mode=True, _ansible_check_mode=True)
    assert result['vendor'] is None and result['added'] == ['iommu=pt'] and result['removed'] == ['intel_iommu=off']
    assert 'neither Intel nor AMD' in result['warnings'][0]
    # AMD's IOMMU has no on option: only what turns it off goes, and iommu=pt comes when asked
    assert run(root=root, vendor='amd', _ansible_check_mode=True)['added'] == []
    assert run(root=root, vendor='amd', passthrough_mode=True, _ansible_check_mode=True)['added'] == ['iommu=pt']


def test_bad_options_and_hosts(host, run, tmp_path):
    root, _tools = host
    assert 'bootloader' in run(root=root, bootloader='lilo')['msg']
    result = run(root=str(tmp_path / 'empty'))
    assert result['failed'] is True and result['msg'].startswith('cannot tell how this host boots')


@pytest.mark.parametrize('tables, cpu, vendor, added', [
    # a virtual Intel IOMMU under QEMU TCG, whose default CPU says AuthenticAMD (the Debian lab host)
    (['APIC', 'DMAR', 'FACP', 'MCFG'], 'AuthenticAMD', 'intel', ['intel_iommu=on']),
    # AMD's IOMMU needs no argument (amd_iommu=on is not one of its options)
    (['APIC', 'IVRS'], 'GenuineIntel', 'amd', []),
    # no table names one vendor's IOMMU (none, or both): the CPU decides
    (['APIC', 'FACP'], 'AuthenticAMD', 'amd', []),
    (['DMAR', 'IVRS'], 'GenuineIntel', 'intel', ['intel_iommu=on']),
])
def test_vendor_from_the_firmware_iommu_table_before_the_cpu(host, run, tables, cpu, vendor, added):
    root, _tools = host
    with open(root + '/proc/cpuinfo', 'w') as handle:
        handle.write('processor\t: 0\nvendor_id\t: %s\n' % cpu)
    for name in tables:
        write(root, '/sys/firmware/acpi/tables/' + name, 'table')
    result = run(root=root, _ansible_check_mode=True)
    assert result['vendor'] == vendor
    assert result['added'] == added and result['removed'] == ['intel_iommu=off']


@pytest.mark.parametrize('command_timeout', [0, -5])
def test_a_command_timeout_that_is_no_limit_is_refused_before_any_change(host, run, command_timeout):
    """-5 was rejected only after the files were rewritten; 0 meant no limit at all."""
    root, tools = host
    result = run(root=root, passthrough_mode=True, command_timeout=command_timeout)
    assert result['failed'] is True
    assert result['msg'] == 'command_timeout must be a number of seconds above 0, not %d' % command_timeout
    assert read(root, '/etc/default/grub') == DEBIAN_GRUB and tools.calls() == []


def test_a_missing_cpuinfo_is_named_as_missing(host, run):
    """A missing /proc/cpuinfo read as "neither Intel nor AMD"."""
    root, _tools = host
    os.unlink(root + '/proc/cpuinfo')
    result = run(root=root, _ansible_check_mode=True)
    assert result['vendor'] is None and result['added'] == []
    assert result['warnings'] == [
        'the IOMMU vendor is not known: /sys/firmware/acpi/tables is missing; /sys/class/iommu is missing; '
        '/proc/cpuinfo is missing; no vendor IOMMU argument is added (set vendor to add one)']


def test_the_running_iommu_units_tell_the_vendor_without_tables(host, run):
    root, _tools = host
    with open(root + '/proc/cpuinfo', 'w') as handle:
        handle.write('processor\t: 0\nvendor_id\t: GenuineIntel\n')
    os.makedirs(root + '/sys/class/iommu/ivhd0')
    result = run(root=root, passthrough_mode=True, _ansible_check_mode=True)
    assert result['vendor'] == 'amd' and result['added'] == ['iommu=pt'] and result['warnings'] == []


def test_it_waits_for_the_host_lock_under_its_root_and_gives_up_naming_it(host, run, monkeypatch):
    root, tools = host
    monkeypatch.setattr(host_lock_module, 'DEFAULT_TIMEOUT', 0.3)
    with host_lock(root=root, timeout=0) as held:  # another change of this host, in progress
        result = run(root=root)
    assert held == root + '/run/virt-hostdev/lock'
    assert result['failed'] is True and result['msg'].startswith(
        'another virt.hostdev change on this host held the lock %s for more than 0.3 s' % held)
    assert tools.calls() == [] and read(root, '/etc/default/grub') == DEBIAN_GRUB
    assert run(root=root)['changed'] is True
