# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the VF tables of compact facts (model.facts_format declares the rest). No I/O happens here.

Compact facts do not list a PF's VFs as devices of their own: each is a row of a table in its PF's
pci.sriov.vfs, {'columns': VF_COLUMNS, 'pci': the ids every row shares, 'rows': [[...], ...]}, in VF
index order. A VF device of compact facts is about 410 bytes of JSON, a row about 60: a host of 512
VFs keeps its compact facts under 64 KB (make bench). A VF that a row cannot say exactly (ids other
than its PF's first VF's, another capability) stays a device of its own.

``with_vf_tables()`` makes the tables of compact device facts; ``listed_devices()`` expands them back
into the compact devices they stand for, which the model (facts_format.records_of_facts), the query
filters, hostdev_select, the mappings and the report read: the one way back.
"""

import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Type

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, described, shown
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    parse_pci_address,
    pci_address_of_name,
    pci_name,
)

# One row per VF: what a VF question needs. Its index on the PF and its address; its driver and IOMMU
# group; the MAC and VLAN the PF gives it (null when the PF's settings are unknown); its holders and
# blockers (assignable is that blockers are empty).
VF_COLUMNS = ('vf_index', 'address', 'driver', 'iommu_group', 'mac', 'vlan', 'assigned_to', 'blockers')
VF_TABLE_KEYS = ('columns', 'pci', 'rows')
# The keys of a compact VF device that a row stands for (facts_format.COMPACT_DEVICE_KEYS and pci).
_ROW_DEVICE_KEYS = frozenset(('name', 'type', 'driver', 'iommu_group', 'assigned_to', 'assignable', 'blockers',
                              'pci'))


def _sriov(device: Mapping[str, Any]) -> Mapping[str, Any]:
    pci = device.get('pci')
    sriov = pci.get('sriov') if isinstance(pci, Mapping) else None
    return sriov if isinstance(sriov, Mapping) else {}


def _ids(device: Mapping[str, Any]) -> Dict[str, Any]:
    """The pci keys of a compact device but sriov: what every row of a table shares."""
    return dict((key, value) for key, value in device['pci'].items() if key != 'sriov')


def _row(device: Mapping[str, Any], pf_address: str, ids: Mapping[str, Any]) -> Optional[List[Any]]:
    """The row of a compact VF device, or None when a row cannot say it exactly."""
    sriov = _sriov(device)
    address = pci_address_of_name(device.get('name'))
    link = sriov.get('link')
    if (set(device) != _ROW_DEVICE_KEYS or device.get('type') != 'pci' or address is None
            or sriov.get('physical_function') != pf_address or not isinstance(sriov.get('vf_index'), int)
            or any(sriov.get(key) is not None for key in ('totalvfs', 'numvfs', 'vfs'))
            or _ids(device) != dict(ids) or device.get('assignable') is not (not device.get('blockers'))):
        return None
    if link is None:
        mac = vlan = None
    elif isinstance(link, Mapping) and set(link) == {'mac', 'vlan'} and not (link['mac'] is None and link['vlan'] is None):
        mac, vlan = link['mac'], link['vlan']
    else:
        return None
    return [sriov['vf_index'], address, device.get('driver'), device.get('iommu_group'), mac, vlan,
            list(device.get('assigned_to') or []), list(device.get('blockers') or [])]


def with_vf_tables(devices: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Compact device facts (sorted by name, each pci.sriov with vfs None) with each PF's VFs in a table
    of its pci.sriov.vfs and out of the list. The devices given are changed (they are the facts being made)."""
    by_address = dict((pci_address_of_name(device['name']), device) for device in devices)
    vfs_of: Dict[str, List[Dict[str, Any]]] = {}
    for device in devices:
        pf_address = _sriov(device).get('physical_function')
        if isinstance(pf_address, str) and pf_address in by_address and isinstance(_sriov(device).get('vf_index'), int):
            vfs_of.setdefault(pf_address, []).append(device)
    tabled = set()
    for pf_address, vfs in vfs_of.items():
        pf = by_address[pf_address]
        if not isinstance(pf.get('pci'), Mapping) or not isinstance(pf['pci'].get('sriov'), dict):
            continue
        vfs.sort(key=lambda device: device['pci']['sriov']['vf_index'])
        ids = _ids(vfs[0])
        rows = []
        for vf in vfs:
            row = _row(vf, pf_address, ids)
            if row is not None:
                rows.append(row)
                tabled.add(vf['name'])
        if rows:
            pf['pci']['sriov']['vfs'] = {'columns': list(VF_COLUMNS), 'pci': ids, 'rows': rows}
    return [device for device in devices if device['name'] not in tabled]


