# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the plan of a set of mediated devices (mdevs module). No I/O happens here.

``plan_mdevs()`` takes the host as read (a HostModel), the request and the ways of changing mdevs
this host has (``methods``, best first), and returns the actions that give the set the wanted state
and every problem at once, before anything changes. The set is the UUIDs given, or those derived
from a name (model.mdev.derived_uuids); with a name, derived UUIDs at an index at or above count
are removed too. An existing mdev keeps its parent; a missing one is placed on a parent offering
the type with room (available instances), filling parents in name order or spreading across them.

Actions, in the order they run (removals first, so their instances are free for what follows):
stop, undefine, then per mdev in index order: create (transient), define (persistent, with its
autostart), autostart (changed), start.

A state (active, persistent, autostart) the reader could not tell comes from ``known``
(mdev_known.known_states); one still unknown that an action depends on is refused, never guessed.

Problem codes (a stable interface, also in the module's documentation and docs/mediated-devices.md):
  mdev_parent_gone, not_mdev_parent, type_not_offered, not_enough_instances, type_conflict,
  mdev_held, uuid_type_mismatch, mdev_state_unknown, no_persistence (and autostart_broken, from
  mdev_autostart).
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import (
    DeviceReferenceError,
    HostdevError,
    described,
    shown,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import (
    STATE_KEYS,
    derived_uuids,
    mdev_of,
    mdevs_of,
    parent_address,
    parent_types,
    state_of,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import mdev_name, normalize_uuid
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import Problem, problem

STATES = ('present', 'absent')
PLACEMENTS = ('fill', 'spread')
METHODS = ('libvirt', 'mdevctl', 'sysfs')
# What each way can do: sysfs writes create and remove only, so nothing it does outlives a reboot.
CAN = {
    'libvirt': ('create', 'define', 'autostart', 'start', 'stop', 'undefine'),
    'mdevctl': ('create', 'define', 'autostart', 'start', 'stop', 'undefine'),
    'sysfs': ('create', 'stop'),
}
# Derived UUIDs looked for beyond count and the host's number of mdevs (a name's mdevs removed by
# lowering count or state absent are found at any index a run can have made).
SCAN_BEYOND = 64


@dataclass(frozen=True)
class MdevRequest:
    """What the user asked: a name (UUIDs derived) or uuids, and what the set should be."""

    name: Optional[str] = None
    uuids: Optional[List[str]] = None
    type: Optional[str] = None
    count: Optional[int] = None
    parent: Optional[str] = None
    placement: str = 'fill'
    persistent: bool = True
    autostart: Optional[bool] = None
    state: str = 'present'

    @property
    def wanted_autostart(self) -> bool:
        """autostart unset follows persistent: a defined mdev comes back with its parent."""
        return self.persistent if self.autostart is None else bool(self.autostart)

    @property
    def wanted_count(self) -> int:
        if self.uuids is not None:
            return len(self.uuids)
        return 1 if self.count is None else int(self.count)


@dataclass
class MdevAction:
    """One step: action on uuid (of type, on parent: node device name and sysfs name)."""

    action: str
    uuid: str
    parent: Optional[str]
    parent_address: Optional[str]
    type: Optional[str]
    autostart: Optional[bool] = None

    def result(self) -> Dict[str, Any]:
        return {'action': self.action, 'uuid': self.uuid, 'parent': self.parent, 'type': self.type,
                'autostart': self.autostart}


@dataclass
class MdevPlan:
    """The set before and after, the actions between, the way chosen, and problems that refuse the run."""

    before: List[Dict[str, Any]] = field(default_factory=list)
    mdevs: List[Dict[str, Any]] = field(default_factory=list)
    removed: List[Dict[str, Any]] = field(default_factory=list)
    actions: List[MdevAction] = field(default_factory=list)
    method: Optional[str] = None
    problems: List[Problem] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)


def check_request(request: MdevRequest) -> None:
    """Refuse what no host could satisfy, before the host is read."""
    if request.state not in STATES:
        raise HostdevError('state must be one of %s, not %s' % (', '.join(STATES), shown(request.state)))
    if request.placement not in PLACEMENTS:
        raise HostdevError('placement must be one of %s, not %s' % (', '.join(PLACEMENTS), shown(request.placement)))
    if (request.name is None) == (request.uuids is None):
        raise HostdevError('name the mediated devices with exactly one of name and uuids')
    if request.name is not None and (not isinstance(request.name, str) or not request.name.strip()):
        raise HostdevError('name must be a non-empty string, not %s' % described(request.name))
    if request.uuids is not None:
        if not isinstance(request.uuids, list) or not request.uuids:
            raise HostdevError('uuids must be a non-empty list of UUIDs, not %s' % described(request.uuids))
        bad = [shown(item) for item in request.uuids if normalize_uuid(item) is None]
        if bad:
            raise HostdevError('uuids holds what is not a UUID (like 4b20d080-1b54-4048-85b3-a6a62d165c01): %s'
                               % ', '.join(bad))
        normalized = [str(normalize_uuid(item)) for item in request.uuids]
        twice = sorted(set(item for item in normalized if normalized.count(item) > 1))
        if twice:
            raise HostdevError('uuids names %s more than once' % ', '.join(str(item) for item in twice))
        if request.count is not None and request.count != len(request.uuids):
            raise HostdevError('count is the number of uuids (%d) when uuids is given, not %s: leave it out'
                               % (len(request.uuids), shown(request.count)))
    if request.count is not None and (isinstance(request.count, bool) or not isinstance(request.count, int)
                                      or request.count < 0):
        raise HostdevError('count must be a number of mediated devices, 0 or more, not %s' % shown(repr(request.count)))
    if request.state == 'present' and not request.type:
        raise HostdevError('type (the mdev type id, like mtty-2 or nvidia-35) is required with state present')
    if request.autostart and not request.persistent:
        raise HostdevError('autostart needs persistent: true (only a defined mediated device is started with its '
                           'parent)')


def wanted_uuids(model: HostModel, request: MdevRequest) -> Tuple[List[str], List[str]]:
    """(the set's UUIDs in index order, UUIDs to remove): with a name, the derived UUIDs at index count and
    above that exist on the host are removed (all of them with state absent)."""
    if request.uuids is not None:
        uuids = [str(normalize_uuid(item)) for item in request.uuids]
        return (uuids, []) if request.state == 'present' else ([], uuids)
    keep = request.wanted_count if request.state == 'present' else 0
    existing = set(_by_uuid(model))
    scan = derived_uuids(str(request.name), max(keep, len(existing)) + SCAN_BEYOND)
    return scan[:keep], [item for item in scan[keep:] if item in existing]


def plan_mdevs(model: HostModel, request: MdevRequest, methods: Sequence[str] = METHODS,
               known: Optional[Mapping[str, Mapping[str, Any]]] = None) -> MdevPlan:
    """The actions that give the set its wanted state, with every problem; methods: the ways this host has;
    known: {uuid: {state key: True or False}} found out for mdevs whose reader could not tell."""
    check_request(request)
    plan = MdevPlan()
    records = _with_known(_by_uuid(model), known or {})
    keep, remove = wanted_uuids(model, request)
    room = _Room(model, request.type)
    for uuid in remove:
        record = records.get(uuid)
        if record is None:
            continue
        plan.before.append(_entry(model, uuid, record))
        plan.removed.append(_entry(model, uuid, record))
        plan.problems += _held(model, record, 'removing it')
        unknown = _unknown(record, ('active', 'persistent'), 'remove it')
        plan.problems += unknown
        if not unknown:
            _remove(plan, record)
            room.free(record)
    named, parent_problems = _named_parent(model, request)
    plan.problems += parent_problems
    missing = []
    for uuid in keep:
        record = records.get(uuid)
        if record is None:
            missing.append(uuid)
            continue
        plan.before.append(_entry(model, uuid, record))
        plan.problems += _existing(plan, model, request, named, room, uuid, record)
    if missing and not parent_problems:
        plan.problems += _place(plan, model, request, named, room, missing)
    plan.mdevs = _ordered(plan.mdevs, keep)
    if not plan.problems:
        _choose_method(plan, methods)
    return plan


class _Room:
    """Available instances of the type per parent, as the plan takes and frees them."""

    def __init__(self, model: HostModel, mdev_type: Optional[str]) -> None:
        self.type = mdev_type
        self.left: Dict[str, Optional[int]] = {}
        for name in model.names():
            offered = _offered(model.device(name), mdev_type)
            if offered is not None:
                self.left[name] = offered.get('available_instances')

    def free(self, record: Dict[str, Any]) -> None:
        mdev = record.get('mdev') or {}
        parent = str(record.get('parent'))
        if state_of(record) and mdev.get('type') == self.type and self.left.get(parent) is not None:
            self.left[parent] = int(self.left[parent] or 0) + 1

    def has(self, parent: str) -> bool:
        left = self.left.get(parent, 0)
        return left is None or left > 0  # unknown: the kernel's answer decides

    def take(self, parent: str) -> None:
        if self.left.get(parent) is not None:
            self.left[parent] = int(self.left[parent] or 0) - 1


def _offered(record: Dict[str, Any], mdev_type: Optional[str]) -> Optional[Dict[str, Any]]:
    for item in parent_types(record) or []:
        if item.get('type') == mdev_type:
            return item
    return None


def _by_uuid(model: HostModel) -> Dict[str, Dict[str, Any]]:
    found: Dict[str, Dict[str, Any]] = {}
    for name in model.names():
        record = model.device(name)
        uuid = (record.get('mdev') or {}).get('uuid') if record.get('type') == 'mdev' else None
        if uuid:
            found.setdefault(uuid, record)  # one UUID on two parents: libvirt lists both; the first is kept
    return found


def _with_known(records: Dict[str, Dict[str, Any]], known: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """The records with each state their reader could not tell taken from known (copies: the model stays)."""
    resolved = dict(records)
    for uuid, record in records.items():
        found = known.get(uuid) or {}
        filled = dict((key, found[key]) for key in STATE_KEYS
                      if state_of(record, key) is None and isinstance(found.get(key), bool))
        if filled:
            resolved[uuid] = dict(record, mdev=dict(mdev_of(record), **filled))
    return resolved


def _unknown(record: Dict[str, Any], keys: Sequence[str], doing: str) -> List[Problem]:
    """mdev_state_unknown for the states among keys that are still unknown (an action depends on each)."""
    missing = [key for key in keys if state_of(record, key) is None]
    if not missing:
        return []
    return [problem('mdev_state_unknown', record['name'], 'whether mediated device %s is %s could not be read (its '
                    'reader could not tell, nor could /sys/bus/mdev/devices or mdevctl\'s definitions in '
                    '/etc/mdevctl.d), so this run cannot %s without guessing; nothing was planned for it: check it '
                    'with mdevctl list --defined, or read the host with source: sysfs'
                    % (mdev_of(record).get('uuid'), ' and '.join(missing), doing))]


def _entry(model: HostModel, uuid: str, record: Optional[Dict[str, Any]], parent: Optional[str] = None,
           address: Optional[str] = None, mdev_type: Optional[str] = None, active: bool = False,
           persistent: bool = False, autostart: bool = False) -> Dict[str, Any]:
    """A member of the set as the module returns it (the record's state, or the values given)."""
    if record is not None:
        mdev = record.get('mdev') or {}
        parent = record.get('parent') if record.get('parent') in model else None
        address, mdev_type = mdev.get('parent_address'), mdev.get('type')
        active, persistent, autostart = (state_of(record, key) is True for key in STATE_KEYS)
    return {'uuid': uuid, 'name': mdev_name(uuid, address), 'parent': parent, 'parent_address': address,
            'type': mdev_type, 'active': active, 'persistent': persistent, 'autostart': autostart}


def _held(model: HostModel, record: Dict[str, Any], doing: str) -> List[Problem]:
    holders = model.assigned_to(record['name'])
    if not holders:
        return []
    return [problem('mdev_held', record['name'], 'mediated device %s is held by %s, and %s takes it from them: '
                    'release it first (virt.hostdev.domain_hostdev state: absent)'
                    % (record['mdev']['uuid'], ', '.join(holders), doing))]


def _remove(plan: MdevPlan, record: Dict[str, Any]) -> None:
    if state_of(record):
        plan.actions.append(_action('stop', record))
    if state_of(record, 'persistent'):
        plan.actions.append(_action('undefine', record))


def _action(action: str, record: Dict[str, Any], autostart: Optional[bool] = None) -> MdevAction:
    mdev = record['mdev']
    return MdevAction(action, mdev['uuid'], record.get('parent'), mdev.get('parent_address'), mdev.get('type'),
                      autostart)


def _named_parent(model: HostModel, request: MdevRequest) -> Tuple[Optional[str], List[Problem]]:
    """(the parent's node device name, problems) when request.parent names one; (None, []) otherwise."""
    if request.parent is None or request.state == 'absent':
        return None, []
    reference = str(request.parent).strip()
    try:
        name: Optional[str] = model.resolve_reference(reference)
    except DeviceReferenceError:
        by_address = [item for item in model.names() if model.device(item).get('type') != 'mdev'
                      and parent_types(model.device(item)) is not None
                      and parent_address(model.device(item)) == reference]
        name = by_address[0] if by_address else None
    if name is None:
        return None, [problem('mdev_parent_gone', shown(reference), 'the parent %s is not on this host (no node device, '
                              'PCI address or mdev parent of that name)' % shown(reference))]
    record = model.device(name)
    types = parent_types(record)
    if not types:
        return None, [problem('not_mdev_parent', name, '%s offers no mediated device types (no mdev_supported_types): '
                              'its driver does not make mdevs' % name)]
    if _offered(record, request.type) is None:
        return None, [problem('type_not_offered', name, '%s does not offer mdev type %s; it offers %s'
                              % (name, shown(request.type), ', '.join(str(item.get('type')) for item in types)))]
    return name, []


def _existing(plan: MdevPlan, model: HostModel, request: MdevRequest, named: Optional[str], room: _Room,
              uuid: str, record: Dict[str, Any]) -> List[Problem]:
    """The actions that bring an existing member to the wanted state (it keeps its parent), or its problems."""
    mdev = record['mdev']
    entry = _entry(model, uuid, record)
    problems = []
    if mdev.get('type') != request.type:
        problems.append(problem('uuid_type_mismatch', record['name'], 'mediated device %s exists with type %s, not %s: '
                                'a type is changed by removing it first (state: absent)'
                                % (uuid, mdev.get('type'), shown(request.type))))
        problems += _held(model, record, 'changing its type')
    if named is not None and record.get('parent') != named:
        problems.append(problem('uuid_type_mismatch', record['name'], 'mediated device %s exists on %s, not on %s'
                                % (uuid, record.get('parent') or mdev.get('parent_address'), named)))
    if entry['parent'] is None:
        problems.append(problem('mdev_parent_gone', record['name'], 'mediated device %s is defined on %s, which is '
                                'not on this host' % (uuid, mdev.get('parent_address') or record.get('parent'))))
    if problems:
        return problems
    needed = ('active', 'persistent') + (('autostart',) if request.persistent and state_of(record, 'persistent') else ())
    problems = _unknown(record, needed, 'bring it to the state asked')
    if problems:
        return problems
    after = dict(entry)
    start = not state_of(record)  # known by now (_unknown): True or False
    if request.persistent:
        if not state_of(record, 'persistent'):
            plan.actions.append(_action('define', record, request.wanted_autostart))
        elif bool(state_of(record, 'autostart')) != request.wanted_autostart:
            plan.actions.append(_action('autostart', record, request.wanted_autostart))
        after.update(persistent=True, autostart=request.wanted_autostart)
    elif state_of(record, 'persistent'):
        after.update(persistent=False, autostart=False)
    if start:
        if not room.has(record['parent']):
            problems += _short(model, request, [record['parent']], 1)
        room.take(record['parent'])
        plan.actions.append(_action('start', record))
        after['active'] = True
    if state_of(record, 'persistent') and not request.persistent:
        plan.actions.append(_action('undefine', record))  # after its start: it stays, transient
    plan.mdevs.append(after)
    return problems


def _place(plan: MdevPlan, model: HostModel, request: MdevRequest, named: Optional[str], room: _Room,
           missing: List[str]) -> List[Problem]:
    """Put each missing UUID on a parent with room: the named one, or fill / spread across those offering the type."""
    parents = [named] if named else sorted(room.left)
    if not parents:
        return [problem('type_not_offered', shown(request.type), 'no device on this host offers mdev type %s'
                        % shown(request.type))]
    members = {parent: sum(1 for item in plan.mdevs if item['parent'] == parent) for parent in parents}
    placed = 0
    for uuid in missing:
        open_parents = [parent for parent in parents if room.has(parent)]
        if not open_parents:
            break
        parent = (open_parents[0] if request.placement == 'fill'
                  else min(open_parents, key=lambda item: (members[item], parents.index(item))))
        room.take(parent)
        members[parent] += 1
        placed += 1
        record = model.device(parent)
        new = _entry(model, uuid, None, parent, parent_address(record), request.type, active=True,
                     persistent=request.persistent, autostart=request.persistent and request.wanted_autostart)
        if request.persistent:
            plan.actions.append(MdevAction('define', uuid, parent, new['parent_address'], request.type,
                                           request.wanted_autostart))
            plan.actions.append(MdevAction('start', uuid, parent, new['parent_address'], request.type))
        else:
            plan.actions.append(MdevAction('create', uuid, parent, new['parent_address'], request.type))
        plan.mdevs.append(new)
    if placed < len(missing):
        return _short(model, request, parents, len(missing) - placed)
    return []


def _short(model: HostModel, request: MdevRequest, parents: List[str], lacking: int) -> List[Problem]:
    """not_enough_instances, or type_conflict where a parent offers the type with 0 left because another type
    already has instances there (vendor drivers allow one type per parent at a time)."""
    problems = []
    counts = []
    for parent in parents:
        record = model.device(parent)
        offered = _offered(record, request.type) or {}
        available = offered.get('available_instances')
        others = sorted(set(str((item.get('mdev') or {}).get('type')) for item in mdevs_of([model.device(name) for name in model.names()], record)
                            if state_of(item)
                            and (item.get('mdev') or {}).get('type') != request.type))
        if available == 0 and others:
            problems.append(problem('type_conflict', parent, '%s has mediated devices of type %s and offers %s with 0 '
                                    'available instances: its driver takes one type at a time; remove those first'
                                    % (parent, ', '.join(others), shown(request.type))))
        counts.append('%s: %s' % (parent, 'unknown' if available is None else available))
    where = ', '.join(counts)
    return problems + [problem('not_enough_instances', parents[0] if len(parents) == 1 else shown(request.type),
                               '%d more mediated device%s of type %s needed than there are available instances '
                               '(%s)' % (lacking, '' if lacking == 1 else 's', shown(request.type), where))]


def _ordered(mdevs: List[Dict[str, Any]], keep: List[str]) -> List[Dict[str, Any]]:
    position = dict((uuid, index) for index, uuid in enumerate(keep))
    return sorted(mdevs, key=lambda item: position[item['uuid']])


def _choose_method(plan: MdevPlan, methods: Sequence[str]) -> None:
    """The first way (best first) that can take every action; none: no_persistence."""
    if not plan.actions:
        return
    needed = set(action.action for action in plan.actions)
    for method in methods:
        if needed <= set(CAN[method]):
            plan.method = method
            return
    persistent = sorted(needed - set(CAN['sysfs']))
    plan.problems.append(problem('no_persistence', None, 'this run needs to %s mediated devices, which only libvirt '
                                 '(7.3 or later, with mdevctl) or mdevctl can do, and this host has neither (%s): '
                                 'install mdevctl, or ask persistent: false'
                                 % (', '.join(persistent), ', '.join(methods) or 'no way at all')))
