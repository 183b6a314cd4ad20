"""make demo's playbook: the sample host's summary, and any host's, read by Ansible's default callback."""

import json
import os
import shutil

from fixtures.sample_host import build_tree
from support import REPO_ROOT, run_playbook

DEMO = os.path.join(REPO_ROOT, 'playbooks', 'demo.yml')


def summary(result):
    """The summary lines the default callback printed (a JSON list under "msg")."""
    assert result.returncode == 0, result.stdout + result.stderr
    start = result.stdout.index('TASK [Print the summary]')
    text = result.stdout[result.stdout.index('{', start):result.stdout.index('PLAY RECAP')]
    return json.loads(text)['msg']


def test_the_sample_host_summary_shows_blockers_and_the_gpus_affected_set(sample_sysfs):
    lines = summary(run_playbook(DEMO, {'hostdev_demo_sysfs_root': sample_sysfs}))
    assert 'Host read through libvirt: 36 devices.' in lines
    assert 'Eligible by device class (14), of which assignable now, alone (5):' in lines
    sata = [line for line in lines if line.startswith('  pci_0000_00_17_0 ')]
    assert sata and sata[0].endswith('BLOCKED: host_in_use')
    start = next(index for index, line in enumerate(lines) if line.startswith('Passing through pci_0000_01_00_0 '))
    assert [line.split()[0] for line in lines[start + 1:start + 3]] == ['pci_0000_00_01_0', 'pci_0000_01_00_1']


def test_a_host_without_a_gpu_read_without_libvirt(tmp_path):
    """The README's "without libvirt" line on a host that has no display controller."""
    root = build_tree(str(tmp_path / 'host'))
    for entry in os.listdir(os.path.join(root, 'bus', 'pci', 'devices')):
        link = os.path.join(root, 'bus', 'pci', 'devices', entry)
        with open(os.path.join(link, 'class')) as handle:
            if handle.read().startswith('0x03'):
                shutil.rmtree(os.path.realpath(link))
                os.unlink(link)
    lines = summary(run_playbook(DEMO, {'hostdev_demo_source': 'sysfs', 'hostdev_demo_sysfs_root': root}))
    assert 'Host read through sysfs: ' in lines[0]
    assert lines[-1].startswith('The host has no display controller (GPU)')
