"""Careful file changes (no symbolic link followed, atomic, mode kept) and bounded commands."""

import os
import signal
import socket
import stat
import time

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import Commands, FileChange, HostFiles, diffs

from support.fake_host import read, write


def test_read_missing_and_present(tmp_path):
    files = HostFiles(str(tmp_path))
    assert files.read('/etc/none') is None
    write(tmp_path, '/etc/x', 'text\n')
    assert files.read('/etc/x') == 'text\n'
    assert files.real('/etc/x') == str(tmp_path / 'etc' / 'x')


def test_planned_change_diff_and_apply_keeps_mode(tmp_path):
    files = HostFiles(str(tmp_path))
    write(tmp_path, '/etc/default/grub', 'old\n', mode=0o600)
    change = files.plan('/etc/default/grub', 'new\n')
    assert change.changed and diffs([change]) == [{
        'before_header': '/etc/default/grub', 'after_header': '/etc/default/grub', 'before': 'old\n', 'after': 'new\n'}]
    files.apply(change)
    assert read(tmp_path, '/etc/default/grub') == 'new\n'
    assert stat.S_IMODE(os.stat(files.real('/etc/default/grub')).st_mode) == 0o600
    assert [name for name in os.listdir(str(tmp_path / 'etc' / 'default')) if name.startswith('.')] == []


def test_new_file_gets_its_mode_and_directories(tmp_path):
    files = HostFiles(str(tmp_path))
    change = files.plan('/etc/initramfs-tools/hooks/x', '#!/bin/sh\n', mode=0o755)
    assert change.before is None and change.diff()['before_header'] == '/etc/initramfs-tools/hooks/x (absent)'
    files.apply(change)
    assert stat.S_IMODE(os.stat(files.real('/etc/initramfs-tools/hooks/x')).st_mode) == 0o755
    files.apply(files.plan('/etc/initramfs-tools/hooks/x', None))
    assert not os.path.exists(files.real('/etc/initramfs-tools/hooks/x'))
    files.apply(files.plan('/etc/initramfs-tools/hooks/x', None))  # absent stays absent


def test_planted_symlink_is_never_followed(tmp_path):
    files = HostFiles(str(tmp_path / 'root'))
    secret = write(tmp_path, '/secret', 'do not read\n')
    link = files.real('/etc/modules-load.d/x.conf')
    os.makedirs(os.path.dirname(link))
    os.symlink(secret, link)
    with pytest.raises(HostdevError, match='it is a symbolic link'):
        files.read('/etc/modules-load.d/x.conf')
    # a link planted between the plan and the change: neither written through nor removed
    for after in ('x\n', None):
        with pytest.raises(HostdevError, match='symbolic link'):
            files.apply(FileChange('/etc/modules-load.d/x.conf', 'planned\n', after))
    assert read(tmp_path, '/secret') == 'do not read\n' and os.path.islink(link)


def test_directory_where_a_file_is_expected_is_refused(tmp_path):
    files = HostFiles(str(tmp_path))
    os.makedirs(files.real('/etc/kernel/cmdline'))
    with pytest.raises(HostdevError, match='cannot read|not a regular file'):
        files.read('/etc/kernel/cmdline')


def _commands(tmp_path, script):
    tool = write(tmp_path, '/bin/tool', '#!/bin/sh\n' + script, mode=0o755)
    import subprocess

    def run_command(argv):
        completed = subprocess.run(argv, capture_output=True, text=True, check=False)
        return completed.returncode, completed.stdout, completed.stderr

    def get_bin_path(name):
        return {'tool': tool, 'timeout': '/usr/bin/timeout'}.get(name)
    return Commands(run_command, get_bin_path)


def test_command_output_and_failure(tmp_path):
    commands = _commands(tmp_path, 'echo out; echo "line 1" >&2; echo "why" >&2; exit ${1:-0}\n')
    tool = commands.find('tool')
    assert commands.run([tool], 10) == 'out\n'
    with pytest.raises(HostdevError, match=r'^%s 4 failed with exit code 4: line 1 / why$' % tool):
        commands.run([tool, '4'], 10)
    assert commands.ran == [[tool], [tool, '4']]


