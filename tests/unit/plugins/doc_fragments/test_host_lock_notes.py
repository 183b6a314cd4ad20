# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module that takes the host lock says of it: one fragment, quoting the real failure and the real
wait (host_lock.DEFAULT_TIMEOUT), in each such module, and nowhere else in their own words."""

from __future__ import annotations

import glob
import os
import re

import pytest
import yaml

from ansible_collections.virt.hostdev.plugins.doc_fragments.host_lock import ModuleDocFragment
from ansible_collections.virt.hostdev.plugins.module_utils import host_lock as host_lock_module
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import DEFAULT_TIMEOUT, LOCK_PATH, HostLockTimeout, host_lock

MODULES = os.path.join(os.path.dirname(host_lock_module.__file__), os.pardir, 'modules')
# What takes the lock: host_lock itself, or domain_editor.assign (domain_hostdev).
TAKES_THE_LOCK = re.compile(r'^from \S+\.module_utils\.(host_lock|assigning\.domain_editor) import', re.MULTILINE)


def notes():
    return ' '.join(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['notes'])


def documentation(path):
    with open(path) as handle:
        source = handle.read()
    return source, yaml.safe_load(re.search(r"DOCUMENTATION = r'''(.*?)'''", source, re.DOTALL).group(1))


def lock_modules():
    found = [path for path in sorted(glob.glob(os.path.join(MODULES, '*.py')))
             if TAKES_THE_LOCK.search(documentation(path)[0])]
    assert len(found) >= 5  # domain_hostdev, kernel_cmdline, mdevs, sriov_vfs, vfio_reserve at least
    return found


def test_the_fragment_quotes_the_real_failure_after_the_real_wait(tmp_path):
    path = str(tmp_path / 'run' / 'lock')
    with host_lock(path, timeout=0):
        with pytest.raises(HostLockTimeout) as caught:
            with host_lock(path, timeout=0):
                pass
    message = str(caught.value).replace(path, LOCK_PATH).replace('more than 0 s', 'more than %d s' % DEFAULT_TIMEOUT)
    text = ' '.join(notes().split())
    assert 'waits at most %d seconds for the lock' % DEFAULT_TIMEOUT in text
    assert 'C(%s)' % message in text


@pytest.mark.parametrize('path', lock_modules(), ids=os.path.basename)
def test_each_module_that_takes_the_lock_says_so_through_the_fragment_alone(path):
    own = documentation(path)[1]
    assert 'virt.hostdev.host_lock' in own.get('extends_documentation_fragment', [])
    assert not [note for note in own.get('notes', []) if re.search(r'\b%d s(econds)?\b' % DEFAULT_TIMEOUT, note)]
