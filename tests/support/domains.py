# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scratch domains for the tests against a private libvirtd."""

# A diskless q35 TCG domain. Scratch domains are never started: their hostdevs name
# devices of the sample host (or of this machine), which must never leave the host.
DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>{devices}</devices>{extra}
</domain>"""


def domain_xml(name, devices='', extra=''):
    return DOMAIN_XML.format(name=name, devices=devices, extra=extra)
