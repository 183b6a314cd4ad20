"""Fixtures of the tests against the private libvirtd: scratch domains and the sample host."""

import uuid

import libvirt
import pytest

# A diskless q35 TCG domain. Scratch domains are never started: their hostdevs name
# devices of the sample host (or of this machine), which must never leave the host.
DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>{devices}</devices>{extra}
</domain>"""


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
        dom = conn.defineXML(DOMAIN_XML.format(name=name, devices=devices, extra=extra))
        defined.append(name)
        return dom

    yield define
    for name in defined:
        try:
            conn.lookupByName(name).undefine()
        except libvirt.libvirtError:
            pass
