"""sriov_vfs through ansible-playbook on the sample host laid out under a private root, its PF acting as
the kernel does (support.fake_sriov, a thread watching sriov_numvfs): check mode and diff, the change,
idempotence, a change through 0, and a refusal."""

from __future__ import annotations

import json
import os

from support.fake_host import FakeTools, read
from support.fake_sriov import PF, sriov_host

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks', 'sriov_vfs.yml')
RULES = '/etc/udev/rules.d/70-virt-hostdev-sriov.rules'


def test_check_mode_diff_change_idempotence_and_a_refusal(run_playbook, tmp_path):
    root, kernel = sriov_host(str(tmp_path / 'root'), numvfs=0)
    tools = FakeTools(tmp_path, root, tools=('udevadm',))
    out = tmp_path / 'out.json'
    env = tools.env(PATH=tools.bin + os.pathsep + '/usr/bin:/bin')
    with kernel.watching():
        completed = run_playbook(PLAYBOOK, extra_vars={'sriov_root': root, 'sriov_out': str(out)}, env=env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads(out.read_text())

    planned, made = results['planned'], results['made']
    assert planned['changed'] is True and planned['virtual_functions'] is None
    assert planned['writes'] == made['writes'] == [{'attribute': 'sriov_drivers_autoprobe', 'value': 0},
                                                   {'attribute': 'sriov_numvfs', 'value': 4}]
    assert planned['diff'] == made['diff'] and made['diff'][1]['after_header'] == RULES
    assert made['changed'] is True and (made['before'], made['after']) == (0, 4)
    assert made['virtual_functions'] == ['0000:02:10.0', '0000:02:10.2', '0000:02:10.4', '0000:02:10.6']
    assert 'ATTR{sriov_drivers_autoprobe}="0", ATTR{sriov_numvfs}="4"' in made['diff'][1]['after']

    again = results['again']
    assert again['changed'] is False and again['writes'] == [] and again['commands'] == []

    lowered = results['lowered']
    assert lowered['through_zero'] is True and [write['value'] for write in lowered['writes']] == [0, 2]
    assert lowered['virtual_functions'] == ['0000:02:10.0', '0000:02:10.2'] and len(kernel.vfs(PF)) == 2
    assert read(root, RULES).endswith('ATTR{sriov_drivers_autoprobe}="0", ATTR{sriov_numvfs}="2"\n')

    refused = results['refused']
    assert refused['failed'] is True and [item['code'] for item in refused['problems']] == ['count_above_total']
    assert kernel.refused == []  # the kernel never saw a write it would refuse
    # udevadm ran only after the two changes: never in check mode, for the unchanged run or the refusal
    assert [call for call in tools.calls() if call[1:] == ['control', '--reload']] == [
        ['udevadm', 'control', '--reload']] * 2


def test_the_docs_example_on_a_fake_host(run_playbook, tmp_path):
    """docs/examples/sriov_vfs.yml: four VFs, their addresses shown, two through 0, then none and no rule."""
    root, kernel = sriov_host(str(tmp_path / 'root'), numvfs=0)
    tools = FakeTools(tmp_path, root, tools=('udevadm',))
    example = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           'docs', 'examples', 'sriov_vfs.yml')
    env = tools.env(PATH=tools.bin + os.pathsep + '/usr/bin:/bin')
    with kernel.watching():
        completed = run_playbook(example, extra_vars={
            'sriov_vfs_become': False, 'sriov_vfs_pf': 'enp2s0', 'sriov_vfs_root': root,
            'sriov_vfs_source': 'sysfs'}, env=env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert '0000:02:00.0 has 4 VFs: 0000:02:10.0, 0000:02:10.2, 0000:02:10.4, 0000:02:10.6' in completed.stdout
    assert 'changed=4' in completed.stdout  # the preview, the change, the lowering, the removal
    assert kernel.vfs(PF) == [] and kernel.refused == []
    assert not os.path.exists(os.path.join(root, RULES.lstrip('/')))
