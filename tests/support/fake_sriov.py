# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An SR-IOV physical function in a fake sysfs tree that acts as the kernel does when its
sriov_numvfs is written: the VFs appear (their directories beside the PF, the PF's virtfnN links,
their physfn, IOMMU group and bus links, a driver when sriov_drivers_autoprobe is 1) or vanish, and
a change from N to M, both above 0, is refused with EBUSY, as drivers/pci/iov.c does.

Two ways to drive it:
- ``kernel.writer`` is a sysfs writer (sriov_apply.write_attribute's signature) for the apply path
  called in process: the kernel acts inside the write, and refuses it with the kernel's errno;
- ``kernel.watching()`` runs the kernel in a thread that watches the files, for a module run in
  another process (ansible-playbook): a write it would have refused is recorded in
  ``kernel.refused`` and the file set back, so no VF appears and the module's wait times out.

``sriov_host()`` lays out the sample workstation with its I225-V (0000:02:00.0, enp2s0) made an SR-IOV
PF of 7 VFs. The sample's domain ci-runner, which holds that NIC whole, is removed: here the host keeps
the PF and its VFs go to guests.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
import time

from fixtures.sample_host import build_tree
from support.fake_host import write


PF = '0000:02:00.0'
PF_NAME = 'pci_0000_02_00_0'
ROUTE_HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n'


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text if text.endswith('\n') else text + '\n')


def _link(path, target):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.makedirs(target, exist_ok=True)
    os.symlink(os.path.relpath(target, os.path.dirname(path)), path)


def _read(path):
    try:
        with open(path) as handle:
            text = handle.read().split()
    except OSError:
        return None
    return text[0] if text else ''


