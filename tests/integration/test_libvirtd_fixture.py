# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The private libvirtd fixture is a real, shared QEMU-driver daemon."""

from __future__ import annotations

import uuid

import libvirt

SCRATCH_XML = """
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices/>
</domain>
"""


def _names(conn):
    return sorted(dom.name() for dom in conn.listAllDomains(0))


def test_connects_to_private_qemu_driver(libvirtd):
    conn = libvirt.open(libvirtd)
    try:
        assert conn.getType() == "QEMU"
        assert conn.getURI().startswith("qemu:///system")
        # fresh state: no domain from the machine's own libvirt
        assert _names(conn) == []
    finally:
        conn.close()


def test_define_list_undefine_scratch_domain(libvirtd):
    name = "scratch-%s" % uuid.uuid4().hex[:8]
    conn = libvirt.open(libvirtd)
    try:
        dom = conn.defineXML(SCRATCH_XML.format(name=name))
        try:
            assert name in _names(conn)
            assert not dom.isActive()
            assert "<type arch='x86_64' machine='pc-q35" in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        finally:
            dom.undefine()
        assert name not in _names(conn)
    finally:
        conn.close()


def test_two_connections_share_state(libvirtd):
    """Unlike the test:/// driver, a second connection sees the first one's domain."""
    name = "shared-%s" % uuid.uuid4().hex[:8]
    first = libvirt.open(libvirtd)
    second = libvirt.open(libvirtd)
    try:
        dom = first.defineXML(SCRATCH_XML.format(name=name))
        try:
            assert name in _names(second)
            second.lookupByName(name).undefine()
            assert name not in _names(first)
        except BaseException:
            dom.undefine()
            raise
    finally:
        second.close()
        first.close()
