# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs on the lab host (Debian's python3 and python3-libvirt, fed on stdin by
ansible.builtin.raw): does one thing to the test domain with virsh, then prints what
libvirt and the kernel say about it and about one device (a PCI address, or a mediated
device's UUID), as JSON. Stdlib and the libvirt binding only.

    python3 - DOMAIN DEVICE ACTION [XML]
      ACTION: read | define (XML: the domain's definition) | start | destroy

{action, output (virsh's), state, active, config_xml, live_xml, config_hostdevs,
 live_hostdevs ([PCI addresses]), config_mdevs, live_mdevs ([UUIDs of <hostdev type='mdev'>
 with their model]), config_interfaces, live_interfaces (each <interface
 type='hostdev'>: {address, mac, vlan}), qemu_pid, qemu_vfio (the /dev/vfio files QEMU holds),
 device: {driver, driver_override, iommu_group}}
"""

import json
import os
import subprocess
import sys
import tempfile
from xml.etree import ElementTree

import libvirt

URI = 'qemu:///system'
domain_name, address, action = sys.argv[1:4]


def virsh(*args, **kw):
    proc = subprocess.run(('virsh', '-q', '-c', URI) + args, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=600, check=False, **kw)
    if proc.returncode != 0:
        sys.exit('virsh %s failed (%d): %s' % (' '.join(args), proc.returncode, proc.stdout))
    return proc.stdout.strip()


output = None
if action == 'define':
    with tempfile.NamedTemporaryFile('w', suffix='.xml', delete=False) as handle:
        handle.write(sys.argv[4])
    try:
        output = virsh('define', handle.name)
    finally:
        os.unlink(handle.name)
elif action in ('start', 'destroy'):
    output = virsh(action, domain_name)
elif action != 'read':
    sys.exit('unknown action %s' % action)


def pci_address(element):
    return '%04x:%02x:%02x.%x' % tuple(int(element.get(key), 16) for key in ('domain', 'bus', 'slot', 'function'))


def hostdevs(xml):
    found = []
    for element in ElementTree.fromstring(xml).iter('hostdev'):
        source = element.find('source/address')
        if element.get('type') == 'pci' and source is not None:
            found.append(pci_address(source))
    return found


def mdevs(xml):
    """The <hostdev type='mdev'> elements: their UUID and model."""
    found = []
    for element in ElementTree.fromstring(xml).iter('hostdev'):
        source = element.find('source/address')
        if element.get('type') == 'mdev' and source is not None:
            found.append({'uuid': source.get('uuid'), 'model': element.get('model')})
    return found


def interfaces(xml):
    """The <interface type='hostdev'> elements: their source address, MAC and VLAN tag."""
    found = []
    for element in ElementTree.fromstring(xml).iter('interface'):
        source = element.find('source/address')
        if element.get('type') != 'hostdev' or source is None:
            continue
        mac, tag = element.find('mac'), element.find('vlan/tag')
        found.append({'address': pci_address(source), 'mac': None if mac is None else mac.get('address'),
                      'vlan': None if tag is None else int(tag.get('id'))})
    return found


def link(path):
    return os.path.basename(os.readlink(path)) if os.path.islink(path) else None


conn = libvirt.open(URI)
dom = conn.lookupByName(domain_name)
active = bool(dom.isActive())
config_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
live_xml = dom.XMLDesc(0) if active else None
pid = None
vfio = []
if active:
    with open('/run/libvirt/qemu/%s.pid' % domain_name) as handle:
        pid = int(handle.read().strip())
    fd_dir = '/proc/%d/fd' % pid
    vfio = sorted(set(target for target in (os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir))
                      if target.startswith('/dev/vfio/')))
# a PCI address (0000:01:00.0) or a mediated device's UUID
device = ('/sys/bus/pci/devices/' if ':' in address else '/sys/bus/mdev/devices/') + address
try:
    with open(device + '/driver_override') as handle:
        override = handle.read().strip()
except OSError:
    override = None
print(json.dumps({
    'action': action,
    'output': output,
    'state': dom.state()[0],
    'active': active,
    'config_xml': config_xml,
    'live_xml': live_xml,
    'config_hostdevs': hostdevs(config_xml),
    'live_hostdevs': hostdevs(live_xml) if live_xml else [],
    'config_mdevs': mdevs(config_xml),
    'live_mdevs': mdevs(live_xml) if live_xml else [],
    'config_interfaces': interfaces(config_xml),
    'live_interfaces': interfaces(live_xml) if live_xml else [],
    'qemu_pid': pid,
    'qemu_vfio': vfio,
    'device': {'driver': link(device + '/driver'), 'driver_override': override,
               'iommu_group': int(link(device + '/iommu_group')) if link(device + '/iommu_group') else None},
}))
