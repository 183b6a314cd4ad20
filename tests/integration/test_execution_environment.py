"""An execution environment with this collection, built from its tarball: ansible-builder's context for the
documented definition (docs/examples/execution-environment.yml) beside a tarball of the checkout holds the
tarball, its galaxy stage's requirements name that copy, and that stage's install command, run in the
context's _build as the image build runs it, installs the collection from it; the image build's introspection
script then reads what the collection needs (its meta/execution-environment.yml, bindep.txt,
requirements.txt). The image itself is not built: no container engine or registry here
(docs/execution-environment.md)."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from bindep.depends import Depends

from support import REPO_ROOT

BIN = os.path.dirname(sys.executable)
EXAMPLES = os.path.join(REPO_ROOT, 'docs', 'examples')
EXAMPLE = os.path.join(EXAMPLES, 'execution-environment.yml')

# bindep's profiles of the platforms ansible-builder supports (RPM bases) and of Debian.
PLATFORMS = {
    'rpm': ['platform:rpm', 'platform:redhat', 'platform:fedora', 'platform:rhel', 'rpm', 'redhat'],
    'dpkg': ['platform:dpkg', 'platform:debian', 'dpkg', 'debian'],
}
# Nothing of a hypervisor, a test run or a browser goes into an execution environment.
FORBIDDEN = ('qemu', 'libvirt-daemon', 'libvirt-client', 'chromium', 'shellcheck', 'git', 'fonts-', 'util-linux')


def run(command, **kwargs):
    completed = subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
                               **kwargs)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout + completed.stderr


def create(directory, context):
    """`ansible-builder create` of the definition in directory: its output."""
    return run([os.path.join(BIN, 'ansible-builder'), 'create', '-f', os.path.join(directory, 'execution-environment.yml'),
                '-c', context, '--output-filename', 'Containerfile'])


@pytest.fixture(scope='module')
def ee(collection_tarball, tmp_path_factory):
    """The documented steps: the definition and the tarball in one directory, ansible-builder create; then the
    galaxy stage's install in the context's _build, and the builder stage's introspection of what it installed.
    {tarball, context, collections, bindep (text), pip (lines)}."""
    tmp = tmp_path_factory.mktemp('ee')
    project = tmp / 'project'
    project.mkdir()
    shutil.copy(EXAMPLE, str(project))
    shutil.copy(collection_tarball, str(project))
    context = tmp / 'context'
    create(str(project), str(context))
    collections = tmp / 'collections'
    # The galaxy stage: COPY _build /build, WORKDIR /build, then this (the test below reads it in the Containerfile).
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '-r', 'requirements.yml',
         '--collections-path', str(collections)], cwd=str(context / '_build'),
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_GALAXY_DISABLE_GPG_VERIFY='1'))
    bindep, pip = tmp / 'bindep.txt', tmp / 'requirements.txt'
    run([sys.executable, str(context / '_build' / 'scripts' / 'introspect.py'), 'introspect', '--sanitize',
         '--write-bindep', str(bindep), '--write-pip', str(pip), str(collections)])
    return {'tarball': collection_tarball, 'context': context, 'collections': collections,
            'bindep': bindep.read_text(), 'pip': pip.read_text().splitlines()}


def packages(bindep_text, platform, *profiles):
    """The packages bindep selects from the text on a platform with the profiles (default: none given)."""
    rules = Depends(bindep_text).active_rules(PLATFORMS[platform] + (list(profiles) or ['default']))
    return sorted(set(rule[0] for rule in rules))


def test_the_context_holds_the_tarball_and_its_galaxy_stage_installs_it(ee):
    context = ee['context']
    name = os.path.basename(ee['tarball'])
    copied = context / '_build' / 'collections' / name
    assert copied.is_file(), 'the definition names another tarball than %s: the version of galaxy.yml?' % name
    with open(ee['tarball'], 'rb') as handle:
        assert copied.read_bytes() == handle.read()
    requirements = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
    assert requirements == {'collections': [{'name': 'collections/' + name, 'type': 'file'}]}
    containerfile = (context / 'Containerfile').read_text()
    assert 'FROM $EE_BASE_IMAGE AS base' in containerfile and 'quay.io/fedora/fedora' in containerfile
    galaxy = containerfile[containerfile.index('FROM base AS galaxy'):containerfile.index('FROM base AS builder')]
    assert re.search(r'^COPY _build /build\nWORKDIR /build$', galaxy, re.M), galaxy
    assert re.search(r'^RUN .*ansible-galaxy collection install \S+ -r requirements.yml ', galaxy, re.M), galaxy
    assert 'introspect.py introspect' in containerfile and '/output/scripts/assemble' in containerfile
    assert {'introspect.py', 'assemble', 'install-from-bindep'} <= set(os.listdir(str(context / '_build' / 'scripts')))
    # What the galaxy stage installed: this tarball's collection, with the files introspection reads.
    installed = ee['collections'] / 'ansible_collections' / 'virt' / 'hostdev'
    with open(os.path.join(REPO_ROOT, 'galaxy.yml'), encoding='utf-8') as handle:
        version = yaml.safe_load(handle)['version']
    assert json.loads((installed / 'MANIFEST.json').read_text())['collection_info']['version'] == version
    assert name == 'virt-hostdev-%s.tar.gz' % version
    for path in ('meta/execution-environment.yml', 'requirements.txt', 'bindep.txt'):
        assert (installed / path).is_file(), path


def test_without_the_tarball_the_context_lacks_it_and_ansible_builder_only_warns(tmp_path):
    """As docs/execution-environment.md warns: create succeeds, and the image build would fail later."""
    shutil.copy(EXAMPLE, str(tmp_path))
    output = create(str(tmp_path), str(tmp_path / 'context'))
    assert "No matches for 'virt-hostdev-" in output
    assert not (tmp_path / 'context' / '_build' / 'collections').exists()


def test_the_docs_show_the_example_files():
    with open(os.path.join(REPO_ROOT, 'docs', 'execution-environment.md'), encoding='utf-8') as handle:
        shown = [yaml.safe_load(block) for block in re.findall(r'^```yaml\n(.*?)^```', handle.read(), re.S | re.M)]
    for name in ('execution-environment.yml', 'ansible-navigator.yml'):
        with open(os.path.join(EXAMPLES, name), encoding='utf-8') as handle:
            assert yaml.safe_load(handle) in shown, name


def test_the_collections_system_packages_have_no_hypervisor_and_build_the_binding(ee):
    bindep = ee['bindep']
    assert '# from collection virt.hostdev' in bindep
    for platform in PLATFORMS:
        for profiles in ((), ('compile',)):
            found = packages(bindep, platform, *profiles)
            assert not [name for name in found if name.startswith(FORBIDDEN)], (platform, profiles, found)
            assert 'python3-libvirt' not in found  # the distribution's binding is for a managed host only
    # The final image (no profile): the library the compiled binding needs, the id names, Graphviz.
    assert packages(bindep, 'rpm') == ['graphviz', 'hwdata', 'libvirt-libs']
    assert packages(bindep, 'dpkg') == ['graphviz', 'libvirt0', 'pci.ids', 'usb.ids']
    # The builder stage compiles libvirt-python.
    assert {'gcc', 'libvirt-devel', 'pkgconf-pkg-config', 'python3-devel'} <= set(packages(bindep, 'rpm', 'compile'))
    assert {'gcc', 'libvirt-dev', 'pkg-config', 'python3-dev'} <= set(packages(bindep, 'dpkg', 'compile'))
    # A managed host takes the distribution's binding, the names and nothing of the controller's.
    assert packages(bindep, 'rpm', 'host') == ['hwdata', 'python3-libvirt']


def test_the_collections_python_requirements(ee):
    names = [line.split('#')[0].strip().split('>')[0].split('<')[0].split('=')[0].lower()
             for line in ee['pip'] if line.strip() and not line.startswith('#')]
    assert 'libvirt-python' in names and 'jmespath' in names
    assert 'ansible-core' not in names  # the EE definition chooses ansible-core
