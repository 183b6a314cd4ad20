"""Lab-guest helper for role.yml: scratch domains and driver checks, printing JSON.

    lab_domains.py define NAME         define a diskless q35 TCG domain (never holds a host's own device:
                                       this runs inside the lab guest only)
    lab_domains.py start NAME          start it; prints {"started": bool, "error": str|null}
    lab_domains.py destroy NAME        stop it
    lab_domains.py undefine NAME       remove it (stopping it first)
    lab_domains.py hostdevs NAME [live]  the <hostdev> elements of its persistent (or running) definition
    lab_domains.py drivers ADDR...     {address: bound driver or null}
    lab_domains.py swap-on ADDR        make the disk below PCI controller ADDR the host's swap
                                       (swap needs no module; the guest has no filesystem modules)
    lab_domains.py swap-off DEVICE     stop swapping on it
"""

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import libvirt

URI = 'qemu:///system'
DOMAIN = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>"""


def driver(address):
    link = '/sys/bus/pci/devices/%s/driver' % address
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else None


def block_below(address):
    """The first disk below a PCI device. os.walk, unlike a recursive glob, does not follow
    sysfs's symlinks (subsystem, driver, ...), which loop back into the tree."""
    for directory, subdirs, _files in os.walk(os.path.realpath('/sys/bus/pci/devices/' + address)):
        subdirs.sort()
        if os.path.basename(directory) == 'block' and subdirs:
            return subdirs[0]
    raise SystemExit('no disk below %s' % address)


def main(command, args):
    libvirt.registerErrorHandler(lambda *_: None, None)
    conn = libvirt.open(URI)
    try:
        if command == 'define':
            conn.defineXML(DOMAIN.format(name=args[0]))
            return {'defined': args[0]}
        if command == 'start':
            try:
                conn.lookupByName(args[0]).create()
            except libvirt.libvirtError as error:
                return {'started': False, 'error': error.get_error_message()}
            return {'started': True, 'error': None}
        if command == 'destroy':
            conn.lookupByName(args[0]).destroy()
            time.sleep(1)  # managed=yes reattaches the host driver as the domain goes
            return {'destroyed': args[0]}
        if command == 'undefine':
            dom = conn.lookupByName(args[0])
            if dom.isActive():
                dom.destroy()
            dom.undefine()
            return {'undefined': args[0]}
        if command == 'hostdevs':
            flags = 0 if args[1:] == ['live'] else libvirt.VIR_DOMAIN_XML_INACTIVE
            xml = conn.lookupByName(args[0]).XMLDesc(flags)
            return [ET.tostring(element).decode() for element in ET.fromstring(xml).iter('hostdev')]
        if command == 'swap-on':
            device = '/dev/' + block_below(args[0])
            subprocess.run(['mkswap', device], check=True, capture_output=True, timeout=60)
            subprocess.run(['swapon', device], check=True, capture_output=True, timeout=60)
            return {'swap': device}
        if command == 'swap-off':
            subprocess.run(['swapoff', args[0]], check=True, capture_output=True, timeout=60)
            return {'swap_off': args[0]}
        if command == 'drivers':
            return dict((address, driver(address)) for address in args)
        raise SystemExit('unknown command %s' % command)
    finally:
        conn.close()


if __name__ == '__main__':
    print(json.dumps(main(sys.argv[1], sys.argv[2:])))
