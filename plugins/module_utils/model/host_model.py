# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: HostModel, one host's devices as a model. No I/O happens here.

Readers (reading.libvirt_reader, reading.sysfs_reader) turn a host into *device records*: plain dicts
with the keys ``name``, ``type`` (libvirt capability), ``parent``, ``path``, ``driver`` and one sub-dict
per capability (``pci``, ``usb``, ``scsi``, ...). ``HostModel`` takes those records once and answers
every question from indexes built in one pass, so each query is linear in the number of devices.
"""

import re
from collections import deque
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import DeviceReferenceError, UnknownDeviceError, shown
from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import (
    eligibility,
    is_pci_bridge,
    is_pci_endpoint,
    usb_has_address,
    usb_has_ids,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import (
    device_facts,
    facts_names,
    facts_of,
    records_of_facts,
    stated_group,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    USB_BUS_DEVICE_RE,
    USB_ID_RE,
    Record,
    normalize_hex_id,
    normalize_uuid,
    parse_pci_address,
    pci_address,
    pci_name,
)


class HostModel:
    """Every question about one host's devices, answered from one read of it.

    devices: iterable of device records (see the module docstring).
    domains: iterable of {'name', 'active', 'hostdevs': [source dicts]} where a
        source dict is what domain_xml.hostdev_source() returns.
    iommu: the host's IOMMU state dict (reported as is).
    host_use_unknown: the host files that say what the host itself runs on (its mounts, its
        route table) and could not be read: while any is named, no device is known to be free of
        the host's use (refusals' host_use_unknown). Empty when they were read, or not asked
        (a remote URI or the test driver without sysfs, a model of facts).
    networks: libvirt's hostdev networks as hostdev_xml.network_pool gives them, with 'active': the
        VFs in an active one's pool are held by it (held_by_network).
    """

    def __init__(self, devices: Iterable[Record], domains: Iterable[Dict[str, Any]] = (),
                 iommu: Optional[Dict[str, Any]] = None, host_use_unknown: Iterable[str] = (),
                 networks: Iterable[Dict[str, Any]] = ()) -> None:
        self.warnings = []
        self.iommu = dict(iommu or {})
        self.host_use_unknown = list(host_use_unknown)
        self._devices: Dict[str, Record] = {}
        for record in devices:
            name = record['name']
            if name in self._devices:
                self.warnings.append('device %s was reported twice; the first report is kept' % name)
                continue
            self._devices[name] = record
        self._names = sorted(self._devices)
        self._children: Dict[str, List[str]] = {}
        for name in self._names:
            parent = self._devices[name].get('parent')
            if parent is None:
                continue
            if parent not in self._devices:
                self.warnings.append(
                    'parent %s of device %s does not exist (stale node device); '
                    'the device is listed without inheriting from it' % (parent, name))
                continue
            self._children.setdefault(parent, []).append(name)
        self._groups = self._compute_groups()
        self._taken_with_group: Dict[Optional[int], List[str]] = {}
        self._group_devices: Dict[int, List[str]] = {}
        for name in self._names:
            group = self._groups[name]
            if group is not None:
                self._taken_with_group.setdefault(group, []).append(name)
            own = (self._devices[name].get('pci') or {}).get('iommu_group')
            if own is not None:
                self._group_devices.setdefault(own, []).append(name)
        self._unknown_groups = set(
            name for name in self._names
            if self._group_devices and self._devices[name].get('type') == 'pci' and self._groups[name] is None)
        for name in sorted(self._unknown_groups):
            self.warnings.append('PCI device %s has no readable IOMMU group although the host has IOMMU groups: '
                                 'its group is unknown, so it cannot be assigned' % name)
        self._indexes = self._build_reference_indexes()
        self.domains = sorted(domains, key=lambda dom: dom['name'])
        self._assigned = self._compute_assignments()
        self._in_networks = self._network_holds(networks)
        self._eligibility: Dict[str, Tuple[bool, List[str]]] = {}

    # -- tree and groups -------------------------------------------------

    def _compute_groups(self):
        """Own or inherited IOMMU group of every device, in one pass.

        A PCI device's group is its own: the kernel gives every PCI device one when
        the IOMMU is on, so a PCI device without one has an unknown group (None),
        never its bridge's. Any other device takes the group of its nearest PCI
        ancestor. Each device is resolved once (memoised), so the pass is linear;
        a parent cycle in broken input ends the walk instead of looping. A device
        whose ancestors end before a PCI device keeps the group its record states
        (a facts device's iommu_group: compact facts list USB and SCSI devices
        without their parents), else it has none.
        """
        groups = {}
        for name in self._names:
            chain = []
            seen = set()
            current = name
            group = None
            found = False
            while current is not None and current in self._devices and current not in groups:
                if current in seen:
                    self.warnings.append('parent cycle through device %s ignored' % current)
                    break
                seen.add(current)
                chain.append(current)
                if self._devices[current].get('type') == 'pci':
                    group = (self._devices[current].get('pci') or {}).get('iommu_group')
                    found = True
                    break
                current = self._devices[current].get('parent')
            else:
                if current in groups:
                    group = groups[current]
                    found = True
            for member in chain:
                groups[member] = group if found else stated_group(self._devices[member])
        return groups

    def names(self) -> List[str]:
        return list(self._names)

    def __contains__(self, name):
        return name in self._devices

    def device(self, name: str) -> Record:
        try:
            return self._devices[name]
        except KeyError:
            raise UnknownDeviceError('device %s does not exist on this host' % shown(name))

    def children(self, name: str) -> List[str]:
        return list(self._children.get(name, ()))

    def descendants(self, name: str) -> List[str]:
        """All devices below name, in breadth-first order."""
        result = []
        queue = deque(self._children.get(name, ()))
        while queue:
            current = queue.popleft()
            result.append(current)
            queue.extend(self._children.get(current, ()))
        return result

    def iommu_group(self, name: str) -> Optional[int]:
        """The device's own or inherited IOMMU group, or None."""
        self.device(name)
        return self._groups[name]

    def group_unknown(self, name: str) -> bool:
        """True for a PCI device without an IOMMU group on a host that has groups."""
        self.device(name)
        return name in self._unknown_groups

    def group_devices(self, group: int) -> List[str]:
        """Sorted names of the PCI devices the kernel puts in IOMMU group group."""
        return list(self._group_devices.get(group, ()))

    def iommu_groups(self) -> Dict[int, List[str]]:
        """{group number: sorted PCI device names the kernel puts in it}."""
        return dict((group, list(names)) for group, names in self._group_devices.items())

    def taken_with_group(self, group: Optional[int]) -> List[str]:
        """Sorted names of every device whose own or inherited IOMMU group is group.

        That is the group's PCI devices and every device below them that has no
        group of its own: all that leaves the host when the group goes to a guest.
        """
        return list(self._taken_with_group.get(group, ()))

    def group_endpoints(self, name: str) -> List[str]:
        """Sorted PCI endpoints (not bridges) in name's IOMMU group, name included.

        A device without a group, or that is not PCI, is alone: [name].
        """
        record = self.device(name)
        group = self._groups[name]
        if group is None or record.get('type') != 'pci':
            return [name]
        return sorted(set(self.group_endpoints_in(group)) | set([name]))

    def group_endpoints_in(self, group: Optional[int]) -> List[str]:
        """Sorted names of the PCI endpoints (not bridges) in IOMMU group group; [] for None."""
        if group is None:
            return []
        return [member for member in self.group_devices(group) if is_pci_endpoint(self._devices[member])]

    def group_bridges(self, group: Optional[int]) -> List[str]:
        """Sorted names of the PCI bridges in IOMMU group group; they never need assigning."""
        return [member for member in self._taken_with_group.get(group, ())
                if is_pci_bridge(self._devices[member])]

    def host_use(self, name: str) -> List[str]:
        """What the host itself uses the device for ('mounted at /', 'swap', 'default route')."""
        return list(self.device(name).get('host_use') or ())

    # -- eligibility and filters -----------------------------------------

    def eligibility(self, name: str) -> Tuple[bool, List[str]]:
        """eligibility() of the device, worked out once per model (a copy of the reasons)."""
        known = self._eligibility.get(name)
        if known is None:
            known = self._eligibility[name] = eligibility(self.device(name))
        return known[0], list(known[1])

    def eligible_names(self) -> List[str]:
        return [name for name in self._names if self.eligibility(name)[0]]

    def filter_names(self, cap: Optional[str] = None, passthrough: Optional[bool] = None) -> List[str]:
        """Kimchi's listing: names by capability, optionally only eligible ones."""
        names = self._names
        if cap is not None:
            names = [name for name in names if self._has_capability(name, cap)]
        if passthrough:
            names = [name for name in names if self.eligibility(name)[0]]
        return list(names)

    def _has_capability(self, name, cap):
        record = self._devices[name]
        if record.get('type') == cap:
            return True
        # fc_host and vports are sub-capabilities of scsi_host in libvirt.
        return cap in (record.get('capabilities') or ())

    def affected_by(self, name: str) -> List[str]:
        """Sorted names of the devices a passthrough of name takes from the host.

        PCI device in an IOMMU group: the other members of its group with all
        their descendants (every device whose own or inherited group is the
        same) plus the device's own descendants. PCI device on a host without
        groups: its descendants (Kimchi's fallback). Any other type (USB, SCSI):
        its descendants, since IOMMU groups do not apply to them.
        """
        record = self.device(name)
        affected = set(self.descendants(name))
        group = self._groups[name]
        if record.get('type') == 'pci' and group is not None:
            affected.update(self._taken_with_group.get(group, ()))
        affected.discard(name)
        return sorted(affected)

    # -- domains ---------------------------------------------------------

    def _build_reference_indexes(self):
        by_pci = {}
        by_usb_ids = {}
        by_usb_bus = {}
        by_scsi = {}
        by_mdev_uuid = {}
        for name in self._names:
            record = self._devices[name]
            if record.get('type') == 'pci' and record.get('pci'):
                pci = record['pci']
                by_pci[pci['address']] = name
            elif record.get('type') == 'usb_device' and record.get('usb'):
                usb = record['usb']
                # A device whose ids or address could not be read is not found by them.
                if usb_has_ids(record):
                    by_usb_ids.setdefault((usb['vendor_id'], usb['product_id']), []).append(name)
                if usb_has_address(record):
                    by_usb_bus[(usb['bus'], usb['device'])] = name
            elif record.get('type') == 'scsi' and record.get('scsi'):
                scsi = record['scsi']
                by_scsi[(scsi['host'], scsi['bus'], scsi['target'], scsi['lun'])] = name
            elif record.get('type') == 'mdev' and (record.get('mdev') or {}).get('uuid'):
                by_mdev_uuid.setdefault(record['mdev']['uuid'], []).append(name)
        return {'pci': by_pci, 'usb_ids': by_usb_ids, 'usb_bus': by_usb_bus, 'scsi': by_scsi,
                'mdev_uuid': by_mdev_uuid}

    def usb_devices_with_ids(self, vendor_id: Optional[str], product_id: Optional[str]) -> List[str]:
        """Sorted names of the USB devices with this vendor:product ('0x046d', '0xc31c')."""
        return list(self._indexes['usb_ids'].get((vendor_id, product_id), ()))

    def match_source(self, source: Dict[str, Any]) -> List[str]:
        """Names of the host devices a domain hostdev source refers to."""
        kind = source.get('type')
        if kind == 'pci':
            name = self._indexes['pci'].get(source.get('address'))
            return [name] if name else []
        if kind == 'usb':
            if source.get('bus') is not None and source.get('device') is not None:
                name = self._indexes['usb_bus'].get((source['bus'], source['device']))
                if name:
                    return [name]
                # libvirt matches on vendor/product too when both are given.
                if source.get('vendor_id') is None:
                    return []
            return self.usb_devices_with_ids(source.get('vendor_id'), source.get('product_id'))
        if kind == 'scsi':
            host = _scsi_host_number(source.get('adapter'))
            key = (host, source.get('bus'), source.get('target'), source.get('unit'))
            name = self._indexes['scsi'].get(key)
            return [name] if name else []
        if kind == 'mdev':
            return list(self._indexes['mdev_uuid'].get(source.get('uuid'), ()))
        return []

    def _compute_assignments(self):
        return self.assignments_in(self.domains)

    def assignments_in(self, domains: Iterable[Dict[str, Any]]) -> Dict[str, List[str]]:
        """{device name: sorted names of the domains that reference it} among domains.

        domains as the readers give them; used for the host's domains, and for a
        fresh read after an edit (a run that bypassed the host lock).
        """
        assigned: Dict[str, set] = {}
        for dom in domains:
            for source in dom.get('hostdevs', ()):
                for name in self.match_source(source):
                    assigned.setdefault(name, set()).add(dom['name'])
        return dict((name, sorted(doms)) for name, doms in assigned.items())

    def assigned_to(self, name: str) -> List[str]:
        """Sorted names of the domains (defined or running) that reference name."""
        self.device(name)
        return list(self._assigned.get(name, ()))

    def _network_holds(self, networks: Iterable[Dict[str, Any]]) -> Dict[str, List[str]]:
        """{device name: sorted active hostdev networks whose pool lists it (an address, or a VF of a <pf dev>)}."""
        by_netdev = dict(((self._devices[name].get('net') or {}).get('interface'), self._devices[name].get('parent'))
                         for name in self._names if self._devices[name].get('type') == 'net')
        held: Dict[str, set] = {}
        for network in networks:
            if not network.get('active'):
                continue
            addresses = list(network.get('addresses') or ())
            for netdev in network.get('pf') or ():
                sriov = (self._devices.get(by_netdev.get(netdev) or '', {}).get('pci') or {}).get('sriov') or {}
                addresses += sriov.get('virtual_functions') or ()
            for address in addresses:
                name = self._indexes['pci'].get(address)
                if name is not None:
                    held.setdefault(name, set()).add(network.get('name'))
        return dict((name, sorted(nets)) for name, nets in held.items())

    def held_by_network(self, name: str) -> List[str]:
        """Sorted names of the active libvirt hostdev networks whose pool holds name (a VF they hand out)."""
        self.device(name)
        return list(self._in_networks.get(name, ()))

    def virtual_functions(self, name: str) -> List[str]:
        """The names of a PF's VFs, in VF index order; [] for any other device."""
        sriov = (self.device(name).get('pci') or {}).get('sriov') or {}
        return [self._indexes['pci'][address] for address in sriov.get('virtual_functions') or ()
                if address in self._indexes['pci']]

    # -- references --------------------------------------------------------

    def resolve_reference(self, reference: Any) -> str:
        """Turn a user's device reference into a node device name.

        Accepted: a node device name, a PCI address (DDDD:BB:SS.F or BB:SS.F),
        a USB vendor:product (046d:c31c), a USB bus.device (1.3) or a mediated device's UUID.
        """
        text = str(reference).strip()
        if text in self._devices:
            return text
        uuid = normalize_uuid(text)
        if uuid is not None:
            candidates = self.match_source({'type': 'mdev', 'uuid': uuid})
            if len(candidates) != 1:
                raise DeviceReferenceError('mediated device UUID %s is defined on several parents: %s; use a node '
                                           'device name' % (uuid, ', '.join(candidates)) if candidates else
                                           'no mediated device with UUID %s on this host' % uuid)
            return candidates[0]
        address = parse_pci_address(text)
        if address is not None:
            name = pci_name(*address)
            if name in self._devices:
                return name
            raise DeviceReferenceError(
                'no PCI device at address %s (%s) on this host' % (pci_address(*address), shown(text)))
        match = USB_ID_RE.match(text)
        if match:
            candidates = self.usb_devices_with_ids(normalize_hex_id(match.group('vendor')),
                                                   normalize_hex_id(match.group('product')))
            if len(candidates) == 1:
                return candidates[0]
            if not candidates:
                raise DeviceReferenceError('no USB device with vendor:product %s on this host' % text)
            raise DeviceReferenceError(
                'USB vendor:product %s is ambiguous: it matches %s; use a node device name or bus.device'
                % (text, ', '.join(candidates)))
        match = USB_BUS_DEVICE_RE.match(text)
        if match:
            key = (int(match.group('bus')), int(match.group('device')))
            name = self._indexes['usb_bus'].get(key)
            if name:
                return name
            raise DeviceReferenceError('no USB device at bus.device %s on this host' % text)
        close = [name for name in self._names if text.lower() in name.lower()][:5]
        hint = '; similar names: %s' % ', '.join(close) if close else ''
        raise DeviceReferenceError(
            'device reference %r is not a node device name, a PCI address, a USB vendor:product, '
            'a USB bus.device or a mediated device UUID known on this host%s' % (shown(text), hint))

    # -- facts (model.facts_format owns the format) --------------------------

    def device_facts(self, name: str, blockers: Optional[Mapping[str, List[str]]] = None,
                     mode: str = 'full') -> Dict[str, Any]:
        """facts_format.device_facts of one device of this host."""
        return device_facts(self, name, blockers, mode)

    def facts_names(self, mode: str = 'full') -> List[str]:
        """facts_format.facts_names: the devices the facts list."""
        return facts_names(self, mode)

    def facts(self, source: str, blockers: Optional[Mapping[str, List[str]]] = None,
              mode: str = 'full') -> Dict[str, Any]:
        """facts_format.facts_of this host: ansible_facts.hostdev (model.host_facts.host_facts adds the blockers)."""
        return facts_of(self, source, blockers, mode)

    @classmethod
    def of_facts(cls, devices: Iterable[Mapping[str, Any]], iommu: Optional[Mapping[str, Any]] = None,
                 iommu_groups: Any = None) -> 'HostModel':
        """The model of a host's facts (facts_format.records_of_facts); the facts are not changed."""
        return cls(records_of_facts(devices, iommu_groups), iommu=dict(iommu) if isinstance(iommu, Mapping) else None)


def _scsi_host_number(adapter):
    if adapter is None:
        return None
    match = re.match(r'^scsi_host(\d+)$', str(adapter))
    return int(match.group(1)) if match else None
