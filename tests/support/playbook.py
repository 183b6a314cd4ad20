# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a playbook against localhost with this checkout as the virt.hostdev collection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import namedtuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_PATH = os.path.join(REPO_ROOT, ".build", "collections")

PlaybookResult = namedtuple("PlaybookResult", "returncode stdout stderr")


def ensure_collection_link():
    """.build/collections/ansible_collections/virt/hostdev -> the repo root."""
    link = os.path.join(COLLECTIONS_PATH, "ansible_collections", "virt", "hostdev")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.join("..", "..", "..", ".."), link)
    return COLLECTIONS_PATH


def run_playbook(playbook_path, extra_vars=None, check=False, env=None, timeout=600):
    """Run ``ansible-playbook`` from the interpreter's bin dir (the .venv) on localhost,
    modules on this interpreter (``env`` may set ANSIBLE_PYTHON_INTERPRETER); returns
    a PlaybookResult(returncode, stdout, stderr)."""
    ensure_collection_link()
    bindir = os.path.dirname(sys.executable)
    command = [os.path.join(bindir, "ansible-playbook"), "-i", "localhost,", "-c", "local",
               str(playbook_path)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    if check:
        command.append("--check")
    run_env = dict(os.environ)
    run_env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS_PATH,
        # the interpreter as config, not as an extra var, so `env` can override it
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "PATH": bindir + os.pathsep + run_env.get("PATH", ""),
    })
    run_env.update(env or {})
    proc = subprocess.run(command, capture_output=True, text=True, env=run_env,
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    return PlaybookResult(proc.returncode, proc.stdout, proc.stderr)


def assign_module_runner(playbook, uri, sysfs_root, out_dir):
    """call(domain, check=False, **options) -> the result virt.hostdev.domain_hostdev registered, run through
    playbook (tests/integration/playbooks/assign_module.yml) with source sysfs from sysfs_root; each option
    becomes assign_<option> (devices, pool, interface, state, ...)."""
    counter = [0]

    def call(domain, check=False, **options):
        counter[0] += 1
        out = os.path.join(str(out_dir), 'result-%d.json' % counter[0])
        extra = {'assign_uri': uri, 'assign_domain': domain, 'assign_source': 'sysfs',
                 'assign_sysfs_root': sysfs_root, 'assign_out': out}
        extra.update(('assign_%s' % key, value) for key, value in options.items())
        completed = run_playbook(playbook, extra_vars=extra, check=check)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        with open(out) as handle:
            return json.load(handle)
    return call
