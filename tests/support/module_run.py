# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in this process and get its result (exit_json or fail_json) as a dict, or
in a process of its own (module_process) to run several at the same moment."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import pytest
from ansible.module_utils import basic

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    @contextlib.contextmanager
    def patch_module_args(args):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode()
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


class Exited(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


def module_runner(monkeypatch, main):
    """run(**args) -> the result dict of main(), with failed, msg and the warnings."""
    warnings = []

    def exit_json(module, **result):
        raise Exited(dict(result, failed=False, warnings=list(warnings)))

    def fail_json(module, msg, **result):
        raise Exited(dict(result, failed=True, msg=msg, warnings=list(warnings)))

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda module, text: warnings.append(text))

    def run(**args):
        del warnings[:]
        with patch_module_args(args):
            with pytest.raises(Exited) as exited:
                main()
        return exited.value.result
    return run


# A module's main() in a process of its own (a run of its own, as Ansible forks one per task):
# python -c DRIVER MODULE ARGS_JSON prints the module's result as JSON on its standard output.
DRIVER = '''
import importlib, json, sys
from support.module_run import patch_module_args
module = importlib.import_module('ansible_collections.virt.hostdev.plugins.modules.' + sys.argv[1])
with patch_module_args(json.loads(sys.argv[2])):
    module.main()
'''


def module_process(name, args, env=None):
    """Start module name (vfio_reserve, say) with args in a new Python process; returns the Popen
    (text mode, stdout and stderr piped). env: the environment (this one's by default); the tests
    directory and the collections on sys.path come from this process."""
    environment = dict(os.environ if env is None else env)
    environment['PYTHONPATH'] = os.pathsep.join(path for path in sys.path if path)
    return subprocess.Popen([sys.executable, '-c', DRIVER, name, json.dumps(args)], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def process_result(process, timeout):
    """The result dict a module_process printed (with failed, False on success), waiting at most timeout s."""
    out, err = process.communicate(timeout=timeout)
    try:
        return dict({'failed': False}, **json.loads(out))
    except ValueError:
        raise AssertionError('module process exited %s without a result: %s %s' % (process.returncode, out, err))