def test_command_that_runs_too_long_is_stopped(tmp_path):
    commands = _commands(tmp_path, 'sleep 30\n')
    with pytest.raises(HostdevError, match='^%s timed out after 1 s: it did not finish within 1 s and was stopped$'
                       % commands.find('tool')):
        commands.run([commands.find('tool')], 1)


# -- no symbolic link in any directory below the root ------------------------------------

def plant_directory_link(tmp_path, root, directory):
    """root/directory becomes a link to a directory outside the root; returns that directory."""
    outside = tmp_path / 'outside'
    outside.mkdir(exist_ok=True)
    link = os.path.join(str(root), directory.lstrip('/'))
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(str(outside), link)
    return outside


@pytest.mark.parametrize('directory, path', [
    ('/etc/default', '/etc/default/grub'),
    ('/etc/virt-hostdev', '/etc/virt-hostdev/vfio-pci.conf'),
    ('/etc', '/etc/virt-hostdev/vfio-pci.conf'),  # a link higher up, above directories still to make
    ('/var/lib', '/var/lib/virt-hostdev/vfio-initramfs.sha256'),
])
def test_a_symlinked_directory_below_the_root_is_refused_for_every_write(tmp_path, directory, path):
    """Such a link was followed: the files were written outside the root."""
    root = tmp_path / 'root'
    root.mkdir()
    files = HostFiles(str(root))
    outside = plant_directory_link(tmp_path, root, directory)
    message = 'refusing %s: %s is a symbolic link (to %s), and virt.hostdev never reads or writes through a ' \
              'linked directory below the root' % (files.real(path), files.real(directory), outside)
    for after in ('new\n', None):
        with pytest.raises(HostdevError) as caught:
            files.apply(FileChange(path, 'planned\n', after))
        assert caught.value.message.startswith(message)
    with pytest.raises(HostdevError) as caught:
        files.read(path)
    assert caught.value.message.startswith(message)
    assert list(os.walk(str(outside))) == [(str(outside), [], [])]  # nothing written through the link


def test_a_file_behind_a_symlinked_directory_is_neither_read_nor_removed(tmp_path):
    root = tmp_path / 'root'
    (root / 'etc').mkdir(parents=True)
    outside = plant_directory_link(tmp_path, root, '/etc/default')
    (outside / 'grub').write_text('outside\n')
    files = HostFiles(str(root))
    with pytest.raises(HostdevError, match='is a symbolic link'):
        files.apply(FileChange('/etc/default/grub', 'outside\n', None))
    assert (outside / 'grub').read_text() == 'outside\n'


def test_missing_directories_are_made_and_a_missing_one_reads_as_absent(tmp_path):
    files = HostFiles(str(tmp_path))
    assert files.read('/var/lib/virt-hostdev/x') is None
    files.apply(FileChange('/var/lib/virt-hostdev/x', None, 'x\n'))
    assert read(tmp_path, '/var/lib/virt-hostdev/x') == 'x\n'
    assert stat.S_IMODE(os.stat(str(tmp_path / 'var' / 'lib' / 'virt-hostdev')).st_mode) & 0o755 == 0o755
    files.apply(FileChange('/no/such/dir/x', 'x\n', None))  # removing what is not there


def test_a_path_that_climbs_out_of_the_root_is_refused(tmp_path):
    files = HostFiles(str(tmp_path / 'root'))
    with pytest.raises(HostdevError, match='not a file path below the root'):
        files.read('/etc/../../secret')


# -- no read that blocks --------------------------------------------------------------------

