"""Fixtures of the unit tests: the sample host in both of its forms."""

import pytest

from fixtures.sample_host import TEST_URI, build_tree


@pytest.fixture(scope='session')
def sample_uri():
    """libvirt test-driver URI of the sample workstation."""
    return TEST_URI


@pytest.fixture(scope='session')
def sample_sysfs(tmp_path_factory):
    """The sample workstation's sysfs root (DEST/sys), built once per session."""
    return build_tree(str(tmp_path_factory.mktemp('sample-host')))
