# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: move PCI devices to vfio-pci now, by address, and back (vfio_reserve's bind_now).

The kernel's way, one device at a time: ``driver_override`` = vfio-pci (only vfio-pci may bind it
from then on), the address written to its driver's ``unbind``, then to ``/sys/bus/pci/drivers_probe``;
each step is checked on the device's ``driver`` link within a bound (MOVE_TIMEOUT). Going back
(state absent, or a device no longer reserved): ``driver_override`` cleared, unbound from vfio-pci,
probed, and checked to be on another driver (or on none, when no loaded driver claims it: a warning
says so).

``plan_moves()`` reads where each device is; ``move_refusals()`` adds the rules a move now needs
beyond the reservation's (model.refusals.RESERVE covers mounts, swap and the default route): a
network interface of the device that is up with addresses or routes, or a port of a bridge or bond
(host_in_use), and a running domain that holds the device (held_by_running_domain).
``apply_moves()`` moves them; when one does not arrive, the ones this run moved are put back
(override as it was, probed again) before the error, so the host is as it was.
Every write goes to an existing attribute of the sysfs tree, opened without following a link
and refused unless it is a regular file under the tree's root.
"""

import os
import stat
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import (
    Problem,
    impact_entry,
    impact_label,
    problem,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

VFIO_DRIVER = 'vfio-pci'
# The longest a device may take to leave its driver, or to arrive on one, in seconds. The kernel
# binds and unbinds synchronously for most drivers; the bound covers asynchronous probing.
MOVE_TIMEOUT = 10.0
POLL = 0.02
IFF_UP = 0x1
# An interface's flags are an unsigned int, printed in hexadecimal with 0x.
MAX_NET_FLAGS = 0xffffffff
# IPv6 routes every interface that is up has by itself (link-local, multicast): no sign of use.
IPV6_AUTOMATIC = ('fe80', 'ff')


@dataclass
class Move:
    """One device to move: to vfio-pci (bind) or back to a host driver (not bind)."""

    name: str
    address: str
    driver: Optional[str]
    override: Optional[str]
    bind: bool

    @property
    def sets_override(self) -> bool:
        return self.override != VFIO_DRIVER if self.bind else self.override == VFIO_DRIVER

    @property
    def rebinds(self) -> bool:
        """Whether the device changes driver (unbind and probe), not only its override."""
        return self.driver != VFIO_DRIVER if self.bind else self.driver == VFIO_DRIVER or self.sets_override

    def diff(self) -> Dict[str, str]:
        header = '%s (%s): driver and driver_override' % (self.address, self.name)
        after = '%s\ndriver_override: %s\n' % (
            'driver: %s' % VFIO_DRIVER if self.bind or not self.rebinds else
            'driver: its host driver (any but vfio-pci), or none',
            VFIO_DRIVER if self.bind else _shown(None if self.sets_override else self.override))
        return {'before_header': header, 'after_header': header, 'after': after,
                'before': 'driver: %s\ndriver_override: %s\n' % (_shown(self.driver), _shown(self.override))}

    def result(self, driver_after: Optional[str] = None) -> Dict[str, Any]:
        return {'device': self.name, 'address': self.address, 'driver': self.driver,
                'to': VFIO_DRIVER if self.bind else 'host', 'driver_after': driver_after}


class PciBus:
    """The PCI bus of one sysfs tree, as the kernel offers it: read a device's driver and override,
    write the attributes that move it."""

    def __init__(self, tree: SysfsTree, timeout: float = MOVE_TIMEOUT,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.tree = tree
        self.timeout = timeout
        self.sleep = sleep

    def device(self, address: str, *parts: str) -> str:
        return self.tree.path('bus', 'pci', 'devices', address, *parts)

    def driver(self, address: str) -> Optional[str]:
        """The device's driver now (read afresh, never from a cache), None when it has none."""
        try:
            return os.path.basename(os.readlink(self.device(address, 'driver')))
        except OSError:
            return None

    def override(self, address: str) -> Optional[str]:
        text = self.tree.read(self.device(address, 'driver_override'))
        return None if text in (None, '', '(null)') else text

    def has_driver(self, name: str) -> bool:
        return os.path.isdir(self.tree.path('bus', 'pci', 'drivers', name))

    def write(self, path: str, text: str) -> None:
        """Write text to the kernel attribute at path: an existing regular file under the tree's root,
        reached without following a link at its last step (sysfs attributes are never links)."""
        directory = os.path.realpath(os.path.dirname(path))
        if os.path.commonpath([self.tree.root, directory]) != self.tree.root:
            raise HostdevError('refusing to write %s: it leads to %s, outside the sysfs tree %s'
                               % (path, directory, self.tree.root))
        real = os.path.join(directory, os.path.basename(path))
        try:
            descriptor = os.open(real, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            raise HostdevError('cannot open %s for writing: %s' % (real, error.strerror or error))
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise HostdevError('refusing to write %s: it is not a sysfs attribute (not a regular file)' % real)
            os.write(descriptor, text.encode('utf-8'))
        except OSError as error:
            raise HostdevError('writing %r to %s failed: %s' % (text, real, error.strerror or error))
        finally:
            os.close(descriptor)

    def wait(self, what: Callable[[], bool]) -> bool:
        """Whether what() came true within the bound (asked at once, then every POLL seconds)."""
        deadline = time.monotonic() + self.timeout
        while not what():
            if time.monotonic() >= deadline:
                return False
            self.sleep(POLL)
        return True

    def set_override(self, address: str, driver: Optional[str]) -> None:
        # an empty line clears it; the kernel shows a cleared override as (null)
        self.write(self.device(address, 'driver_override'), '%s\n' % (driver or ''))

    def unbind(self, address: str) -> None:
        driver = self.driver(address)
        if driver is None:
            return
        self.write(self.tree.path('bus', 'pci', 'drivers', driver, 'unbind'), address)
        if not self.wait(lambda: self.driver(address) is None):
            raise HostdevError('%s did not leave driver %s within %g s of the write to its unbind'
                               % (address, driver, self.timeout))

    def probe(self, address: str) -> None:
        self.write(self.tree.path('bus', 'pci', 'drivers_probe'), address)


def plan_moves(bus: PciBus, model: HostModel, bind: List[str], release: List[str]) -> List[Move]:
    """The moves that make the devices of bind (names) sit on vfio-pci now, and the released
    addresses that are on vfio-pci (or have it as override) go back; devices already where they
    should be are left out."""
    moves = []
    for name in bind:
        address = str(model.device(name)['pci']['address'])
        move = Move(name, address, bus.driver(address), bus.override(address), True)
        if move.sets_override or move.rebinds:
            moves.append(move)
    for address in release:
        if not os.path.isdir(bus.device(address)):
            continue  # a device the host no longer has (or a VF not created now) has nothing to undo
        try:
            name = model.resolve_reference(address)
        except HostdevError:
            name = address
        move = Move(name, address, bus.driver(address), bus.override(address), False)
        if move.rebinds:
            moves.append(move)
    for move in moves:
        if not os.path.isfile(bus.device(move.address, 'driver_override')):
            raise HostdevError('%s (%s) has no driver_override in %s, so it cannot be given one driver by address '
                               'now (Linux has it since 3.16); nothing was changed' % (
                                   move.address, move.name, bus.device(move.address)))
    if moves and not os.path.isfile(bus.tree.path('bus', 'pci', 'drivers_probe')):
        raise HostdevError('%s does not exist, so no device can be probed now; nothing was changed'
                           % bus.tree.path('bus', 'pci', 'drivers_probe'))
    return moves


def move_refusals(tree: SysfsTree, model: HostModel, moves: List[Move]) -> List[Problem]:
    """What refuses moving these devices now, beyond the reservation's rules."""
    problems = []
    routes = _route_interfaces(tree)
    inet6 = _inet6_interfaces(tree)
    for move in moves:
        if not move.rebinds or move.name not in model:
            continue
        running = [dom['name'] for dom in model.domains if dom.get('active')
                   and dom['name'] in model.assigned_to(move.name)]
        if running:
            problems.append(problem(
                'held_by_running_domain', move.name,
                '%s is held by running domain %s: moving it %s now would take it from the guest; shut the '
                'domain down or remove the device from it first, or leave bind_now false'
                % (move.name, ', '.join(running), 'to vfio-pci' if move.bind else 'off vfio-pci')))
        if not move.bind:
            continue
        for child in model.descendants(move.name):
            record = model.device(child)
            interface = (record.get('net') or {}).get('interface') if record.get('type') == 'net' else None
            uses = _interface_uses(tree, interface, routes, inet6) if interface else []
            if uses:
                problems.append(problem(
                    'host_in_use', child,
                    '%s of %s is in use by the host now: %s; binding %s to vfio-pci now takes it from the '
                    'host: take it out of use first (ip link set %s down), or leave bind_now false and reboot'
                    % (impact_label(impact_entry(record)), move.name, ', '.join(uses), move.name, interface)))
    return problems


def apply_moves(bus: PciBus, moves: List[Move]) -> List[Dict[str, Any]]:
    """Move every device; when one fails, put back the ones moved here, then raise naming it."""
    done: List[Move] = []
    results = []
    for move in moves:
        try:
            results.append(move.result(_move(bus, move)))
        except HostdevError as error:
            undone = _put_back(bus, done + [move])
            raise HostdevError('%s (%s) was not moved %s: %s. %s' % (
                move.address, move.name, 'to vfio-pci' if move.bind else 'off vfio-pci', error, undone))
        done.append(move)
    return results


def _move(bus: PciBus, move: Move) -> Optional[str]:
    """One move; the driver the device ends on."""
    address = move.address
    if move.bind:
        if move.rebinds and not bus.wait(lambda: bus.has_driver(VFIO_DRIVER)):
            raise HostdevError('the vfio-pci driver did not appear in %s within %g s'
                               % (bus.tree.path('bus', 'pci', 'drivers'), bus.timeout))
        if move.sets_override:
            bus.set_override(address, VFIO_DRIVER)
        if not move.rebinds:
            return VFIO_DRIVER
        bus.unbind(address)
        bus.probe(address)
        if not bus.wait(lambda: bus.driver(address) == VFIO_DRIVER):
            raise HostdevError('it has %s, not vfio-pci, %g s after the write to drivers_probe (see the '
                               'kernel log: dmesg)' % (_driver_words(bus.driver(address)), bus.timeout))
        return VFIO_DRIVER
    if move.sets_override:
        bus.set_override(address, None)
    bus.unbind(address)
    bus.probe(address)
    bus.wait(lambda: bus.driver(address) is not None)
    driver = bus.driver(address)
    if driver == VFIO_DRIVER:
        raise HostdevError('vfio-pci took it again: its vendor and device ids are in vfio-pci\'s id table '
                           '(vfio-pci.ids= on the kernel command line, or an options line in modprobe.d); '
                           'remove them there')
    return driver


def _put_back(bus: PciBus, moves: List[Move]) -> str:
    """Undo moves (the last one possibly half-done): the override as it was, probed again."""
    back: List[str] = []
    stuck: List[str] = []
    for move in reversed(moves):
        try:
            if bus.override(move.address) != move.override:
                bus.set_override(move.address, move.override)
            if bus.driver(move.address) != move.driver:
                bus.unbind(move.address)
                bus.probe(move.address)
                bus.wait(lambda: bus.driver(move.address) == move.driver)
        except HostdevError as error:
            stuck.append('%s (%s)' % (move.address, error))
            continue
        driver = bus.driver(move.address)
        (back if driver == move.driver else stuck).append(
            '%s (%s)' % (move.address, _driver_words(driver)))
    words = 'Put back as they were: %s.' % ', '.join(back) if back else ''
    if stuck:
        words += ' Not back as they were: %s; the next run moves them again.' % ', '.join(stuck)
    return words.strip()


def _shown(value: Optional[str]) -> str:
    return '(none)' if value is None else value


def _driver_words(driver: Optional[str]) -> str:
    return 'driver %s' % driver if driver else 'no driver'


def _interface_uses(tree: SysfsTree, interface: str, routes: Dict[str, int],
                    inet6: Dict[str, List[str]]) -> List[str]:
    """Why the host uses a network interface now: a port of a bridge or bond, or up with addresses or
    routes (an IPv4 address shows as its prefix route in proc/net/route; a /32 without one does not)."""
    uses = []
    master = tree.link_name(tree.path('class', 'net', interface, 'master'))
    if master:
        uses.append('a port of %s' % master)
    flags_path = tree.path('class', 'net', interface, 'flags')
    flags = tree.read_int(flags_path, MAX_NET_FLAGS, base=16)
    if flags is None and os.path.lexists(flags_path):  # junk (the tree warned): unknown is not down
        uses.append('its flags cannot be read, so it may be up')
    if flags is not None and flags & IFF_UP:
        if inet6.get(interface):
            uses.append('up with IPv6 address%s %s' % ('es' if len(inet6[interface]) > 1 else '',
                                                       ', '.join(inet6[interface])))
        if routes.get(interface):
            uses.append('up with %d route%s' % (routes[interface], 's' if routes[interface] > 1 else ''))
    return uses


def _route_interfaces(tree: SysfsTree) -> Dict[str, int]:
    """{interface: routes through it} of proc/net/route and proc/net/ipv6_route (the automatic
    IPv6 routes left out)."""
    counts: Dict[str, int] = {}
    for line in (tree.read(tree.host_file('proc/net/route')) or '').splitlines()[1:]:
        fields = line.split()
        if fields:
            counts[fields[0]] = counts.get(fields[0], 0) + 1
    for line in (tree.read(tree.host_file('proc/net/ipv6_route')) or '').splitlines():
        fields = line.split()
        if len(fields) == 10 and fields[9] != 'lo' and not fields[0].startswith(IPV6_AUTOMATIC):
            counts[fields[9]] = counts.get(fields[9], 0) + 1
    return counts


def _inet6_interfaces(tree: SysfsTree) -> Dict[str, List[str]]:
    """{interface: its IPv6 addresses but link-local ones} of proc/net/if_inet6."""
    found: Dict[str, List[str]] = {}
    for line in (tree.read(tree.host_file('proc/net/if_inet6')) or '').splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[3] != '20' and len(fields[0]) == 32:
            address = ':'.join(fields[0][index:index + 4] for index in range(0, 32, 4))
            found.setdefault(fields[5], []).append('%s/%d' % (address, int(fields[2], 16)))
    return found