class FakeSriovKernel:
    """The PFs of one fake sysfs tree (its sys directory)."""

    def __init__(self, sysfs, vf_device='0x15f4', vf_driver='igcvf', first_group=100):
        self.sysfs = os.path.abspath(str(sysfs))
        self.vf_device = vf_device
        self.vf_driver = vf_driver
        self.next_group = first_group
        self.pfs = {}
        self.refused = []
        self.lock = threading.Lock()

    def pf_dir(self, address):
        return os.path.realpath(os.path.join(self.sysfs, 'bus', 'pci', 'devices', address))

    def make_pf(self, address, totalvfs=7, numvfs=0, autoprobe=True, offset=128, stride=2):
        """Give the PCI device at address the SR-IOV capability, with numvfs VFs."""
        directory = self.pf_dir(address)
        self.pfs[address] = (totalvfs, offset, stride)
        for name, value in (('sriov_totalvfs', totalvfs), ('sriov_numvfs', 0), ('sriov_offset', offset),
                            ('sriov_stride', stride), ('sriov_drivers_autoprobe', int(autoprobe))):
            _write(os.path.join(directory, name), str(value))
        if numvfs:
            self.set_numvfs(address, numvfs)
        return directory

    def vf_address(self, address, index):
        totalvfs, offset, stride = self.pfs[address]
        domain, bus, rest = address.split(':')
        slot, function = rest.split('.')
        routing = (int(bus, 16) << 8) + (int(slot, 16) << 3) + int(function) + offset + stride * index
        return '%s:%02x:%02x.%d' % (domain, routing >> 8, (routing >> 3) & 0x1f, routing & 7)

    def vfs(self, address):
        directory = self.pf_dir(address)
        return sorted((entry for entry in os.listdir(directory) if entry.startswith('virtfn')),
                      key=lambda entry: int(entry[len('virtfn'):]))

    def set_numvfs(self, address, count):
        """What the kernel does when count is written to the PF's sriov_numvfs (OSError as it refuses)."""
        directory = self.pf_dir(address)
        current = len(self.vfs(address))
        if count == current:
            return
        if not os.path.lexists(os.path.join(directory, 'driver')):
            raise OSError(errno.ENOENT, 'no driver bound to device; cannot configure SR-IOV')
        if count > self.pfs[address][0]:
            raise OSError(errno.ERANGE, 'Numerical result out of range')
        if current and count:
            raise OSError(errno.EBUSY, '%d VFs already enabled. Disable before enabling %d VFs' % (current, count))
        parent = os.path.dirname(directory)
        if count == 0:
            for entry in self.vfs(address):
                vf = os.path.realpath(os.path.join(directory, entry))
                os.unlink(os.path.join(directory, entry))
                os.unlink(os.path.join(self.sysfs, 'bus', 'pci', 'devices', os.path.basename(vf)))
                group = os.path.realpath(os.path.join(vf, 'iommu_group'))
                shutil.rmtree(vf)  # its links go, never what they point to
                os.unlink(os.path.join(group, 'devices', os.path.basename(vf)))
        autoprobe = _read(os.path.join(directory, 'sriov_drivers_autoprobe')) == '1'
        for index in range(count):
            vf_address = self.vf_address(address, index)
            vf = os.path.join(parent, vf_address)
            for name, value in (('class', _read(os.path.join(directory, 'class')) or '0x020000'),
                                ('vendor', _read(os.path.join(directory, 'vendor')) or '0x8086'),
                                ('device', self.vf_device), ('subsystem_vendor', '0x0000'),
                                ('subsystem_device', '0x0000'), ('numa_node', '0')):
                _write(os.path.join(vf, name), value)
            _link(os.path.join(vf, 'physfn'), directory)
            _link(os.path.join(directory, 'virtfn%d' % index), vf)
            _link(os.path.join(self.sysfs, 'bus', 'pci', 'devices', vf_address), vf)
            group = os.path.join(self.sysfs, 'kernel', 'iommu_groups', str(self.next_group))
            self.next_group += 1
            _link(os.path.join(vf, 'iommu_group'), group)
            _link(os.path.join(group, 'devices', vf_address), vf)
            if autoprobe:
                _link(os.path.join(vf, 'driver'), os.path.join(self.sysfs, 'bus', 'pci', 'drivers', self.vf_driver))
        _write(os.path.join(directory, 'sriov_numvfs'), str(count))

    def writer(self, path, text, timeout):
        """sriov_apply's Writer: the write of one attribute, the kernel acting inside it."""
        address = os.path.basename(os.path.dirname(path))
        attribute = os.path.basename(path)
        with self.lock:
            if attribute == 'sriov_numvfs' and address in self.pfs:
                self.set_numvfs(address, int(text))
            else:
                _write(path, text)

    @contextlib.contextmanager
    def watching(self, poll=0.005):
        """The kernel in a thread, for a module in another process: each write of sriov_numvfs (the file's text
        differing from the VFs there are) is acted on; one the kernel refuses is recorded and the file set back."""
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                for address in list(self.pfs):
                    numvfs = os.path.join(self.pf_dir(address), 'sriov_numvfs')
                    text = _read(numvfs)
                    with self.lock:
                        current = len(self.vfs(address))
                        if text is None or not text.isdigit() or int(text) == current:
                            continue
                        try:
                            self.set_numvfs(address, int(text))
                        except OSError as error:
                            self.refused.append((address, current, int(text), error.strerror))
                            _write(numvfs, str(current))
                time.sleep(poll)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(5)


def sriov_host(root, numvfs=0, autoprobe=True):
    """(root, kernel): the sample host under root with the PF given numvfs VFs."""
    build_tree(root)
    for directory in ('etc', 'run'):
        os.unlink(os.path.join(root, directory, 'libvirt', 'qemu', 'ci-runner.xml'))
    kernel = FakeSriovKernel(os.path.join(root, 'sys'))
    kernel.make_pf(PF, totalvfs=7, numvfs=numvfs, autoprobe=autoprobe)
    return root, kernel


def default_route_on(root, interface):
    write(root, '/proc/net/route', ROUTE_HEADER + '%s\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n'
          % interface)


def hold_in_domain(root, address, name='vf-guest'):
    domain, bus, rest = address.split(':')
    slot, function = rest.split('.')
    write(root, '/etc/libvirt/qemu/%s.xml' % name,
          "<domain type='kvm'><name>%s</name><devices><hostdev mode='subsystem' type='pci' managed='yes'>"
          "<source><address domain='0x%s' bus='0x%s' slot='0x%s' function='0x%s'/></source></hostdev>"
          "</devices></domain>\n" % (name, domain, bus, slot, function))


def vf_netdev(root, address, interface):
    """A network interface of the VF at address, as its driver makes it."""
    base = os.path.realpath(os.path.join(root, 'sys', 'bus', 'pci', 'devices', address))
    write(base, '/net/%s/address' % interface, '02:00:00:00:00:01\n')
    link = os.path.join(root, 'sys', 'class', 'net', interface)
    os.symlink(os.path.relpath(os.path.join(base, 'net', interface), os.path.dirname(link)), link)
