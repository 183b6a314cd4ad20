# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the addresses an SR-IOV PF gives its VFs, created or not, so a reservation may name a VF
before its PF creates it.

The PCIe SR-IOV capability fixes them: VF n (0-based) of a PF has the routing ID (bus << 8 | slot << 3
| function) of the PF plus First VF Offset plus n times VF Stride, for n below TotalVFs, in the PF's
PCI domain. The kernel shows the two as ``sriov_offset`` and ``sriov_stride`` beside ``sriov_totalvfs``
(current kernels have them: Debian 12's 6.1, RHEL 9's 5.14). The spec lets a PF change offset and stride with the VF count; the kernel
shows them for the count it set last, and a rule by address simply does not match a VF that lands
elsewhere (the reservation then names a device the host does not have, which facts show).
"""

from typing import Dict

from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import parse_pci_address, pci_address
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

# Routing IDs are 16 bits: bus (8), slot (5), function (3).
MAX_ROUTING_ID = 0xffff


def vf_slots(tree: SysfsTree, model: HostModel) -> Dict[str, str]:
    """{VF address: 'VF n of <PF name>'} of every SR-IOV PF of the model whose sysfs directory shows
    sriov_totalvfs, sriov_offset and sriov_stride."""
    slots: Dict[str, str] = {}
    for name in model.names():
        record = model.device(name)
        parsed = parse_pci_address(str((record.get('pci') or {}).get('address') or ''))
        if record.get('type') != 'pci' or parsed is None:
            continue
        directory = tree.path('bus', 'pci', 'devices', pci_address(*parsed))
        total, offset, stride = (tree.read_int('%s/sriov_%s' % (directory, key))
                                 for key in ('totalvfs', 'offset', 'stride'))
        if not total or offset is None or stride is None:
            continue
        domain, bus, slot, function = parsed
        first = (bus << 8 | slot << 3 | function) + offset
        for index in range(total):
            routing = first + index * stride
            if routing > MAX_ROUTING_ID:
                break
            slots[pci_address(domain, routing >> 8, (routing >> 3) & 0x1f, routing & 0x7)] = \
                'VF %d of %s' % (index, name)
    return slots
