"""Careful file changes (no symbolic link followed, atomic, mode kept) and bounded commands."""

import os
import stat

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
    with pytest.raises(HostdevError, match='did not finish within 1 s'):
        commands.run([commands.find('tool')], 1)
