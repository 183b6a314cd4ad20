# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the SR-IOV attributes of a PCI function's sysfs directory, for reading.sysfs_reader.

A PF has sriov_totalvfs, sriov_numvfs, sriov_offset, sriov_stride, sriov_drivers_autoprobe and a
virtfnN link to VF N; a VF has a physfn link to its PF and, on an NVIDIA vGPU card, an nvidia/
directory. A live sysfs keeps them consistent; a copied or tampered tree may not, and junk is
unknown with a warning (SysfsTree.warnings), never a guess: a count that cannot be read is None, a
PF whose sriov_totalvfs cannot be read is still a PF with its VFs, and a VF's index is the N of the
virtfnN link of the PF its physfn names, or None.
"""

import os
from typing import Any, Dict, List, Optional, Set, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.model.records import Record, parse_pci_address, pci_address
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

# TotalVFs, NumVFs, First VF Offset and VF Stride are 16-bit fields of the SR-IOV capability.
MAX_SRIOV_FIELD = 0xffff

# NVIDIA's driver prints a vGPU type ID as an unsigned int.
MAX_VGPU_TYPE = 0xffffffff


class SriovLinks:
    """The links of one read: virtfns {VF address: [(PF address, N of the PF's virtfnN link to it)]}, and
    the addresses of the functions with a physfn link (the VFs)."""

    def __init__(self) -> None:
        self.virtfns: Dict[str, List[Tuple[str, int]]] = {}
        self.vfs: Set[str] = set()


def read_sriov(tree: SysfsTree, path: str, links: SriovLinks) -> Optional[Dict[str, Any]]:
    """The SR-IOV values (records.SRIOV_KEYS) of the PCI function in directory path, None when it is
    neither a PF (sriov_totalvfs there, readable or not) nor a VF (a physfn link). A PF's virtfnN
    and physfn links go into links, for vf_indexes."""
    total_path = os.path.join(path, 'sriov_totalvfs')
    totalvfs = tree.read_count(total_path, MAX_SRIOV_FIELD)
    physfn = tree.link_name(os.path.join(path, 'physfn'))
    is_pf = totalvfs is not None or os.path.lexists(total_path)
    if not is_pf and physfn is None:
        return None
    physical = parse_pci_address(physfn) if physfn else None
    if physfn and physical is None:
        tree.warnings.append('the physfn link of %s names %s, not a PCI function: its PF is unknown'
                             % (tree.libvirt_path(path), shown_name(physfn)))
    own = os.path.basename(path)
    if physfn:
        links.vfs.add(own)
    if not is_pf:
        # A VF lists no virtual functions of its own; its index comes from its PF's links (vf_indexes),
        # which saves listing every VF's directory.
        return {'physical_function': pci_address(*physical) if physical else None, 'vgpu': read_vgpu(tree, path)}
    virtfns = _virtfns(tree, path)
    numvfs = tree.read_count(os.path.join(path, 'sriov_numvfs'), MAX_SRIOV_FIELD)
    if numvfs is not None and numvfs != len(virtfns):
        tree.warnings.append('%s/sriov_numvfs says %d VFs, but %d virtfn links name one: the PF\'s VF count is '
                             'taken from sriov_numvfs' % (tree.libvirt_path(path), numvfs, len(virtfns)))
    for index, address in virtfns:
        links.virtfns.setdefault(address, []).append((own, index))
    autoprobe = tree.read(os.path.join(path, 'sriov_drivers_autoprobe'))
    return {
        'totalvfs': totalvfs,
        'numvfs': numvfs,
        'drivers_autoprobe': {'1': True, '0': False}.get(autoprobe or ''),
        'offset': tree.read_count(os.path.join(path, 'sriov_offset'), MAX_SRIOV_FIELD),
        'stride': tree.read_count(os.path.join(path, 'sriov_stride'), MAX_SRIOV_FIELD),
        'virtual_functions': [address for _index, address in virtfns],
        'physical_function': pci_address(*physical) if physical else None,
    }


def read_vgpu(tree: SysfsTree, path: str) -> Optional[Dict[str, Any]]:
    """NVIDIA's vGPU attributes of a VF (its nvidia/ directory), or None without them.

    creatable_vgpu_types lists 'ID : name' lines under a header; current_vgpu_type is the ID
    of the type the VF has (0: none yet). What cannot be read is None, with a warning.
    """
    directory = os.path.join(path, 'nvidia')
    if not os.path.isdir(directory):
        return None
    creatable = tree.read(os.path.join(directory, 'creatable_vgpu_types'))
    current = tree.read_int(os.path.join(directory, 'current_vgpu_type'), MAX_VGPU_TYPE)
    if creatable is None or current is None:
        tree.warnings.append('the vGPU attributes of %s (nvidia/creatable_vgpu_types, current_vgpu_type) '
                             'cannot be read: what cannot be read is null' % os.path.basename(path))
    types: Optional[List[Dict[str, Any]]] = None if creatable is None else []
    for line in (creatable or '').splitlines():
        number, _sep, name = line.partition(':')
        if types is not None and number.strip().isdigit() and number.strip().isascii():
            types.append({'id': int(number.strip()), 'name': name.strip() or None})
    return {'creatable_types': types, 'current_type': current}


def _virtfns(tree: SysfsTree, path: str) -> List[Tuple[int, str]]:
    """(N, VF address) of the virtfnN links of a PF's directory, in index order; a link that names no PCI
    function is left out with a warning."""
    found = []
    for entry in tree.listdir(path):
        index = entry[len('virtfn'):]
        if not (entry.startswith('virtfn') and index.isdigit() and index.isascii() and entry == 'virtfn%d' % int(index)):
            continue  # not a link the kernel makes (virtfn01 is none)
        target = tree.link_name(os.path.join(path, entry))
        address = parse_pci_address(target or '')
        if address is None:
            tree.warnings.append('%s/%s names %s, not a PCI function: that VF is not listed'
                                 % (tree.libvirt_path(path), entry, shown_name(target)))
            continue
        found.append((int(index), pci_address(*address)))
    return sorted(found)


def shown_name(target: Optional[str]) -> str:
    return 'nothing (not a link)' if target is None else repr(target[:64])


def vf_indexes(records: List[Record], links: SriovLinks, warnings: List[str]) -> None:
    """Set each VF's vf_index to the N of the virtfnN link its own PF (its physfn) has to it. Where the links
    disagree (a virtfn naming a function whose physfn names another PF, or none; a physfn naming a PF whose
    virtfn links do not name the VF), a warning says so and the index stays unknown. Before
    records.link_virtual_functions, which would take a place in a list for the index."""
    functions = dict((record['pci']['address'], record['pci'].get('sriov')) for record in records
                     if record.get('type') == 'pci' and record.get('pci'))
    for address, named_by in sorted(links.virtfns.items()):
        sriov = functions.get(address) if address in links.vfs else None
        for pf, index in named_by:
            if address not in functions:
                warnings.append('virtfn%d of %s names %s, which is not in the tree' % (index, pf, address))
            elif sriov is None:
                warnings.append('virtfn%d of %s names %s, which has no physfn link: it is not read as a VF'
                                % (index, pf, address))
            elif sriov.get('physical_function') == pf:
                sriov['vf_index'] = index
            elif sriov.get('physical_function'):
                warnings.append('virtfn%d of %s names %s, whose physfn names %s: it is read as a VF of %s'
                                % (index, pf, address, sriov['physical_function'], sriov['physical_function']))
            else:
                warnings.append('virtfn%d of %s names %s, whose physfn names no PCI function: its PF and VF index '
                                'are unknown' % (index, pf, address))
    for address in sorted(links.vfs):
        own_pf = (functions.get(address) or {}).get('physical_function')
        if own_pf is not None and own_pf not in [named for named, _index in links.virtfns.get(address, ())]:
            warnings.append('the physfn of %s names %s, whose virtfn links do not name it: its VF index is unknown'
                            % (address, own_pf))
