"""plugins/ must run on the managed host's Python: 3.9 and newer (RHEL 9)."""

import ast
import glob
import json
import os
import shutil
import subprocess

import pytest

from fixtures.sample_host import build_tree

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLUGIN_FILES = sorted(glob.glob(os.path.join(REPO, 'plugins', '**', '*.py'), recursive=True))


def python39():
    """A working Python 3.9 interpreter: one of pyenv's, or python3.9 on PATH."""
    roots = [os.environ.get('PYENV_ROOT'), os.path.expanduser('~/.pyenv'), '/root/.pyenv']
    candidates = []
    for root in [root for root in roots if root]:
        candidates += sorted(glob.glob(os.path.join(root, 'versions', '3.9*', 'bin', 'python3.9')), reverse=True)
    candidates += [path for path in [shutil.which('python3.9')] if path]
    for candidate in candidates:
        probe = subprocess.run([candidate, '-c', 'import sys; sys.exit(sys.version_info[:2] != (3, 9))'],
                               capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


@pytest.mark.parametrize('path', PLUGIN_FILES, ids=lambda path: os.path.relpath(path, REPO))
def test_plugin_parses_as_python_3_9(path):
    with open(path) as handle:
        ast.parse(handle.read(), filename=path, feature_version=(3, 9))


def test_model_and_sysfs_reader_run_on_python_3_9(tmp_path):
    """Read the sample host with a real 3.9 interpreter and compare with this one's facts."""
    interpreter = python39()
    if interpreter is None:
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail('no Python 3.9 interpreter on this machine (expected pyenv 3.9 or python3.9 on PATH)')
        pytest.skip('no Python 3.9 interpreter here')
    root = build_tree(str(tmp_path / 'host'))
    collections = os.path.join(REPO, '.build', 'collections')
    script = (
        'import json, sys\n'
        'sys.path.insert(0, %r)\n'
        'from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host\n'
        'model, used, warnings = read_host("sysfs", sysfs_root=%r)\n'
        'print(json.dumps(model.facts(used), sort_keys=True))\n' % (collections, root))
    completed = subprocess.run([interpreter, '-c', script], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
    model, used, _warnings = read_host('sysfs', sysfs_root=root)
    assert json.loads(completed.stdout) == json.loads(json.dumps(model.facts(used)))
