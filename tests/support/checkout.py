# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A clean copy of this checkout: what a user who clones it gets, with the working tree's changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .playbook import REPO_ROOT

BIN = os.path.dirname(sys.executable)


def clean_copy(dest):
    """Copy the tracked files and the untracked ones git does not ignore, as they are in the working
    tree, to dest (made; no .git): a fresh clone of the branch plus its uncommitted changes, without
    anything built or ignored (.venv, .build, .ansible, caches). Returns dest."""
    listing = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                             cwd=REPO_ROOT, capture_output=True, check=True).stdout
    os.makedirs(dest)
    for name in sorted(set(listing.decode('utf-8').split('\0')) - {''}):
        source = os.path.join(REPO_ROOT, name)
        if not os.path.lexists(source):  # deleted in the working tree, not yet in the index
            continue
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return dest


def build_collection(dest):
    """`ansible-galaxy collection build` of a clean copy of the checkout (dest/src), the tarball in
    dest: its path."""
    source = clean_copy(os.path.join(dest, 'src'))
    completed = subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', dest,
                                source], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    tarballs = [name for name in os.listdir(dest) if name.endswith('.tar.gz')]
    assert len(tarballs) == 1, tarballs
    return os.path.join(dest, tarballs[0])
