"""vfio_reserve in-process on the sample workstation laid out as a Debian host: refusals with their
codes, check mode, the reservation, absent."""

import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils import host_lock as host_lock_module
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import host_lock
from ansible_collections.virt.hostdev.plugins.modules import vfio_reserve

from fixtures.sample_host import build_tree
from support.fake_host import FakeTools, debian_root
from support.fake_pci_kernel import FakePciKernel
from support.module_run import module_runner


@pytest.fixture()
def host(tmp_path, monkeypatch):
    root = str(tmp_path / 'root')
    build_tree(root)
    debian_root(root)
    return root, FakeTools(tmp_path, root).use_in(monkeypatch)


@pytest.fixture()
def run(monkeypatch):
    return module_runner(monkeypatch, vfio_reserve.main)


def test_refusals_carry_their_codes_and_change_nothing(host, run):
    root, tools = host
    result = run(root=root, source='sysfs', devices=['00:17.0', '0000:01:00.0'])
    assert result['failed'] is True and result['msg'].startswith('2 problems, nothing was changed: (1) ')
    assert sorted(item['code'] for item in result['problems']) == ['group_not_viable', 'host_in_use']
    assert tools.calls() == [] and not os.path.exists(root + '/etc/virt-hostdev')


def test_check_mode_then_reserve_then_release(host, run):
    root, tools = host
    planned = run(root=root, source='sysfs', devices=['01:00.0'], include_group=True, _ansible_check_mode=True)
    assert planned['failed'] is False and planned['changed'] is True and planned['source'] == 'sysfs'
    assert planned['addresses'] == ['0000:01:00.0', '0000:01:00.1'] and planned['reboot_required'] is True
    assert tools.calls() == [] and not os.path.exists(root + '/etc/virt-hostdev')

    reserved = run(root=root, source='sysfs', devices=['01:00.0'], include_group=True)
    assert reserved['changed'] is True and reserved['regenerated'] is True and reserved['diff'] == planned['diff']
    assert os.path.exists(root + '/etc/virt-hostdev/vfio-pci.conf')
    assert run(root=root, source='sysfs', devices=['01:00.0'], include_group=True)['changed'] is False

    released = run(root=root, source='sysfs', state='absent')
    assert released['changed'] is True and released['released'] == ['0000:01:00.0', '0000:01:00.1']
    assert not os.path.exists(root + '/etc/virt-hostdev/vfio-pci.conf')


def test_it_waits_for_the_host_lock_under_its_root_and_gives_up_naming_it(host, run, monkeypatch):
    root, tools = host
    monkeypatch.setattr(host_lock_module, 'DEFAULT_TIMEOUT', 0.3)
    with host_lock(root=root, timeout=0) as held:  # another change of this host, in progress
        result = run(root=root, source='sysfs', devices=['01:00.0'], include_group=True)
    assert held == root + '/run/virt-hostdev/lock'
    assert result['failed'] is True and result['msg'].startswith(
        'another virt.hostdev change on this host held the lock %s for more than 0.3 s' % held)
    assert tools.calls() == [] and not os.path.exists(root + '/etc/virt-hostdev')
    assert run(root=root, source='sysfs', devices=['01:00.0'], include_group=True)['changed'] is True


def test_a_sysfs_root_outside_the_root_is_refused_before_anything_changes(host, run, sample_sysfs):
    root, tools = host
    result = run(root=root, source='sysfs', sysfs_root=sample_sysfs, devices=['01:00.0'], include_group=True)
    assert result['failed'] is True
    assert result['msg'].startswith('sysfs_root %s is not under root %s: the devices would be read' % (sample_sysfs, root))
    assert tools.calls() == [] and not os.path.exists(root + '/etc/virt-hostdev')
    assert not os.path.exists(root + '/run/virt-hostdev')  # refused before the lock was even taken


