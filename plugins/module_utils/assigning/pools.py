# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: pools of devices (the VFs of a PF, the devices of a device mapping, the mdevs of a type) and the
first free ones. No I/O happens here.

A pool request asks for ``count`` devices of a pool instead of naming them. The devices of the pool
the domain already holds count first (so a second run changes nothing), then the free ones in PCI
address order (mdevs: in parent and UUID order, active ones only; one whose state
its reader could not tell only after the known-active ones, with a warning naming it), where free means that taking it alone for this domain raises no refusal
(refusals.ASSIGN: eligible, its group viable, held by no other domain, not used by the host).
The caller runs under the host lock from the read to the last edit, so two runs never pick the
same free device.

Problem codes (a stable interface, also in docs/domain_hostdev.md): pool_unresolved, pool_exhausted.
Also here: which PF and count would create a VF address the host does not have (vf_slot_hint, from
model.sriov's VF slots).
"""

from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import (
    DeviceReferenceError,
    HostdevError,
    described,
    shown,
)
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.interfaces import RequestError
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.mappings import resolve_mappings
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import mdev_of, state_of, unknown_active_text
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev_pool import mdev_pool
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    parse_pci_address,
    pci_address,
    pci_address_of_name,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import ASSIGN, Problem, problem, refusals
from ansible_collections.virt.hostdev.plugins.module_utils.model.sriov import (
    not_a_pf_text,
    resolve_function,
    sriov_of,
    unplaced_vf_text,
    vf_slot_of,
)

POOL_KEYS = ('pf', 'mapping', 'mdev_type', 'parent', 'mappings', 'host', 'count')
POOL_KINDS = ('pf', 'mapping', 'mdev_type')


def checked_pool(pool: Optional[Mapping[str, Any]], state: str) -> Optional[Dict[str, Any]]:
    """The pool option, checked (exactly one of pf, mapping and mdev_type; a count of at least 1), or None."""
    if pool is None:
        return None
    if not isinstance(pool, Mapping):
        raise RequestError('pool must be a dict with pf, mapping or mdev_type, and count, not %s' % described(pool))
    unknown = sorted(str(key) for key in pool if key not in POOL_KEYS)
    if unknown:
        raise RequestError('pool has unknown keys %s (known: %s)' % (', '.join(unknown), ', '.join(POOL_KEYS)))
    given = [key for key in POOL_KINDS if pool.get(key) not in (None, '')]
    if len(given) != 1:
        raise RequestError('pool needs exactly one of pf (a PF\'s PCI address or netdev name), mapping (a device '
                           'mapping name) and mdev_type (a mediated device type id), not %s'
                           % (' and '.join(given) or 'none'))
    for key in given + (['parent'] if pool.get('parent') is not None else []):
        if not isinstance(pool[key], str) or not pool[key].strip():
            raise RequestError('pool.%s must be a non-empty string, not %s' % (key, described(pool[key])))
    if pool.get('parent') is not None and given != ['mdev_type']:
        raise RequestError('pool.parent (the parent of the mdevs) goes with pool.mdev_type only')
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
    if pool.get('mdev_type'):
        return 'pool of the mdevs of type %s%s' % (pool['mdev_type'], ' on %s' % pool['parent'] if pool.get('parent') else '')
    return 'pool of device mapping %s' % pool['mapping']


def _address(value: Any) -> Optional[str]:
    """The PCI address of a node device name or an address in any form; None otherwise."""
    by_name = pci_address_of_name(value)
    if by_name:
        return by_name
    parsed = parse_pci_address(value) if isinstance(value, str) else None
    return pci_address(*parsed) if parsed else None


def virtual_functions(model: HostModel, pf: str) -> List[str]:
    """Node device names of the VFs a PF lists, in PCI address order."""
    return sorted(model.virtual_functions(pf), key=_sort_key(model))


def _sort_key(model: HostModel):
    return lambda name: (model.device(name).get('pci') or {}).get('address') or name


def find_pf(model: HostModel, reference: str) -> Tuple[Optional[str], Optional[str]]:
    """(node device name of the PF, None), or (None, why not), for a PCI address or a netdev name."""
    try:
        name = resolve_function(model, reference)
    except DeviceReferenceError as error:
        return None, str(error)
    why = not_a_pf_text(model, name)
    if why is None and not sriov_of(model, name)['totalvfs']:
        why = '%s can have no virtual functions (its sriov_totalvfs is 0)' % name
    return (None, why) if why else (name, None)


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
    if pool.get('mdev_type'):
        mdevs = mdev_pool(model, pool['mdev_type'], pool.get('parent'))
        why = mdevs.missing()
        if why is None and not mdevs.members:
            why = 'type %s has no mdev yet (create them with virt.hostdev.mdevs)' % mdevs.mdev_type
        if why is not None:
            return [], [problem('pool_unresolved', shown(pool['mdev_type']), 'the %s is empty: %s' % (label, why))]
        return mdevs.members, []
    try:
        members = resolve_mappings(model, pool['mappings'], pool['mapping'], pool['host'], pools=True)
    except HostdevError as error:
        return [], [problem('pool_unresolved', shown(pool['mapping']), 'the %s cannot be used: %s'
                            % (label, error.message))]
    return sorted(members, key=_member_key(model)), []


def _member_key(model: HostModel):
    """PCI devices by address, mdevs by parent and UUID (and after PCI devices)."""
    def key(name):
        mdev = mdev_of(model.device(name))
        return (1, model.device(name).get('parent') or '', mdev['uuid'] or '') if mdev else (0, _sort_key(model)(name), '')
    return key


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
    unknown: List[str] = []  # free, but whether they exist now could not be read: taken after the known ones
    for name in members:
        if len(chosen) >= count:
            break
        if name in own:
            continue
        active = state_of(model.device(name))
        if active is False:
            # A pool hands out mdevs a guest can use now; mdev_start names one to start.
            busy[name] = 'inactive (defined, not started)'
            continue
        reasons = refusals(model, [name], ASSIGN, domain=domain, force=force)
        if reasons:
            holders = ([dom for dom in model.assigned_to(name) if dom != domain]
                       + ['network %s' % net for net in model.held_by_network(name)])
            busy[name] = ('held by %s' % ', '.join(holders) if holders
                          else 'not assignable: %s' % ', '.join(sorted(set(str(item['code']) for item in reasons))))
            continue
        if active is None and mdev_of(model.device(name)):
            unknown.append(name)
            continue
        chosen.append(name)
    for name in unknown:
        if len(chosen) >= count:
            break
        chosen.append(name)
        warnings.append('the %s has no other free mdev whose state is known: %s' % (
            pool_label(pool), unknown_active_text(model.device(name))))
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

def vf_slot_hint(model: HostModel, reference: Any) -> Optional[str]:
    """What to say of a PCI address the host lacks that is a VF slot of one of its PFs, or may be one of a PF
    whose VF layout is unknown; None otherwise."""
    address = _address(reference)
    slot = vf_slot_of(model, address) if address else None
    if slot is None:
        unplaced = unplaced_vf_text(model, address) if address else None
        return '%s is not on this host: %s' % (address, unplaced) if unplaced else None
    pf, index = slot[0], slot[1]
    return ('%s is not on this host: it is VF %d of %s, which has %d VFs now (of %d): it appears when the '
            'VF count of %s is at least %d (virt.hostdev.sriov_vfs with device: %s and count: %d)'
            % (address, index, pf, len(model.virtual_functions(pf)), sriov_of(model, pf)['totalvfs'], pf,
               index + 1, model.device(pf)['pci']['address'], index + 1))
