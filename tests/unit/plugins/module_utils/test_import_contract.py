# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who may import whom (docs/architecture.md, "The rooms and their doors").

- module_utils/model imports nothing of ours but the model and errors.py, and nothing outside the
  standard library: it is the pure core every other room builds on.
- Only libvirt_errors.py imports libvirt; module_utils imports nothing third-party besides it and
  ansible.module_utils (which ships with every module).
- Nothing but the modules (and the room itself) imports the assigning, preparing and reporting rooms.
- Every import of ours is absolute and at the top level of its file (an `if TYPE_CHECKING:` block at
  the top counts: those imports exist for the type checker only).

The rules are checked on the files' syntax (ast), for every file below plugins/, recursively.
"""

from __future__ import annotations

import ast
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
PLUGINS = os.path.join(REPO, 'plugins')
MODULE_UTILS = os.path.join(PLUGINS, 'module_utils')
OURS = 'ansible_collections.virt.hostdev.plugins.'
OUR_UTILS = OURS + 'module_utils.'
ROOMS = ('model', 'reading', 'assigning', 'preparing', 'reporting')
# Rooms only modules (and the room itself) may enter: each is one use case's logic.
PRIVATE_ROOMS = ('assigning', 'preparing', 'reporting')
STDLIB = set(getattr(sys, 'stdlib_module_names', ())) | {'__future__'}


def python_files(top=PLUGINS):
    for folder, _dirs, files in os.walk(top):
        for name in sorted(files):
            if name.endswith('.py'):
                yield os.path.relpath(os.path.join(folder, name), REPO)


def imports(relative):
    """[(module imported, line, at top level)] of a file; relative imports as '.name'."""
    with open(os.path.join(REPO, relative)) as handle:
        tree = ast.parse(handle.read(), relative)
    top = set(id(node) for node in tree.body)
    for node in tree.body:  # `if TYPE_CHECKING:` imports at the top are the type checker's, still at the top
        if isinstance(node, ast.If) and getattr(node.test, 'id', None) == 'TYPE_CHECKING':
            top.update(id(child) for child in node.body)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = '.' * node.level + (node.module or '')
            # `from package import module` names a module of ours: count it as that module.
            names = [module + '.' + alias.name for alias in node.names] if module + '.' in (
                OUR_UTILS + room + '.' for room in ROOMS) or module + '.' == OUR_UTILS else [module]
            found += [(name, node.lineno, id(node) in top) for name in names]
    return found


def room_of(relative):
    """The room of a module_utils file ('model', ...), '' for a shared top-level file, None elsewhere."""
    parts = relative.split(os.sep)
    if parts[:2] != ['plugins', 'module_utils']:
        return None
    return parts[2] if len(parts) > 3 else ''


def room_of_import(module):
    if not module.startswith(OUR_UTILS):
        return None
    rest = module[len(OUR_UTILS):].split('.')
    return rest[0] if len(rest) > 1 and rest[0] in ROOMS else ''


def violations(files=None):
    """Every broken rule, as 'file:line: what'."""
    found = []
    for relative in files or python_files():
        room = room_of(relative)
        is_module = relative.startswith(os.path.join('plugins', 'modules') + os.sep)
        for module, line, at_top in imports(relative):
            where = '%s:%d: %s' % (relative, line, module)
            if module.startswith('.'):
                found.append(where + ' is a relative import')
                continue
            ours = module.startswith(OURS)
            if ours and not at_top:
                found.append(where + ' is imported inside a function or block')
            if module.split('.')[0] == 'libvirt' and relative != os.path.join('plugins', 'module_utils',
                                                                              'libvirt_errors.py'):
                found.append(where + ': only libvirt_errors.py imports libvirt')
            if room is not None and not ours and module.split('.')[0] not in STDLIB | {'libvirt'} \
                    and not module.startswith('ansible.module_utils.'):
                found.append(where + ': module_utils imports nothing third-party but libvirt')
            target = room_of_import(module)
            if room == 'model' and ours and not (target == 'model' or module == OUR_UTILS + 'errors'):
                found.append(where + ': the model imports only the model and errors')
            if target in PRIVATE_ROOMS and not is_module and room != target:
                found.append(where + ': only modules and the %s room itself import it' % target)
    return found


def test_the_import_contract_holds():
    assert violations() == []


def test_every_room_has_its_files():
    rooms = set(room_of(relative) for relative in python_files(MODULE_UTILS))
    assert rooms == set(ROOMS) | {''}


@pytest.mark.parametrize('planted, rule', [
    ('model/planted.py', 'from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree\n'),
    ('model/planted.py', 'import subprocess_tee\n'),
    ('reading/planted.py', 'import libvirt\n'),
    ('reading/planted.py', 'from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import Plan\n'),
    ('preparing/planted.py', 'from ansible_collections.virt.hostdev.plugins.module_utils.reporting import report\n'),
    ('model/planted.py', 'from .records import Record\n'),
    ('model/planted.py', 'def later():\n    from ansible_collections.virt.hostdev.plugins.module_utils.model import records\n'),
    ('planted.py', 'import requests\n'),
])
def test_a_broken_rule_is_found(tmp_path, monkeypatch, planted, rule):
    """Each rule fails when broken: a planted file that breaks it is named."""
    relative = os.path.join('plugins', 'module_utils', planted)
    monkeypatch.setattr(sys.modules[__name__], 'REPO', str(tmp_path))
    os.makedirs(os.path.dirname(str(tmp_path / relative)), exist_ok=True)
    (tmp_path / relative).write_text(rule)
    found = violations([relative])
    assert len(found) == 1 and found[0].startswith(relative + ':'), found


def test_modules_may_use_every_room(tmp_path, monkeypatch):
    relative = os.path.join('plugins', 'modules', 'planted.py')
    monkeypatch.setattr(sys.modules[__name__], 'REPO', str(tmp_path))
    os.makedirs(os.path.dirname(str(tmp_path / relative)))
    (tmp_path / relative).write_text(''.join(
        'from ansible_collections.virt.hostdev.plugins.module_utils.%s.x import y\n' % room for room in ROOMS))
    assert violations([relative]) == []
