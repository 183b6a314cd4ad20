# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report's edge: the controller's pci.ids, Graphviz's dot (real, missing, slow, failing) and the safe,
atomic writes."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.host_files import Commands
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import assignability
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report import FleetReport
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_files import (
    ReportError,
    pci_names,
    render_svg,
    write_files,
)

from fixtures.sample_host import build_tree
from support.report_hosts import HOSTILE_PRODUCT, SAMPLE_IGPU_PRODUCT, rename_product

DOCUMENTS = {'r.html': '<p>page</p>\n', 'r.csv': '"a","b"\r\n', 'r.md': '# r\n'}


@pytest.fixture(scope='module')
def hostile_report(tmp_path_factory):
    root = build_tree(str(tmp_path_factory.mktemp('hostile')))
    rename_product(root, SAMPLE_IGPU_PRODUCT, HOSTILE_PRODUCT)
    model, used, _warnings = read_host('sysfs', 'qemu:///system', root)
    return FleetReport({'ws-a': model.facts(used, assignability(model))})


def commands():
    """A Commands as an AnsibleModule's: dot found on PATH, timeout(1) in /usr/bin, data on stdin."""
    def run_command(argv, data=None, binary_data=False):
        completed = subprocess.run(argv, input=data, capture_output=True, text=True, check=False)
        return completed.returncode, completed.stdout, completed.stderr

    def get_bin_path(name):
        return shutil.which(name, path='/usr/bin:/bin') if name == 'timeout' else shutil.which(name)
    return Commands(run_command, get_bin_path)


def fake_dot(tmp_path, monkeypatch, script):
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    dot = bindir / 'dot'
    dot.write_text('#!/bin/sh\n' + script + '\n')
    dot.chmod(0o755)
    monkeypatch.setenv('PATH', str(bindir))


# -- dot -----------------------------------------------------------------------------------

def test_dot_draws_a_cluster_per_group_and_escapes_text(hostile_report):
    svg = render_svg(commands(), hostile_report.dot('ws-a', 'h1'), 60)
    assert len(re.findall(r'<g id="h1_group_\d+" class="cluster">', svg)) == 10
    assert len(re.findall(r'<g id="h1_pci_[0-9a-f_]+" class="node">', svg)) == 16
    assert '<script' not in svg and '&lt;script&gt;window.hostdevPwned' in svg


