# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake kernel for a fake sysfs tree: writes to a PCI device's driver_override, a driver's unbind and
/sys/bus/pci/drivers_probe move the device's `driver` link as the kernel would, so the code that binds
devices to vfio-pci now is exercised for real (in this process, or in an ansible-playbook run beside it).

The attribute files are regular files here: the kernel reads what was written and empties them, from a
thread polling the tree (running()) or at each step() call. As the kernel:
- driver_override is read at probe time: set, only the driver of that name may bind the device;
- unbind releases the device from the driver whose unbind file got its address;
- drivers_probe binds a driverless device: to its override's driver when that driver is registered
  (vfio-pci registers when sys/module/vfio_pci appears, as the fake modprobe makes it), else to its
  host driver (the driver it had when the fake kernel started, or host_drivers), else to none.
refuse: addresses vfio-pci fails to probe (its probe error, as a device it cannot reset).
"""

from __future__ import annotations

import contextlib
import os
import threading

from ansible_collections.virt.hostdev.plugins.module_utils.model.records import parse_pci_address, pci_address

VFIO = 'vfio-pci'


class FakePciKernel:
    def __init__(self, sys_root, host_drivers=None, refuse=()):
        self.sys = os.path.abspath(str(sys_root))
        self.refuse = set(refuse)
        self.events = []  # (what, address, driver) in the order done
        self.host_drivers = {}
        for address in os.listdir(self.devices()):
            driver = self.driver(address)
            if driver and driver != VFIO:
                self.host_drivers[address] = driver
            self._touch(os.path.join(self.devices(), address, 'driver_override'), '(null)\n')
        self.host_drivers.update(host_drivers or {})
        self._touch(self.bus('drivers_probe'), '')
        for driver in os.listdir(self.bus('drivers')):
            self._register(driver)
        self._lock = threading.Lock()

    def bus(self, *parts):
        return os.path.join(self.sys, 'bus', 'pci', *parts)

    def devices(self, *parts):
        return self.bus('devices', *parts)

    def driver(self, address):
        try:
            return os.path.basename(os.readlink(self.devices(address, 'driver')))
        except OSError:
            return None

    def override(self, address):
        with open(self.devices(address, 'driver_override')) as handle:
            text = handle.read().strip()
        return None if text in ('', '(null)') else text

    @staticmethod
    def _touch(path, text):
        if not os.path.exists(path):
            with open(path, 'w') as handle:
                handle.write(text)

    def _register(self, driver):
        os.makedirs(self.bus('drivers', driver), exist_ok=True)
        for name in ('bind', 'unbind'):
            self._touch(self.bus('drivers', driver, name), '')

    @staticmethod
    def _take(path):
        """What was written to an attribute (a whole address, else None), emptied once read."""
        try:
            with open(path) as handle:
                text = handle.read().strip()
        except OSError:
            return None
        parsed = parse_pci_address(text) if text else None
        if parsed is None:
            return None  # nothing, or a write not finished yet
        with open(path, 'w'):
            pass
        return pci_address(*parsed)

    def _link(self, address, driver):
        real = os.path.realpath(self.devices(address))
        os.symlink(os.path.relpath(self.bus('drivers', driver), real), os.path.join(real, 'driver'))
        self.events.append(('bind', address, driver))

    def step(self):
        with self._lock:
            if os.path.isdir(os.path.join(self.sys, 'module', 'vfio_pci')) and \
                    not os.path.isdir(self.bus('drivers', VFIO)):
                self._register(VFIO)
            # the probe is taken first: an unbind written before it is then on disk, and done before it
            probe = self._take(self.bus('drivers_probe'))
            for driver in sorted(os.listdir(self.bus('drivers'))):
                address = self._take(self.bus('drivers', driver, 'unbind'))
                if address and self.driver(address) == driver:
                    os.unlink(os.path.join(os.path.realpath(self.devices(address)), 'driver'))
                    self.events.append(('unbind', address, driver))
            address = probe
            if address and os.path.isdir(self.devices(address)) and self.driver(address) is None:
                override = self.override(address)
                wanted = override or self.host_drivers.get(address)
                if wanted and os.path.isdir(self.bus('drivers', wanted)) and \
                        not (wanted == VFIO and address in self.refuse):
                    self._link(address, wanted)
                else:
                    self.events.append(('unclaimed', address, wanted))

    @contextlib.contextmanager
    def running(self, interval=0.005):
        """The fake kernel acting on the tree from a thread while the block runs."""
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                self.step()
                stop.wait(interval)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(5)
