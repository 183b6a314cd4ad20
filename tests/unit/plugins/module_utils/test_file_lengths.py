# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""No file of plugins/module_utils grows past MAX_LINES: a longer one holds more than one
responsibility and is split where its code divides (docs/architecture.md, "Who owns what")."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
MODULE_UTILS = os.path.join('plugins', 'module_utils')
MAX_LINES = 450


def too_long(top=MODULE_UTILS):
    """'path: N lines' of every Python file below top (relative to REPO) longer than MAX_LINES."""
    found = []
    for folder, _dirs, files in os.walk(os.path.join(REPO, top)):
        for name in sorted(files):
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                with open(path, encoding='utf-8') as handle:
                    length = len(handle.read().splitlines())
                if length > MAX_LINES:
                    found.append('%s: %d lines' % (os.path.relpath(path, REPO), length))
    return sorted(found)


def test_no_module_utils_file_is_longer_than_the_limit():
    assert too_long() == [], 'longer than %d lines: %s' % (MAX_LINES, '; '.join(too_long()))


def test_a_file_past_the_limit_is_named_with_its_length(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], 'REPO', str(tmp_path))
    room = tmp_path / MODULE_UTILS / 'preparing'
    room.mkdir(parents=True)
    (room / 'at_limit.py').write_text('x = 1\n' * MAX_LINES)
    (room / 'past_limit.py').write_text('x = 1\n' * (MAX_LINES + 1))
    (room / 'notes.txt').write_text('x\n' * (MAX_LINES + 1))
    assert too_long() == [os.path.join(MODULE_UTILS, 'preparing', 'past_limit.py') + ': 451 lines']