@pytest.mark.parametrize('command_timeout', [0, -5])
def test_a_command_timeout_that_is_no_limit_is_refused_before_any_change(host, run, command_timeout):
    root, tools = host
    result = run(root=root, source='sysfs', devices=['01:00.0'], include_group=True, command_timeout=command_timeout)
    assert result['failed'] is True
    assert result['msg'] == 'command_timeout must be a number of seconds above 0, not %d' % command_timeout
    assert tools.calls() == [] and not os.path.exists(root + '/etc/virt-hostdev')


def test_a_fifo_where_the_reservation_is_kept_is_refused_also_in_check_mode(host, run):
    root, tools = host
    os.makedirs(root + '/etc/virt-hostdev')
    os.mkfifo(root + '/etc/virt-hostdev/vfio-pci.conf')
    for check_mode in (True, False):
        result = run(root=root, source='sysfs', devices=['01:00.0'], include_group=True, _ansible_check_mode=check_mode)
        assert result['failed'] is True
        assert result['msg'].startswith('refusing %s/etc/virt-hostdev/vfio-pci.conf: it is a FIFO (named pipe)' % root)
    assert tools.calls() == []


@pytest.mark.parametrize('directory', ['/etc/virt-hostdev', '/etc/modules-load.d', '/var/lib'])
def test_a_symlinked_directory_under_the_root_is_refused_and_nothing_written_outside(host, run, tmp_path, directory):
    """etc/virt-hostdev as a link was followed: the files were written outside the root."""
    root, tools = host
    outside = tmp_path / 'outside'
    outside.mkdir()
    link = root + directory
    if os.path.isdir(link):
        os.rename(link, str(outside / 'was'))
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(str(outside), link)
    result = run(root=root, source='sysfs', devices=['01:00.0'], include_group=True)
    assert result['failed'] is True
    assert '%s is a symbolic link (to %s)' % (link, outside) in result['msg']
    assert sorted(os.listdir(str(outside))) in ([], ['was'])


def test_bind_now_moves_the_devices_in_check_mode_only_on_paper(host, run):
    root, tools = host
    kernel = FakePciKernel(root + '/sys')
    with kernel.running():
        planned = run(root=root, source='sysfs', devices=['01:00.0'], include_group=True, bind_now=True,
                      _ansible_check_mode=True)
        assert planned['changed'] is True and planned['reboot_required'] is False and kernel.events == []
        assert [move['to'] for move in planned['moves']] == ['vfio-pci', 'vfio-pci']
        bound = run(root=root, source='sysfs', devices=['01:00.0'], include_group=True, bind_now=True)
        assert bound['changed'] is True and bound['pending'] == [] and bound['diff'] == planned['diff']
        assert [kernel.driver(address) for address in ('0000:01:00.0', '0000:01:00.1')] == ['vfio-pci'] * 2
        again = run(root=root, source='sysfs', devices=['01:00.0'], include_group=True, bind_now=True)
        assert again['changed'] is False and again['moves'] == []
        released = run(root=root, source='sysfs', state='absent', bind_now=True)
    assert released['changed'] is True and [move['driver_after'] for move in released['moves']] == [
        'nvidia', 'snd_hda_intel']


def test_a_vf_slot_is_reserved_before_its_pf_creates_it_and_another_address_is_refused(host, run):
    root, tools = host
    for key, value in (('totalvfs', 7), ('offset', 128), ('stride', 2)):
        with open(root + '/sys/bus/pci/devices/0000:04:00.0/sriov_%s' % key, 'w') as handle:
            handle.write('%d\n' % value)
    refused = run(root=root, source='sysfs', devices=['0000:04:10.1'])
    assert refused['failed'] is True and refused['problems'][0]['code'] == 'unresolved_reference'
    reserved = run(root=root, source='sysfs', devices=['0000:04:10.2'])
    assert reserved['failed'] is False and reserved['addresses'] == ['0000:04:10.2'] and reserved['pending'] == []
    with open(root + '/etc/udev/rules.d/60-virt-hostdev-vfio.rules') as handle:
        assert 'KERNEL=="0000:04:10.2", ATTR{driver_override}="vfio-pci", RUN+="/bin/sh -c ' in handle.read()
