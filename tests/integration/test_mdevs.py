"""mdevs through ansible-playbook on the sample host laid out under a private root, with a parent that acts as
the kernel does (support.fake_mdev, a thread watching its create and remove files) and the fake mdevctl on
PATH: check mode and diff, the contract's call, idempotence, a lower count, a refusal, state absent."""

from __future__ import annotations

import json
import os

from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import derived_uuids

from support.fake_host import FakeTools
from support.fake_mdev import install_mdevctl, mdev_host

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks', 'mdevs.yml')


def test_check_mode_diff_change_idempotence_a_lower_count_and_a_refusal(run_playbook, tmp_path):
    root, kernel = mdev_host(tmp_path / 'root')
    tools = FakeTools(tmp_path, root, tools=())
    install_mdevctl(tools.bin)
    out = tmp_path / 'out.json'
    env = tools.env(PATH=tools.bin + os.pathsep + '/usr/bin:/bin', FAKE_SYSFS=os.path.join(root, 'sys'))
    with kernel.watching():
        completed = run_playbook(PLAYBOOK, extra_vars={'mdevs_root': root, 'mdevs_out': str(out)}, env=env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads(out.read_text())
    one, two = derived_uuids('lab-serial', 2)

    planned, made = results['planned'], results['made']
    assert planned['changed'] is True and planned['method'] == made['method'] == 'mdevctl'
    assert planned['actions'] == made['actions'] and planned['diff'] == made['diff']
    assert [(item['action'], item['uuid']) for item in made['actions']] == [
        ('define', one), ('start', one), ('define', two), ('start', two)]
    assert [(item['uuid'], item['parent'], item['active'], item['persistent'], item['autostart'])
            for item in made['mdevs']] == [(one, 'fake_fake0', True, True, True), (two, 'fake_fake0', True, True, True)]

    again = results['again']
    assert again['changed'] is False and again['actions'] == [] and again['commands'] == []
    assert again['mdevs'] == made['mdevs']

    lowered = results['lowered']
    assert [(item['action'], item['uuid']) for item in lowered['actions']] == [('stop', two), ('undefine', two)]
    assert [item['uuid'] for item in lowered['removed']] == [two]

    refused = results['refused']
    assert refused['failed'] is True and [item['code'] for item in refused['problems']] == ['mdev_held']

    removed = results['removed']
    assert [item['uuid'] for item in removed['removed']] == [one] and removed['mdevs'] == []
    assert kernel.mdevs() == {} and kernel.definitions() == {} and kernel.refused == []
    # mdevctl ran for the changes only: never in check mode, for the unchanged run or the refusal
    assert [call[1] for call in tools.calls()] == ['define', 'start', 'define', 'start', 'stop', 'undefine',
                                                   'stop', 'undefine']


def test_the_docs_example_on_a_fake_host(run_playbook, tmp_path):
    """docs/examples/mediated_devices.yml: a preview, two mdevs spread over the host's parents and shown, then none."""
    root, kernel = mdev_host(tmp_path / 'root')
    tools = FakeTools(tmp_path, root, tools=())
    install_mdevctl(tools.bin)
    example = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           'docs', 'examples', 'mediated_devices.yml')
    env = tools.env(PATH=tools.bin + os.pathsep + '/usr/bin:/bin', FAKE_SYSFS=os.path.join(root, 'sys'))
    with kernel.watching():
        completed = run_playbook(example, extra_vars={
            'mdevs_become': False, 'mdevs_type': 'fake-2', 'mdevs_root': root, 'mdevs_source': 'sysfs'}, env=env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    one, two = derived_uuids('desktops', 2)
    assert '%s on fake_fake0, %s on fake_fake0' % (one, two) in completed.stdout  # the only parent of fake-2
    assert 'changed=3' in completed.stdout  # the preview, the change, the removal
    assert kernel.mdevs() == {} and kernel.definitions() == {} and kernel.refused == []
