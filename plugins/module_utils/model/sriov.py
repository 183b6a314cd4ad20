# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: SR-IOV questions of a host model, asked by preparing and assigning alike. No I/O happens here.

- which device a reference names when it may be a network interface's name (``resolve_function``);
- why a device is no PF whose VFs can be counted, in one wording for every caller (``not_a_pf_text``);
- the addresses a PF gives its VFs, created or not (``vf_slots``, ``vf_slot_of``).

The PCIe SR-IOV capability fixes those addresses: VF n (0-based) of a PF has the routing ID (bus << 8 |
slot << 3 | function) of the PF plus First VF Offset plus n times VF Stride, for n below TotalVFs, in the
PF's PCI domain (the kernel's pci_iov_virtfn_bus and pci_iov_virtfn_devfn). The sysfs reader puts the
kernel's ``sriov_offset`` and ``sriov_stride`` in the PF's record (pci.sriov offset and stride); a read
without them (libvirt alone, or files that cannot be read) infers the layout from the VFs the PF has, VF 0
and VF 1 at least, and leaves it unknown otherwise: a list that starts at VF 1 (virtfn0 missing) would put
every VF one stride off, and an address would be taken for another VF than it is (``unplaced_vf_text``
says what an unknown layout leaves open). The spec lets a PF change offset and stride with the VF count;
the kernel shows them for the count it set last, so an address worked out here may be one the PF does not
use at another count (a rule by address then simply matches nothing).
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


def not_a_pf_text(model: HostModel, name: str) -> Optional[str]:
    """Why a device is no SR-IOV PF with a known sriov_totalvfs (a VF; a PF whose sriov_totalvfs cannot be
    read, the reader warned; no PF), or None: the one wording of sriov_vfs and of the pools of VFs."""
    sriov = sriov_of(model, name)
    if sriov.get('physical_function'):
        return '%s is a virtual function of %s' % (name, sriov['physical_function'])
    if sriov.get('totalvfs') is not None:
        return None
    if sriov:
        return '%s is an SR-IOV physical function whose sriov_totalvfs cannot be read (see the warnings)' % name
    return '%s is not an SR-IOV physical function (it has no sriov_totalvfs)' % name


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
    the VFs it lists when they are VF 0, 1, ... by their own vf_index (two at least, evenly spaced);
    None when neither tells."""
    sriov = sriov_of(model, pf)
    offset, stride = sriov.get('offset'), sriov.get('stride')
    if isinstance(offset, int) and isinstance(stride, int) and not isinstance(offset, bool) and stride > 0:
        return offset, stride
    base = _routing_id((model.device(pf).get('pci') or {}).get('address'))
    listed = sriov.get('virtual_functions') or ()
    ids = [_routing_id(address) for address in listed]
    rids = [found[1] for found in ids if found is not None]
    if base is None or len(rids) < 2 or len(rids) != len(ids) or not _listed_from_vf_0(model, pf, len(listed)):
        return None
    stride = rids[1] - rids[0]
    if stride <= 0 or any(later - earlier != stride for earlier, later in zip(rids, rids[1:])):
        return None
    return rids[0] - base[1], stride


def _listed_from_vf_0(model: HostModel, pf: str, listed: int) -> bool:
    """Whether the VFs a PF lists are all in the model, as VF 0, 1, ... of that PF in that order (the first
    listed is VF 1 when virtfn0 is missing; a VF whose links disagree has no index)."""
    pf_address = (model.device(pf).get('pci') or {}).get('address')
    names = model.virtual_functions(pf)
    return len(names) == listed and all(
        sriov_of(model, name).get('vf_index') == place and sriov_of(model, name).get('physical_function') == pf_address
        for place, name in enumerate(names))


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


def unplaced_vf_text(model: HostModel, address: Any) -> Optional[str]:
    """What to say of a PCI address at which no PF of the model places a VF while a PF whose layout is unknown
    might (one below it in its PCI domain: a VF comes after its PF), or None."""
    target = _routing_id(address)
    if target is None or vf_slot_of(model, address) is not None:
        return None
    unknown = []
    for pf in _pfs(model):
        base = _routing_id((model.device(pf).get('pci') or {}).get('address'))
        if base is not None and base[0] == target[0] and base[1] < target[1] and vf_layout(model, pf) is None:
            unknown.append(pf)
    if not unknown:
        return None
    return ('it may be a VF that %s creates later, but where %s VFs is unknown (sriov_offset and sriov_stride '
            'are unknown, and the VFs listed from VF 0 on do not tell)'
            % (' or '.join(unknown), 'that PF puts its' if len(unknown) == 1 else 'those PFs put their'))


def describe_slot(slot: Tuple[str, int]) -> str:
    """What messages call a VF slot: 'VF n of <PF>'."""
    return 'VF %d of %s' % (slot[1], slot[0])
