"""A user's collection: `ansible-galaxy collection build` of a clean checkout holds the collection and its docs
and nothing of a developer's checkout (galaxy.yml's build_ignore); installed from the tarball into an empty
collections path with `ansible-galaxy collection install`, its docs lint cleanly (antsibull-docs), ansible-doc
shows them, and a module runs from there."""

import json
import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

from support import REPO_ROOT

BIN = os.path.dirname(sys.executable)
# What the tarball has at its top: the collection, its docs and examples, what ansible-builder reads.
TOP = {'FILES.json', 'MANIFEST.json', 'README.md', 'bindep.txt', 'changelogs', 'docs', 'meta', 'plugins',
       'requirements.txt', 'roles', 'tests'}


def run(command, **kwargs):
    completed = subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, **kwargs)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


@pytest.fixture(scope='module')
def installed(collection_tarball, tmp_path_factory):
    """(collections path holding only the installed tarball, the collection's directory there, env for it)."""
    path = str(tmp_path_factory.mktemp('installed'))
    # Only the new path: the checkout is on the test session's collections path already.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=path, ANSIBLE_NOCOLOR='1', PATH=BIN + os.pathsep + os.environ['PATH'])
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '-p', path, collection_tarball], env=env)
    return path, os.path.join(path, 'ansible_collections', 'virt', 'hostdev'), env


def test_the_tarball_holds_the_collection_and_its_docs_and_nothing_of_the_checkout(collection_tarball):
    with tarfile.open(collection_tarball) as archive:
        members = set(archive.getnames())
    assert set(name.split('/')[0] for name in members) == TOP
    assert 'plugins/modules/hostdev_facts.py' in members
    assert [name for name in members if re.match(r'plugins/module_utils/.+\.py$', name)]
    with open(os.path.join(REPO_ROOT, 'docs', 'docsite', 'extra-docs.yml'), encoding='utf-8') as handle:
        pages = [entry for section in yaml.safe_load(handle)['sections'] for entry in section['toctree']]
    assert len(pages) >= 11
    assert set('docs/docsite/rst/%s.rst' % page for page in pages) <= members
    assert {'changelogs/changelog.yaml', 'meta/runtime.yml', 'meta/execution-environment.yml',
            'docs/examples/execution-environment.yml', 'docs/examples/ansible-navigator.yml'} <= members
    # Of tests/, ansible-test's configuration alone (the modules' Python floor for `ansible-test sanity`).
    assert sorted(name for name in members if name.startswith('tests')) == ['tests', 'tests/config.yml']


def test_the_installed_collections_docs_lint_cleanly(installed):
    path, collection, env = installed
    output = run([os.path.join(BIN, 'antsibull-docs'), 'lint-collection-docs', '--plugin-docs', '.'],
                 cwd=collection, env=env)
    assert 'error' not in output.lower(), output
    doc = run([os.path.join(BIN, 'ansible-doc'), 'virt.hostdev.hostdev_facts'], env=env)
    assert collection in doc.replace('\n', '')
    for section in ('OPTIONS', 'ATTRIBUTES', 'NOTES', 'EXAMPLES', 'RETURN VALUES', 'affected_by', 'pci_bridge'):
        assert section in doc, section


def test_a_module_runs_from_the_installed_collection(installed, sample_uri, sample_sysfs, tmp_path):
    """hostdev_facts on the sample workstation (its test-driver XML and sysfs tree come from the checkout's
    fixtures: the tarball has no tests/), run ad hoc from a directory outside the checkout."""
    path, collection, env = installed
    args = json.dumps({'uri': sample_uri, 'sysfs_root': sample_sysfs})
    output = run([os.path.join(BIN, 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local', '-vvv',
                  '-e', 'ansible_python_interpreter=' + sys.executable, '-m', 'virt.hostdev.hostdev_facts', '-a', args],
                 cwd=str(tmp_path), env=dict(env, ANSIBLE_LOCALHOST_WARNING='0'))
    used = re.findall(r'^Using module file (\S+)$', output, re.M)
    assert used == [os.path.join(collection, 'plugins', 'modules', 'hostdev_facts.py')], output
    result = json.JSONDecoder().raw_decode(output[output.index('localhost | SUCCESS => ') + 23:])[0]
    facts = result['ansible_facts']['hostdev']
    assert facts['source'] == 'libvirt' and facts['iommu']['enabled'] is True
    assert len(facts['devices']) == 36
    assert 'pci_0000_01_00_0' in [device['name'] for device in facts['devices']]