def _vf_devices(pf: Mapping[str, Any], table: Any, error: Type[HostdevError]) -> List[Dict[str, Any]]:
    """The compact VF devices of one PF's table; error names what is wrong with a table that is not one."""
    where = 'the VF table of %s (pci.sriov.vfs)' % shown(pf.get('name'))
    if not isinstance(table, Mapping) or list(table.get('columns') or ()) != list(VF_COLUMNS) \
            or not isinstance(table.get('pci'), Mapping) or not isinstance(table.get('rows'), list):
        raise error('%s is %s, not a table with the columns %s, the VFs\' pci ids and rows: gather the facts again '
                    'with this version of virt.hostdev.hostdev_facts' % (where, described(table), ', '.join(VF_COLUMNS)))
    pf_address = pci_address_of_name(pf.get('name'))
    devices = []
    for index, row in enumerate(table['rows']):
        parsed = parse_pci_address(row[1]) if isinstance(row, list) and len(row) == len(VF_COLUMNS) \
            and isinstance(row[1], str) else None
        if parsed is None or not isinstance(row[0], int) or not isinstance(row[6], list) or not isinstance(row[7], list):
            raise error('%s: row %d, %s, is not a row of %s (an index, a PCI address, ..., two lists)'
                        % (where, index, shown(json.dumps(row, default=str)), ', '.join(VF_COLUMNS)))
        vf_index, _address, driver, group, mac, vlan, holders, blockers = row
        link = None if mac is None and vlan is None else {'mac': mac, 'vlan': vlan}
        sriov = {'totalvfs': None, 'numvfs': None, 'physical_function': pf_address, 'vf_index': vf_index,
                 'link': link, 'vfs': None}
        devices.append({'name': pci_name(*parsed), 'type': 'pci', 'driver': driver, 'iommu_group': group,
                        'assigned_to': list(holders), 'assignable': not blockers, 'blockers': list(blockers),
                        'pci': dict(table['pci'], sriov=sriov)})
    return devices


def has_vf_tables(devices: Any) -> bool:
    return isinstance(devices, list) and any(
        isinstance(device, Mapping) and _sriov(device).get('vfs') is not None for device in devices)


def listed_devices(devices: Iterable[Any], error: Type[HostdevError] = HostdevError) -> List[Any]:
    """The devices facts list: the devices, and the VFs of every PF's table as compact devices of their
    own, sorted by name (what compact facts listed before VF tables). Full facts have no tables: their
    devices as they are. Anything that is not a device dict is passed on, for the caller to name."""
    devices = list(devices)
    if not has_vf_tables(devices):
        return devices
    listed = list(devices)
    names = set(device.get('name') for device in devices if isinstance(device, Mapping))
    for device in devices:
        table = _sriov(device).get('vfs') if isinstance(device, Mapping) else None
        if table is not None:  # a list expanded already has its VFs: they are not added twice
            listed += [vf for vf in _vf_devices(device, table, error) if vf['name'] not in names]
    return sorted(listed, key=lambda device: str(device.get('name')) if isinstance(device, Mapping) else '')


def with_virtual_functions(records: List[Dict[str, Any]]) -> None:
    """A PF's virtual_functions where the facts leave them out (compact facts): the addresses of the
    VFs the records list with it as physical_function, in VF index order (the records are changed: they
    are copies, facts_format.records_of_facts made them), and no vfs table."""
    pfs = {}
    for record in records:
        sriov = (record.get('pci') or {}).get('sriov')
        if isinstance(sriov, Mapping):
            sriov = record['pci']['sriov'] = dict((key, value) for key, value in sriov.items() if key != 'vfs')
            if 'virtual_functions' not in sriov and sriov.get('totalvfs') is not None:
                pfs[record['pci'].get('address')] = sriov['virtual_functions'] = []
    vfs = []
    for record in records:
        sriov = (record.get('pci') or {}).get('sriov') or {}
        if sriov.get('physical_function') in pfs and isinstance(sriov.get('vf_index'), int):
            vfs.append((sriov['vf_index'], record['pci'].get('address'), sriov['physical_function']))
    for _index, address, pf in sorted(vfs):
        pfs[pf].append(address)
