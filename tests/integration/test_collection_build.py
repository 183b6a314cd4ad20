"""The collection builds, installs from its tarball, and documents itself when installed."""

import os
import subprocess
import sys
import tarfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def run(command, **kwargs):
    completed = subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, **kwargs)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def test_build_install_and_document(tmp_path):
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp_path), REPO])
    tarballs = [name for name in os.listdir(str(tmp_path)) if name.endswith('.tar.gz')]
    assert len(tarballs) == 1 and tarballs[0].startswith('virt-hostdev-')
    with tarfile.open(str(tmp_path / tarballs[0])) as archive:
        members = archive.getnames()
    assert 'plugins/modules/hostdev_facts.py' in members
    assert 'plugins/module_utils/model/host_model.py' in members
    assert not [name for name in members if name.startswith(('.venv', '.build', 'tests/lab/.cache', '.git/'))]
    installed = tmp_path / 'installed'
    # Only the new path: the checkout is on the test session's collections path already.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_NOCOLOR='1')
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--force', '-p', str(installed),
         str(tmp_path / tarballs[0])], env=env)
    doc = run([os.path.join(BIN, 'ansible-doc'), 'virt.hostdev.hostdev_facts'], env=env)
    assert os.path.join(str(installed), 'ansible_collections', 'virt', 'hostdev') in doc.replace('\n', '')
    for section in ('OPTIONS', 'ATTRIBUTES', 'NOTES', 'EXAMPLES', 'RETURN VALUES', 'affected_by', 'pci_bridge'):
        assert section in doc, section