@pytest.fixture()
def alarm():
    """Fail a test that blocks instead of hanging the run."""
    def expired(_signum, _frame):
        raise AssertionError('blocked for 10 s')
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_fifo_where_a_file_is_expected_is_refused_without_blocking(tmp_path, alarm):
    """Reading a FIFO at /etc/default/grub blocked forever, also in check mode."""
    files = HostFiles(str(tmp_path))
    os.makedirs(files.real('/etc/default'))
    os.mkfifo(files.real('/etc/default/grub'))
    with pytest.raises(HostdevError) as caught:
        files.read('/etc/default/grub')
    assert caught.value.message == (
        'refusing %s: it is a FIFO (named pipe), not a regular file (reading it could block or act on a device): '
        'remove it, or put the file there, and run again' % files.real('/etc/default/grub'))
    with pytest.raises(HostdevError, match='it is a FIFO'):
        files.apply(FileChange('/etc/default/grub', 'planned\n', 'new\n'))
    assert stat.S_ISFIFO(os.lstat(files.real('/etc/default/grub')).st_mode)


def test_a_socket_or_a_device_where_a_file_is_expected_is_refused(tmp_path, alarm):
    files = HostFiles(str(tmp_path))
    os.makedirs(files.real('/etc/kernel'))
    server = socket.socket(socket.AF_UNIX)
    server.bind(files.real('/etc/kernel/cmdline'))
    with pytest.raises(HostdevError, match=r'/etc/kernel/cmdline: it is a socket, not a regular file'):
        files.read('/etc/kernel/cmdline')
    server.close()
    try:
        os.mknod(files.real('/etc/kernel/null'), stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip('making a device needs root')
    with pytest.raises(HostdevError, match=r'/etc/kernel/null: it is a character device, not a regular file'):
        files.read('/etc/kernel/null')


def test_special_entries_of_a_directory_are_refused(tmp_path):
    files = HostFiles(str(tmp_path))
    write(tmp_path, '/etc/grub.d/10_linux', '#!/bin/sh\n', mode=0o755)
    os.symlink('10_linux', files.real('/etc/grub.d/11_link'))
    files.refuse_special_entries('/etc/grub.d')  # files and links are fine
    os.mkfifo(files.real('/etc/grub.d/40_custom'))
    with pytest.raises(HostdevError, match=r'/etc/grub.d/40_custom: it is a FIFO'):
        files.refuse_special_entries('/etc/grub.d')


# -- commands that do not stop --------------------------------------------------------------

def test_a_command_that_ignores_sigterm_is_killed_with_every_process_it_started(tmp_path):
    """It was reported as "failed with exit code -9", and what it started could outlive the task."""
    pids = tmp_path / 'pids'
    commands = _commands(tmp_path, 'trap "" TERM\n'
                                   'sh -c \'trap "" TERM; sleep 60\' &\n'
                                   'echo $$ $! > %s\n'
                                   'sleep 60\n' % pids)
    commands.kill_after = 1
    started = time.monotonic()
    with pytest.raises(HostdevError) as caught:
        commands.run([commands.find('tool')], 1)
    assert time.monotonic() - started < 10
    assert caught.value.message == (
        '%s timed out after 1 s: it did not finish within 1 s and ignored the request to stop, so it was killed '
        '1 s later, with every process it started' % commands.find('tool'))
    deadline = time.monotonic() + 5
    alive = [int(pid) for pid in pids.read_text().split()]
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _running(pid)]
        time.sleep(0.1)
    assert alive == []


def _running(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().split(')')[-1].split()[0] != 'Z'  # a zombie is gone, waiting to be reaped
    except OSError:
        return False


@pytest.mark.parametrize('timeout', [0, -5])
def test_a_time_limit_that_is_no_limit_is_refused(tmp_path, timeout):
    """timeout(1) takes 0 as no limit at all."""
    commands = _commands(tmp_path, 'exit 0\n')
    with pytest.raises(HostdevError, match='the time limit must be a number of seconds above 0, not %d' % timeout):
        commands.run([commands.find('tool')], timeout)
    assert commands.ran == []


def test_a_missing_root_reads_as_empty_and_is_never_written_to(tmp_path):
    files = HostFiles(str(tmp_path / 'no-root'))
    assert files.read('/etc/default/grub') is None
    with pytest.raises(HostdevError, match='the root %s does not exist' % files.root):
        files.apply(FileChange('/etc/default/grub', None, 'x\n'))
    assert not os.path.exists(files.root)