def test_missing_dot_names_the_graphviz_package(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(ReportError, match=r"dot command is not on the controller's PATH: install the graphviz package"):
        render_svg(commands(), 'digraph { a }', 10)


def test_a_slow_dot_is_stopped(tmp_path, monkeypatch):
    fake_dot(tmp_path, monkeypatch, 'exec /bin/sleep 30')
    started = time.monotonic()
    with pytest.raises(ReportError, match='did not finish drawing the topology of ws-a within 1 seconds'):
        render_svg(commands(), 'digraph { a }', 1, 'the topology of ws-a')
    assert time.monotonic() - started < 10


def test_a_failing_dot_says_why(tmp_path, monkeypatch):
    fake_dot(tmp_path, monkeypatch, 'echo "Error: syntax error in line 1" >&2; exit 1')
    with pytest.raises(ReportError, match='dot -Tsvg failed drawing the picture .exit code 1.: Error: syntax error'):
        render_svg(commands(), 'digraph {', 10)


# -- writing ---------------------------------------------------------------------------------

def contents(directory):
    return dict((name, (directory / name).read_bytes()) for name in sorted(os.listdir(str(directory))))


def test_writes_into_a_new_directory_then_changes_nothing(tmp_path):
    dest = tmp_path / 'reports' / 'fleet'
    changed, files, diffs = write_files(str(dest), DOCUMENTS)
    assert changed is True and diffs == []
    assert files == [{'path': str(dest / name), 'changed': True} for name in ('r.csv', 'r.html', 'r.md')]
    assert contents(dest) == dict((name, text.encode()) for name, text in sorted(DOCUMENTS.items()))
    assert stat.S_IMODE((dest / 'r.html').stat().st_mode) == 0o666 & ~current_umask()
    inode = (dest / 'r.html').stat().st_ino
    changed, files, _diffs = write_files(str(dest), DOCUMENTS)
    assert changed is False and not any(entry['changed'] for entry in files)
    assert (dest / 'r.html').stat().st_ino == inode  # not even rewritten


def current_umask():
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def test_only_the_file_that_differs_is_replaced_keeping_its_mode(tmp_path):
    write_files(str(tmp_path), DOCUMENTS)
    (tmp_path / 'r.md').chmod(0o600)
    inode = (tmp_path / 'r.csv').stat().st_ino
    changed, files, diffs = write_files(str(tmp_path), dict(DOCUMENTS, **{'r.md': '# new\n'}), diff=True)
    assert changed is True
    assert [entry['changed'] for entry in files] == [False, False, True]
    assert diffs == [{'before_header': str(tmp_path / 'r.md'), 'after_header': str(tmp_path / 'r.md'),
                      'before': '# r\n', 'after': '# new\n'}]
    assert (tmp_path / 'r.md').read_text() == '# new\n'
    assert stat.S_IMODE((tmp_path / 'r.md').stat().st_mode) == 0o600
    assert (tmp_path / 'r.csv').stat().st_ino == inode
    assert sorted(os.listdir(str(tmp_path))) == ['r.csv', 'r.html', 'r.md']  # no temporary file left


def test_check_mode_writes_nothing_and_tells_the_same(tmp_path):
    dest = tmp_path / 'fleet'
    changed, files, diffs = write_files(str(dest), DOCUMENTS, check_mode=True, diff=True)
    assert changed is True and all(entry['changed'] for entry in files)
    assert not dest.exists()
    assert [entry['before_header'] for entry in diffs] == ['%s (absent)' % (dest / name)
                                                           for name in ('r.csv', 'r.html', 'r.md')]
    assert [entry['after'] for entry in diffs] == [DOCUMENTS['r.csv'], DOCUMENTS['r.html'], DOCUMENTS['r.md']]
    write_files(str(dest), DOCUMENTS)
    assert write_files(str(dest), DOCUMENTS, check_mode=True)[0] is False
    assert write_files(str(dest), dict(DOCUMENTS, **{'r.csv': 'x'}), check_mode=True)[0] is True
    assert (dest / 'r.csv').read_bytes() == DOCUMENTS['r.csv'].encode()


def test_a_planted_symlink_is_never_followed(tmp_path):
    dest = tmp_path / 'fleet'
    dest.mkdir()
    victim = tmp_path / 'victim'
    victim.write_text('keep me\n')
    (dest / 'r.md').symlink_to(victim)
    for check_mode in (False, True):
        with pytest.raises(ReportError, match=r'r\.md is a symbolic link: refusing to write the report through it'):
            write_files(str(dest), DOCUMENTS, check_mode=check_mode)
    assert victim.read_text() == 'keep me\n'
    assert os.listdir(str(dest)) == ['r.md']  # nothing else was written either


def test_a_dangling_symlink_is_refused_too(tmp_path):
    (tmp_path / 'r.html').symlink_to(tmp_path / 'nowhere')
    with pytest.raises(ReportError, match='symbolic link'):
        write_files(str(tmp_path), DOCUMENTS)
    assert not (tmp_path / 'nowhere').exists()


@pytest.mark.parametrize('plant', ['directory', 'fifo'])
def test_something_else_at_a_target_name_is_refused(tmp_path, plant):
    target = tmp_path / 'r.csv'
    if plant == 'directory':
        target.mkdir()
    else:
        os.mkfifo(str(target))  # opening it must not wait for a writer
    with pytest.raises(ReportError, match=r'r\.csv is not a regular file: refusing to replace it'):
        write_files(str(tmp_path), DOCUMENTS)


def test_dest_that_is_a_file_is_refused(tmp_path):
    (tmp_path / 'fleet').write_text('')
    with pytest.raises(ReportError, match='dest .*fleet exists and is not a directory'):
        write_files(str(tmp_path / 'fleet'), DOCUMENTS)


def test_a_dest_below_a_file_fails_with_a_message(tmp_path):
    (tmp_path / 'file').write_text('')
    with pytest.raises(ReportError, match=r'cannot read .*/file/fleet/r\.csv: Not a directory'):
        write_files(str(tmp_path / 'file' / 'fleet'), DOCUMENTS)


def test_a_dest_that_cannot_be_made_fails_with_a_message():
    # procfs refuses new directories, to root too
    with pytest.raises(ReportError, match='cannot write the report into /proc/virt-hostdev-report: No such file'):
        write_files('/proc/virt-hostdev-report', DOCUMENTS)


# -- names from the controller's pci.ids -------------------------------------------------------

def test_pci_names_from_a_pci_ids_file(sample_sysfs):
    path = os.path.join(os.path.dirname(sample_sysfs), 'usr', 'share', 'misc', 'pci.ids')
    found = pci_names({('10de', '24b0'), ('8086', '4680'), ('8086', 'ffff'), ('abcd', '0001')}, path)
    assert found == {('10de', '24b0'): ('NVIDIA Corporation', 'GA104GL [RTX A4000]'),
                     ('8086', '4680'): ('Intel Corporation', 'AlderLake-S GT1'),
                     ('8086', 'ffff'): ('Intel Corporation', None)}  # a vendor without the product
    assert pci_names(set(), path) == {}


def test_pci_names_from_the_usual_places():
    """This machine's pci.ids (Debian's pci.ids package, in bindep.txt) names NVIDIA's vendor id."""
    assert pci_names({('10de', '24b0')})[('10de', '24b0')][0].startswith('NVIDIA')


def test_a_pci_ids_path_that_is_no_file_is_an_error(tmp_path):
    with pytest.raises(ReportError, match=r'^pci_ids %s is not a readable file' % re.escape(str(tmp_path))):
        pci_names({('10de', '24b0')}, str(tmp_path))
