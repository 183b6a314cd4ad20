"""An execution environment with this collection: ansible-builder's context, and what the image build
would install for the collection (its meta/execution-environment.yml, bindep.txt, requirements.txt),
read from the built tarball by the introspection script the build runs. The image itself is not
built: the base image's registry is out of this network's reach (docs/execution-environment.md)."""

import os
import subprocess
import sys

import pytest
import yaml
from bindep.depends import Depends

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
EXAMPLE = os.path.join(REPO, 'docs', 'examples', 'execution-environment.yml')

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
    return completed.stdout


@pytest.fixture(scope='module')
def context(tmp_path_factory):
    """ansible-builder create's context for the documented EE definition, and the collection installed from its
    tarball, introspected by that context's own script as the image build does: (context, bindep, pip lines)."""
    tmp = tmp_path_factory.mktemp('ee')
    context = tmp / 'context'
    run([os.path.join(BIN, 'ansible-builder'), 'create', '-f', EXAMPLE, '-c', str(context),
         '--output-filename', 'Containerfile'])
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp), REPO])
    tarball = next(str(tmp / name) for name in os.listdir(str(tmp)) if name.endswith('.tar.gz'))
    collections = tmp / 'collections'
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--force', '-p', str(collections), tarball],
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections)))
    bindep, pip = tmp / 'bindep.txt', tmp / 'requirements.txt'
    run([sys.executable, str(context / '_build' / 'scripts' / 'introspect.py'), 'introspect', '--sanitize',
         '--write-bindep', str(bindep), '--write-pip', str(pip), str(collections)])
    return context, bindep.read_text(), pip.read_text().splitlines()


def packages(bindep_text, platform, *profiles):
    """The packages bindep selects from the text on a platform with the profiles (default: none given)."""
    rules = Depends(bindep_text).active_rules(PLATFORMS[platform] + (list(profiles) or ['default']))
    return sorted(set(rule[0] for rule in rules))


def test_the_context_builds_the_collection_from_galaxy_on_the_documented_base(context):
    context_dir = context[0]
    containerfile = (context_dir / 'Containerfile').read_text()
    assert 'FROM $EE_BASE_IMAGE AS base' in containerfile and 'quay.io/fedora/fedora' in containerfile
    assert 'introspect.py introspect' in containerfile and '/output/scripts/assemble' in containerfile
    requirements = yaml.safe_load((context_dir / '_build' / 'requirements.yml').read_text())
    assert [entry['name'] for entry in requirements['collections']] == ['virt.hostdev']


def test_the_collections_system_packages_have_no_hypervisor_and_build_the_binding(context):
    bindep = context[1]
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


def test_the_collections_python_requirements(context):
    names = [line.split('#')[0].strip().split('>')[0].split('<')[0].split('=')[0].lower()
             for line in context[2] if line.strip() and not line.startswith('#')]
    assert 'libvirt-python' in names and 'jmespath' in names
    assert 'ansible-core' not in names  # the EE definition chooses ansible-core
