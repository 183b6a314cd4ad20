"""scripts/bootstrap.sh selects the Debian packages of bindep.txt and tests/bindep.txt as bindep does:
make demo gets only what the demo needs, make setup everything, and nothing of a test goes elsewhere."""

import os
import subprocess

import pytest
from bindep.depends import Depends

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEBIAN = ['platform:dpkg', 'platform:debian', 'dpkg', 'debian']


def bootstrap_selection(path, *profiles):
    """What bootstrap.sh's bindep_packages prints for a file and profiles."""
    script = ('source <(sed -n "/^bindep_packages()/,/^}/p" scripts/bootstrap.sh); bindep_packages "$@"')
    completed = subprocess.run(['bash', '-c', script, 'bash', path] + list(profiles), cwd=REPO, capture_output=True,
                               text=True, check=True)
    return sorted(completed.stdout.split())


def bindep_selection(path, *profiles):
    with open(os.path.join(REPO, path), encoding='utf-8') as handle:
        rules = Depends(handle.read()).active_rules(DEBIAN + list(profiles))
    return sorted(set(rule[0] for rule in rules))


@pytest.mark.parametrize('profiles', [('compile', 'test'), ('compile', 'demo'), ('host',), ('default',)])
@pytest.mark.parametrize('path', ['bindep.txt', 'tests/bindep.txt'])
def test_bootstrap_selects_as_bindep_does(path, profiles):
    assert bootstrap_selection(path, *profiles) == bindep_selection(path, *profiles)


def test_the_demo_installs_no_hypervisor_daemon_browser_or_test_tool():
    demo = bootstrap_selection('bindep.txt', 'compile', 'demo') + bootstrap_selection('tests/bindep.txt', 'compile', 'demo')
    assert sorted(demo) == ['gcc', 'libvirt-dev', 'libvirt0', 'make', 'pci.ids', 'pkg-config', 'python3-dev',
                            'python3-venv', 'usb.ids']
    full = bootstrap_selection('tests/bindep.txt', 'compile', 'test')
    assert {'qemu-system-x86', 'libvirt-daemon', 'chromium', 'shellcheck'} <= set(full)
    assert 'graphviz' in bootstrap_selection('bindep.txt', 'compile', 'test')
