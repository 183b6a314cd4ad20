# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: SR-IOV questions of a host model, asked by preparing and assigning alike. No I/O happens here.

- which device a reference names when it may be a network interface's name (``resolve_function``);
- the addresses a PF gives its VFs, created or not (``vf_slots``, ``vf_slot_of``).

The PCIe SR-IOV capability fixes those addresses: VF n (0-based) of a PF has the routing ID (bus << 8 |
slot << 3 | function) of the PF plus First VF Offset plus n times VF Stride, for n below TotalVFs, in the
PF's PCI domain (the kernel's pci_iov_virtfn_bus and pci_iov_virtfn_devfn). The sysfs reader puts the
kernel's ``sriov_offset`` and ``sriov_stride`` in the PF's record (pci.sriov offset and stride); a read
without them (libvirt alone) infers the layout from two VFs the PF has. The spec lets a PF change offset
and stride with the VF count; the kernel shows them for the count it set last, so an address worked out
here may be one the PF does not use at another count (a rule by address then simply matches nothing).
"""

from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import DeviceReferenceError
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import parse_pci_address, pci_address

# Routing IDs are 16 bits: bus (8), slot (5), function (3).
MAX_ROUTING_ID = 0xffff


def sriov_of(model: HostModel, name: str) -> Dict[str, Any]:
    """A device's pci.sriov ({} when it has none)."""
    return ((model.device(name).get('pci') or {}).get('sriov')) or {}


def netdev_device(model: HostModel, interface: str) -> Optional[str]:
    """The node device name of the device a network interface (by name) belongs to, or None."""
    for name in model.names():
        record = model.device(name)
        if record.get('type') == 'net' and (record.get('net') or {}).get('interface') == interface:
            parent = record.get('parent')
            return parent if isinstance(parent, str) and parent in model else None
    return None


def resolve_function(model: HostModel, reference: Any) -> str:
    """The node device name of what HostModel.resolve_reference accepts, or of a network interface's name
    (the device it belongs to, as users name a NIC's PF); DeviceReferenceError naming what was wrong."""
    text = str(reference).strip()
    try:
        return model.resolve_reference(text)
    except DeviceReferenceError as error:
        unresolved = str(error)
    found = netdev_device(model, text)
    if found is None:
        raise DeviceReferenceError('%s; nor is it the name of a network interface of this host' % unresolved)
    return found


# -- VF addresses -------------------------------------------------------------------

def _routing_id(address: Any) -> Optional[Tuple[int, int]]:
    """(PCI domain, routing ID) of an address, None when it is none."""
    parsed = parse_pci_address(address) if isinstance(address, str) else None
    if parsed is None:
        return None
    domain, bus, slot, function = parsed
    return domain, (bus << 8) | (slot << 3) | function


def vf_layout(model: HostModel, pf: str) -> Optional[Tuple[int, int]]:
    """(offset, stride) of a PF's VF routing IDs: its record's when it has them, else inferred from
    the VFs it lists (two at least, evenly spaced); None when neither tells."""
    sriov = sriov_of(model, pf)
    offset, stride = sriov.get('offset'), sriov.get('stride')
    if isinstance(offset, int) and isinstance(stride, int) and not isinstance(offset, bool) and stride > 0:
        return offset, stride
    base = _routing_id((model.device(pf).get('pci') or {}).get('address'))
    ids = [_routing_id(address) for address in sriov.get('virtual_functions') or ()]
    rids = [found[1] for found in ids if found is not None]
    if base is None or len(rids) < 2 or len(rids) != len(ids):
        return None
    stride = rids[1] - rids[0]
    if stride <= 0 or any(later - earlier != stride for earlier, later in zip(rids, rids[1:])):
        return None
    return rids[0] - base[1], stride


def _pfs(model: HostModel) -> List[str]:
    return [name for name in model.names()
            if model.device(name).get('type') == 'pci' and sriov_of(model, name).get('totalvfs')]


def pf_vf_addresses(model: HostModel, pf: str) -> List[str]:
    """The addresses of VF 0, 1, ... up to sriov_totalvfs of a PF, created or not ([] when the layout is unknown)."""
    layout = vf_layout(model, pf)
    base = _routing_id((model.device(pf).get('pci') or {}).get('address'))
    if layout is None or base is None:
        return []
    domain, first = base[0], base[1] + layout[0]
    addresses = []
    for index in range(sriov_of(model, pf).get('totalvfs') or 0):
        routing = first + index * layout[1]
        if routing > MAX_ROUTING_ID:
            break
        addresses.append(pci_address(domain, routing >> 8, (routing >> 3) & 0x1f, routing & 0x7))
    return addresses


def vf_slots(model: HostModel) -> Dict[str, Tuple[str, int]]:
    """{VF address: (PF node device name, VF index)} of every SR-IOV PF of the model whose layout is known."""
    slots: Dict[str, Tuple[str, int]] = {}
    for pf in _pfs(model):
        for index, address in enumerate(pf_vf_addresses(model, pf)):
            slots[address] = (pf, index)
    return slots


def vf_slot_of(model: HostModel, address: Any) -> Optional[Tuple[str, int]]:
    """(PF, VF index) of the VF slot at a PCI address, or None when no PF of the model places a VF there."""
    parsed = parse_pci_address(address) if isinstance(address, str) else None
    return vf_slots(model).get(pci_address(*parsed)) if parsed else None


def describe_slot(slot: Tuple[str, int]) -> str:
    """What messages call a VF slot: 'VF n of <PF>'."""
    return 'VF %d of %s' % (slot[1], slot[0])
