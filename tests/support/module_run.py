# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in this process and get its result (exit_json or fail_json) as a dict."""

from __future__ import annotations

import contextlib
import json

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
