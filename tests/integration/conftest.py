"""Fixtures of the tests against the private libvirtd: scratch domains and the sample host; the collection's
tarball as a user builds it."""

import uuid

import libvirt
import pytest

from support.checkout import build_collection
from support.domains import domain_xml


@pytest.fixture(scope='session')
def collection_tarball(tmp_path_factory):
    """The tarball `ansible-galaxy collection build` makes of a clean copy of the checkout (built once)."""
    return build_collection(str(tmp_path_factory.mktemp('collection-build')))


@pytest.fixture()
def host(sample_sysfs):
    """The sample workstation's sysfs root (shared, read-only)."""
    return sample_sysfs


@pytest.fixture()
def conn(libvirtd):
    connection = libvirt.open(libvirtd)
    yield connection
    connection.close()


@pytest.fixture()
def scratch(conn):
    """scratch(devices='', extra='', prefix='hd') defines a never-started domain with a unique name."""
    defined = []

    def define(devices='', extra='', prefix='hd'):
        name = '%s-%s' % (prefix, uuid.uuid4().hex[:8])
        dom = conn.defineXML(domain_xml(name, devices, extra))
        defined.append(name)
        return dom

    yield define
    for name in defined:
        try:
            conn.lookupByName(name).undefine()
        except libvirt.libvirtError:
            pass
