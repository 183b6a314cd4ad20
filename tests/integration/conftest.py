"""Fixtures of the tests against the private libvirtd: scratch domains and the sample host; the collection's
tarball as a user builds it; the fleet report with drift, written once."""

import uuid

import libvirt
import pytest

from support.checkout import build_collection
from support.domains import domain_xml
from support.report_hosts import FLEET_DRIFT, build_fleet, run_report


@pytest.fixture(scope='session')
def collection_tarball(tmp_path_factory):
    """The tarball `ansible-galaxy collection build` makes of a clean copy of the checkout (built once)."""
    return build_collection(str(tmp_path_factory.mktemp('collection-build')))


@pytest.fixture(scope='session')
def drift_report(tmp_path_factory):
    """The hostdev_report role's first run over ws-a, ws-b (IOMMU off) and ws-c (no facts) with FLEET_DRIFT,
    into an empty directory, made once: {fleet, dest, first_run: (returncode, output, result)}. The browser
    tests read its page, the role's test asserts on this run and then runs it again; nothing else writes there."""
    work = tmp_path_factory.mktemp('drift-report')
    fleet = build_fleet(str(work / 'fleet'))
    dest = str(work / 'report')
    return {'fleet': fleet, 'dest': dest, 'first_run': run_report(fleet, dest, hostdev_report_drift=FLEET_DRIFT)}


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
