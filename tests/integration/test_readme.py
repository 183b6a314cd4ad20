"""README.md states what is true: its first playbook runs as written (on the sample workstation), the
managed host's packages are bindep.txt's, and the developer's two commands and `make test`'s phases are
the Makefile's. Users come first: installing and the first playbook precede the developer's section."""

import json
import os
import re

import yaml
from bindep.depends import Depends

from fixtures.sample_host import TEST_URI
from support import REPO_ROOT, run_playbook


def readme():
    with open(os.path.join(REPO_ROOT, 'README.md'), encoding='utf-8') as handle:
        return handle.read()


def section(text, heading):
    """The text of a '## ' section, up to the next '## ' heading."""
    start = text.index('\n## %s\n' % heading)
    end = text.find('\n## ', start + 1)
    return text[start:] if end < 0 else text[start:end]


def code_blocks(text, language):
    return re.findall(r'^```%s\n(.*?)^```$' % re.escape(language), text, re.M | re.S)


def test_users_first_then_the_developers_two_commands():
    text = readme()
    headings = re.findall(r'^## (.*)$', text, re.M)
    assert headings[:2] == ['Install', 'First playbook'], headings
    assert headings.index('Develop: two commands') > headings.index('Content')
    commands = code_blocks(section(text, 'Develop: two commands'), 'sh')[0].splitlines()
    assert commands == [
        "make demo    # gather the bundled sample workstation's facts and print a summary",
        'make test    # unit, integration (real libvirtd, ansible-lint), sanity, compat, types, docs, both labs',
    ]
    # a user installs with ansible-galaxy and the host's package manager, not with the Makefile
    install = ''.join(code_blocks(section(text, 'Install'), 'sh'))
    assert 'ansible-galaxy collection install' in install and not re.search(r'^make ', install, re.M)


def test_make_test_phases_are_the_readmes():
    with open(os.path.join(REPO_ROOT, 'Makefile'), encoding='utf-8') as handle:
        phases = re.search(r'^TEST_PHASES := (.*)$', handle.read(), re.M).group(1).split()
    listed = re.findall(r'^\d+\. `make ([a-z-]+)`', section(readme(), 'Tests'), re.M)
    assert listed == phases


def test_the_managed_host_packages_are_bindeps_host_profile():
    with open(os.path.join(REPO_ROOT, 'bindep.txt'), encoding='utf-8') as handle:
        bindep = Depends(handle.read())
    commands = code_blocks(section(readme(), 'Install'), 'sh')[1].splitlines()
    stated = dict((line.split()[0], line.split('#')[0].split()[2:]) for line in commands)
    assert stated == {
        'apt-get': [rule[0] for rule in bindep.active_rules(['platform:dpkg', 'host'])],
        'dnf': [rule[0] for rule in bindep.active_rules(['platform:rpm', 'host'])],
    }


def test_the_first_playbook_runs_on_the_sample_workstation(tmp_path, sample_sysfs):
    """The README's playbook as written, its hosts and privileges aside: on localhost, reading the
    sample workstation (libvirt's test driver and its sysfs tree) through the modules' shared options."""
    playbook = yaml.safe_load(code_blocks(section(readme(), 'First playbook'), 'yaml')[0])
    assert playbook[0]['hosts'] == 'hypervisors' and playbook[0]['become'] is True
    playbook[0]['hosts'] = 'all'
    playbook[0]['module_defaults'] = {'group/virt.hostdev.hostdev': {
        'uri': TEST_URI, 'source': 'libvirt', 'sysfs_root': sample_sysfs}}
    path = tmp_path / 'first.yml'
    path.write_text(yaml.safe_dump(playbook), encoding='utf-8')
    result = run_playbook(str(path), extra_vars={'ansible_become': False})
    assert result.returncode == 0, result.stdout + result.stderr
    start = result.stdout.index('TASK [Show the IOMMU state and the devices a guest can take now]')
    shown = json.loads(result.stdout[result.stdout.index('{', start):result.stdout.index('PLAY RECAP')])['msg']
    assert shown == {'iommu': True, 'hint': None, 'gpus': ['pci_0000_00_02_0'], 'nics': []}
