# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared pytest fixtures.

- ``ansible_collections.virt.hostdev`` is importable (tests/pytest.ini: .build/collections).
- ``libvirtd``: URI of a private, real libvirtd (QEMU driver), one per session.
- ``run_playbook``: ``support.run_playbook`` (localhost, this collection).

Skip policy: nothing is skipped for lack of libvirtd. If it cannot start, every test
that uses the fixture FAILS (errors). Only a developer outside CI may opt out with
VIRT_HOSTDEV_SKIP_LIBVIRTD=1; CI=true ignores that variable.
"""

from __future__ import annotations

import os

import pytest

from fixtures.sample_host import TEST_URI, build_tree
from support import ensure_collection_link
from support import run_playbook as _run_playbook
from support import running_libvirtd

# tests/pytest.ini puts tests/ and .build/collections on sys.path; the link in .build is
# made by scripts/bootstrap.sh (every make target), and here for a bare `pytest` run.
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", ensure_collection_link())


def pytest_configure(config):
    config.addinivalue_line("markers", "libvirtd: needs the private libvirtd (QEMU driver)")


def pytest_collection_modifyitems(items):
    for item in items:
        if "libvirtd" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.libvirtd)


@pytest.fixture(scope="session")
def sample_uri():
    """libvirt test-driver URI of the sample workstation (tests/fixtures/sample_host/host.xml)."""
    return TEST_URI


@pytest.fixture(scope="session")
def sample_sysfs(tmp_path_factory):
    """The sample workstation's sysfs root (DEST/sys), built once per session. Do not modify it:
    a test that changes a tree builds its own with fixtures.sample_host.build_tree."""
    return build_tree(str(tmp_path_factory.mktemp("sample-host")))


@pytest.fixture(scope="session")
def sample_facts(sample_sysfs):
    """sample_facts(mode='full') -> ansible_facts.hostdev of the sample workstation read from its sysfs
    tree, as hostdev_facts sets it with facts=mode (full or compact). Built once per mode; do not modify."""
    from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import host_facts
    from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host

    made = {}

    def facts(mode="full"):
        if mode not in made:
            model, used, _warnings = read_host("sysfs", "qemu:///system", sample_sysfs)
            made[mode] = host_facts(model, used, mode)
        return made[mode]
    return facts


@pytest.fixture(scope="session")
def libvirtd():
    """URI (``qemu:///system?socket=...``) of a private libvirtd, stopped after the session."""
    with running_libvirtd() as daemon:
        yield daemon.uri


@pytest.fixture
def run_playbook():
    """``run_playbook(playbook_path, extra_vars=None, check=False, env=None)``."""
    return _run_playbook
