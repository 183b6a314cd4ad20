# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: pools of devices (the VFs of a PF, the devices of a device mapping) and the first free ones.
No I/O happens here.

A pool request asks for ``count`` devices of a pool instead of naming them. The devices of the pool
the domain already holds count first (so a second run changes nothing), then the free ones in PCI
address order, where free means that taking it alone for this domain raises no refusal
(refusals.ASSIGN: eligible, its group viable, held by no other domain, not used by the host).
The caller runs under the host lock from the read to the last edit, so two runs never pick the
same free device.

Problem codes (a stable interface, also in docs/domain_hostdev.md): pool_unresolved, pool_exhausted.
Also here: which PF and count would create a VF address the host does not have (vf_slot_hint).
"""

from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, described, shown
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.interfaces import RequestError
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.mappings import resolve_mappings
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    parse_pci_address,
    pci_address,
    pci_address_of_name,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import ASSIGN, Problem, problem, refusals

POOL_KEYS = ('pf', 'mapping', 'mappings', 'host', 'count')


def checked_pool(pool: Optional[Mapping[str, Any]], state: str) -> Optional[Dict[str, Any]]:
    """The pool option, checked (exactly one of pf and mapping; a count of at least 1), or None."""
    if pool is None:
        return None
    if not isinstance(pool, Mapping):
        raise RequestError('pool must be a dict with pf or mapping, and count, not %s' % described(pool))
    unknown = sorted(str(key) for key in pool if key not in POOL_KEYS)
    if unknown:
        raise RequestError('pool has unknown keys %s (known: %s)' % (', '.join(unknown), ', '.join(POOL_KEYS)))
    given = [key for key in ('pf', 'mapping') if pool.get(key) not in (None, '')]
    if len(given) != 1:
        raise RequestError('pool needs exactly one of pf (a PF\'s PCI address or netdev name) and mapping (a device '
                           'mapping name), not %s' % (' and '.join(given) or 'neither'))
    for key in given:
        if not isinstance(pool[key], str):
            raise RequestError('pool.%s must be a string, not %s' % (key, described(pool[key])))
    if given == ['mapping'] and (pool.get('mappings') is None or not pool.get('host')):
        raise RequestError('pool.mapping needs pool.mappings (the mapping table, such as hostdev_mappings) and '
                           'pool.host (this host\'s inventory name, inventory_hostname)')
    count = pool.get('count', 1)
    if count is None:
        count = 1
    if isinstance(count, bool) or not isinstance(count, int) or (count < 1 and state == 'present'):
        raise RequestError('pool.count must be a number of devices of at least 1, not %s' % described(count))
    checked = dict(pool)
    checked['count'] = count
    return checked


def pool_label(pool: Mapping[str, Any]) -> str:
    """What messages call a pool."""
    if pool.get('pf'):
        return 'pool of the VFs of %s' % pool['pf']
    return 'pool of device mapping %s' % pool['mapping']


def _address(value: Any) -> Optional[str]:
    """The PCI address of a node device name or an address in any form; None otherwise."""
    by_name = pci_address_of_name(value)
    if by_name:
        return by_name
    parsed = parse_pci_address(value) if isinstance(value, str) else None
    return pci_address(*parsed) if parsed else None


def _named(model: HostModel, value: Any) -> Optional[str]:
    """The node device name at a PCI address (or of a node device name), None when the host has none."""
    address = _address(value)
    found = model.match_source({'type': 'pci', 'address': address}) if address else []
    return found[0] if found else None


def sriov_of(model: HostModel, name: str) -> Dict[str, Any]:
    return ((model.device(name).get('pci') or {}).get('sriov')) or {}


def virtual_functions(model: HostModel, pf: str) -> List[str]:
    """Node device names of the VFs a PF lists, in PCI address order."""
    names = [_named(model, value) for value in sriov_of(model, pf).get('virtual_functions') or ()]
    return sorted((name for name in names if name), key=_sort_key(model))


def _sort_key(model: HostModel):
    return lambda name: (model.device(name).get('pci') or {}).get('address') or name


def find_pf(model: HostModel, reference: str) -> Tuple[Optional[str], Optional[str]]:
    """(node device name of the PF, None), or (None, why not), for a PCI address or a netdev name."""
    text = reference.strip()
    name = None
    if _address(text):
        name = _named(model, text)
        if name is None:
            return None, 'there is no PCI device %s on this host' % _address(text)
    else:
        for candidate in model.names():
            record = model.device(candidate)
            if record.get('type') == 'net' and (record.get('net') or {}).get('interface') == text:
                name = record.get('parent')
                break
        if name is None or name not in model:
            return None, 'there is no PCI address or network interface %s on this host' % shown(text)
    sriov = sriov_of(model, name)
    if not sriov.get('totalvfs'):
        return None, '%s is not an SR-IOV physical function (it has no sriov_totalvfs)' % name
    return name, None


def pool_members(model: HostModel, pool: Mapping[str, Any]) -> Tuple[List[str], List[Problem]]:
    """(the pool's devices in PCI address order, problems)."""
    label = pool_label(pool)
    if pool.get('pf'):
        pf, why = find_pf(model, pool['pf'])
        if pf is None:
            return [], [problem('pool_unresolved', shown(pool['pf']), 'the %s cannot be used: %s' % (label, why))]
        members = virtual_functions(model, pf)
        if not members:
            return [], [problem('pool_unresolved', pf, 'the %s is empty: %s has no VFs now (set its count with '
                                                       'virt.hostdev.sriov_vfs)' % (label, pf))]
        return members, []
    try:
        members = resolve_mappings(model, pool['mappings'], pool['mapping'], pool['host'])
    except HostdevError as error:
        return [], [problem('pool_unresolved', shown(pool['mapping']), 'the %s cannot be used: %s'
                            % (label, error.message))]
    return sorted(members, key=_sort_key(model)), []


def choose(model: HostModel, domain: str, pool: Mapping[str, Any], members: List[str], own: Set[str],
           state: str, force: bool = False) -> Tuple[List[str], List[str], List[Problem]]:
    """(names, warnings, problems): the pool's devices this request comes to.

    present: the members the domain holds (own) first, then the free ones, count in all; absent:
    every member the domain holds.
    """
    held = [name for name in members if name in own]
    if state == 'absent':
        return held, [], []
    count = pool['count']
    warnings = []
    if len(held) > count:
        warnings.append('domain %s holds %d devices of the %s, more than count %d: it keeps them all (state: absent '
                        'with the devices releases some)' % (domain, len(held), pool_label(pool), count))
    chosen = held[:count]
    busy: Dict[str, str] = {}
    for name in members:
        if len(chosen) >= count:
            break
        if name in own:
            continue
        reasons = refusals(model, [name], ASSIGN, domain=domain, force=force)
        if reasons:
            holders = [dom for dom in model.assigned_to(name) if dom != domain]
            busy[name] = ('held by %s' % ', '.join(holders) if holders
                          else 'not assignable: %s' % ', '.join(sorted(set(str(item['code']) for item in reasons))))
            continue
        chosen.append(name)
    if len(chosen) < count:
        others = '; '.join('%s %s' % (name, why) for name, why in sorted(busy.items()))
        return chosen, warnings, [problem(
            'pool_exhausted', None,
            'the %s has %d devices, %d of them free for domain %s%s, and %d %s asked for: %s'
            % (pool_label(pool), len(members), len(chosen) - len(held[:count]), domain,
               ' (besides the %d it holds)' % len(held) if held else '', count,
               'was' if count == 1 else 'were', others or 'no other device'))]
    return chosen, warnings, []


# -- a VF address the host does not have ---------------------------------------------

def _routing_id(address: str) -> Optional[Tuple[int, int]]:
    parsed = parse_pci_address(address)
    if parsed is None:
        return None
    domain, bus, slot, function = parsed
    return domain, (bus << 8) | (slot << 3) | function


def _vf_layout(model: HostModel, pf: str) -> Optional[Tuple[int, int]]:
    """(offset, stride) of a PF's VF routing ids: from its record when it gives them, else from two VFs."""
    sriov = sriov_of(model, pf)
    if isinstance(sriov.get('offset'), int) and isinstance(sriov.get('stride'), int):
        return sriov['offset'], sriov['stride']
    base = _routing_id(model.device(pf)['pci']['address'])
    ids = [_routing_id(model.device(name)['pci']['address']) for name in virtual_functions(model, pf)]
    rids = sorted(found[1] for found in ids if found is not None)
    if base is None or len(rids) < 2 or len(rids) != len(ids):
        return None
    stride = rids[1] - rids[0]
    if stride <= 0 or any(later - earlier != stride for earlier, later in zip(rids, rids[1:])):
        return None
    return rids[0] - base[1], stride


def vf_slot_hint(model: HostModel, reference: Any) -> Optional[str]:
    """What to say of a PCI address the host lacks that is a VF slot of one of its PFs, or None."""
    wanted = _routing_id(_address(reference) or '')
    if wanted is None:
        return None
    for pf in model.names():
        record = model.device(pf)
        sriov = (record.get('pci') or {}).get('sriov') or {}
        if record.get('type') != 'pci' or not sriov.get('totalvfs'):
            continue
        layout = _vf_layout(model, pf)
        base = _routing_id(record['pci']['address'])
        if layout is None or base is None or base[0] != wanted[0]:
            continue
        offset, stride = layout
        index, remainder = divmod(wanted[1] - base[1] - offset, stride)
        if remainder == 0 and 0 <= index < sriov['totalvfs']:
            now = len(virtual_functions(model, pf))
            return ('%s is not on this host: it is VF %d of %s, which has %d VFs now (of %d): it appears when the '
                    'VF count of %s is at least %d (virt.hostdev.sriov_vfs with device: %s and count: %d)'
                    % (_address(reference), index, pf, now, sriov['totalvfs'], pf, index + 1,
                       record['pci']['address'], index + 1))
    return None
