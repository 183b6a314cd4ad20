# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: validate and plan a hostdev assignment. No I/O happens here.

An ``AssignmentRequest`` is what the user asks for (the module's options but the
connection ones). plan_assignment() takes it with a HostModel (a fresh read of
the host) and the domain's current definition(s), and returns a ``Plan``: the
resolved devices, the attach/detach edits per target (config, live), the devices
the assignment takes from the host (affected, impact), the predicted diff and
*every* problem found, so the caller can refuse the whole change at once.

Planning runs in named steps: choose the targets, read the current hostdevs, resolve
the devices (the references, or the first free ones of a pool: pools), plan the edits
(<hostdev>, or <interface type='hostdev'> with the interface option: interfaces), find
the affected devices and their impact, validate (state present only), predict the diff.

Problem codes (a stable interface, also in docs/domain_hostdev.md):
  unresolved_reference, not_eligible, iommu_off, iommu_group_unknown, group_not_viable,
  assigned_elsewhere, host_in_use, display_hotplug, transient_domain, nothing_to_change;
  not_a_network_device, hostdev_not_interface, mac_in_use (interfaces);
  pool_unresolved, pool_exhausted (pools); mdev_inactive, mdev_parent_gone (model.refusals).

A mediated device (mdev) goes in as <hostdev type='mdev'>, matched by UUID. With mdev_start, an inactive
defined mdev is started before the edits (Plan.started), and its mdev_inactive refusal is lifted.
"""

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.interfaces import (
    checked_interface,
    interface_edits,
    macs_in_use,
    owner_uuid,
)
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.pools import (
    checked_pool,
    choose,
    pool_members,
    vf_slot_hint,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import (
    is_assignable_type,
    usb_has_address,
    usb_has_ids,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import mdev_of, state_of, unknown_active_text
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import (
    build_hostdev,
    element_xml,
    hostdev_elements,
    hostdevs_text,
    sources_match,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import (
    ASSIGN,
    Problem,
    affected_devices,
    impact_entry,
    impact_label,
    problem,
    refusals,
    resolve_devices,
)

STATES = ('present', 'absent')
TARGETS = ('config', 'live')

# {'action': 'attach' or 'detach', 'device', 'target': 'config' or 'live', 'xml'}; 'update': 'yes' on the
# detach and attach pair that changes an interface's MAC or VLAN in place.
Edit = Dict[str, str]
# target -> the domain's <hostdev> elements there, each with its source dict.
Hostdevs = Dict[str, List[Tuple[ET.Element, Optional[Dict[str, Any]]]]]


@dataclass(frozen=True)
class AssignmentRequest:
    """One assignment run as the user asks for it (see the domain_hostdev options)."""

    domain: str
    devices: List[str]
    state: str = 'present'
    include_group: bool = False
    managed: bool = True
    live: bool = False
    config: bool = True
    force: bool = False
    pool: Optional[Dict[str, Any]] = None
    interface: Optional[Dict[str, Any]] = None
    mdev_start: bool = False

    def __post_init__(self) -> None:
        """Checks the options against each other (interfaces.RequestError names what is wrong)."""
        if self.state not in STATES:
            raise ValueError('state must be one of %s' % ', '.join(STATES))
        pool = checked_pool(self.pool, self.state)
        count = pool['count'] if pool is not None else len(self.devices)
        object.__setattr__(self, 'pool', pool)
        interface = checked_interface(self.interface, count, self.include_group, pooled=pool is not None)
        object.__setattr__(self, 'interface', interface)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> 'AssignmentRequest':
        """The request in a module's parameters; the other parameters (uri, source, ...) are left out."""
        values: Dict[str, Any] = dict((option.name, params.get(option.name)) for option in fields(cls))
        values['devices'] = values['devices'] or []
        return cls(**values)


@dataclass
class Plan:
    """What a request comes to on this host: the edits to make and every problem found.

    devices: resolved names in request order, then the group members include_group added.
    targets: the definitions edited ('config', 'live'). diff: before/after of the first one.
    pending_unplug: devices a live detach left in the running domain (set after the edits).
    started: inactive mdevs started before the edits (mdev_start).
    """

    devices: List[str]
    targets: List[str]
    edits: List[Edit]
    affected: List[str]
    impact: List[Dict[str, Any]]
    diff: Dict[str, str]
    problems: List[Problem]
    warnings: List[str]
    pending_unplug: List[str] = field(default_factory=list)
    interfaces: List[Dict[str, Any]] = field(default_factory=list)
    started: List[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.edits or self.started)

    @property
    def added(self) -> List[str]:
        return sorted(set(edit['device'] for edit in self.edits if edit['action'] == 'attach' and 'update' not in edit))

    @property
    def removed(self) -> List[str]:
        return sorted(set(edit['device'] for edit in self.edits if edit['action'] == 'detach' and 'update' not in edit))

    @property
    def updated(self) -> List[str]:
        return sorted(set(edit['device'] for edit in self.edits if 'update' in edit))

    def result(self, source: Optional[str] = None) -> Dict[str, Any]:
        """The module's result keys (RETURN of domain_hostdev) but changed; source: the reader used."""
        return dict(
            devices=self.devices, added=self.added, removed=self.removed, updated=self.updated,
            interfaces=self.interfaces, affected=self.affected, impact=self.impact, diff=self.diff,
            source=source, pending_unplug=self.pending_unplug, started=self.started)


def plan_assignment(model: HostModel, request: AssignmentRequest, active: bool = False,
                    config_xml: Optional[str] = None, live_xml: Optional[str] = None) -> Plan:
    """Validate a request against a fresh HostModel and plan it (see the module docstring).

    active: whether the domain runs. config_xml: its persistent definition (None
    for a transient domain). live_xml: its running definition (None when stopped).
    live=True on a stopped domain changes nothing live (a warning says so);
    config=False with it is a problem (nothing to change).
    """
    targets, problems, warnings = choose_targets(request, active, config_xml, live_xml)
    current = current_hostdevs(config_xml, live_xml)
    names, gone, unresolved, pool_warnings = request_devices(model, request, current)
    problems += unresolved
    warnings += pool_warnings
    edits, edit_warnings = plan_edits(model, request, names, gone, targets, current)
    warnings += edit_warnings
    interfaces: List[Dict[str, Any]] = []
    if request.interface is not None and request.state == 'present':
        interface_plan, interface_problems = plan_interfaces(model, request, names, targets, current,
                                                             owner_uuid(config_xml, live_xml, request.domain))
        edits += interface_plan[0]
        interfaces = interface_plan[1]
        problems += interface_problems + macs_in_use(model, request.domain, interfaces, [config_xml, live_xml],
                                                     edits, current, lambda source: _held(model, source))
    affected = affected_devices(model, names)
    impact = []
    started = mdevs_to_start(model, request, names)
    # Removing a device never harms the host: only an addition is validated.
    if request.state == 'present':
        impact = [impact_entry(model.device(name)) for name in affected
                  if model.device(name).get('type') != 'pci']
        problems += [item for item in validate(model, request, names, affected, held_by_domain(model, current), edits)
                     if not (item['code'] == 'mdev_inactive' and item['device'] in started)]
        warnings += _impact_warnings(request.domain, edits, impact)
    return Plan(devices=names, targets=targets, edits=edits, affected=affected, impact=impact,
                diff=predicted_diff(request.domain, targets, current, edits, started), problems=problems,
                warnings=warnings, interfaces=interfaces, started=started)


# -- the planning steps ----------------------------------------------------------

def choose_targets(request: AssignmentRequest, active: bool, config_xml: Optional[str],
                   live_xml: Optional[str]) -> Tuple[List[str], List[Problem], List[str]]:
    """(targets, problems, warnings): the definitions to edit, and why one asked for is not."""
    domain = request.domain
    targets, problems, warnings = [], [], []
    if request.config:
        if config_xml is None:
            problems.append(problem('transient_domain', None,
                                    'domain %s is transient (it has no persistent definition): set '
                                    'config: false and live: true to change the running domain only'
                                    % domain))
        else:
            targets.append('config')
    if request.live:
        if active and live_xml is not None:
            targets.append('live')
        elif request.config:
            warnings.append('domain %s is not running: live: true changes nothing now, only the '
                            'persistent definition is changed' % domain)
        else:
            problems.append(problem('nothing_to_change', None,
                                    'domain %s is not running and config is false: there is nothing '
                                    'to change (set config: true to change its persistent definition)'
                                    % domain))
    if not request.config and not request.live:
        problems.append(problem('nothing_to_change', None,
                                'config and live are both false: there is nothing to change'))
    return targets, problems, warnings


def request_devices(model: HostModel, request: AssignmentRequest, current: 'Hostdevs') -> Tuple[
        List[str], List[Tuple[str, Dict[str, Any]]], List[Problem], List[str]]:
    """(names, gone, problems, warnings): the devices asked for by reference, or chosen from a pool.

    A PCI address the host lacks that is a VF slot of one of its PFs is said to be so, with the
    count that would create it (pools.vf_slot_hint).
    """
    if request.pool is not None:
        members, problems = pool_members(model, request.pool)
        if problems:
            return [], [], problems, []
        names, warnings, chosen_problems = choose(model, request.domain, request.pool, members,
                                                  held_by_domain(model, current), request.state, request.force)
        return names, [], problems + chosen_problems, warnings
    warnings = []
    if not request.devices:
        warnings.append('devices is empty: nothing was asked, so nothing changes')
    names, gone, unresolved = resolve_devices(model, request.devices, request.include_group,
                                              absent=request.state == 'absent')
    for item in unresolved:
        hint = vf_slot_hint(model, item['device'])
        if hint:
            item['message'] = hint
    if request.state == 'present':
        # Some drivers cannot tell an mdev's state: not a refusal (it would refuse every mdev there), but said.
        warnings += [unknown_active_text(model.device(name)) for name in names
                     if mdev_of(model.device(name)) and state_of(model.device(name)) is None]
    return names, gone, unresolved, warnings


def current_hostdevs(config_xml: Optional[str], live_xml: Optional[str]) -> Hostdevs:
    """The domain's <hostdev> elements per target (none where there is no definition)."""
    return dict((target, hostdev_elements(xml) if xml is not None else [])
                for target, xml in (('config', config_xml), ('live', live_xml)))


def held_by_domain(model: HostModel, current: Hostdevs) -> Set[str]:
    """Names of the host devices the domain already has, in either definition."""
    return set(name for target in TARGETS for _element, source in current[target]
               for name in _held(model, source))


def _held(model: HostModel, source: Optional[Dict[str, Any]]) -> List[str]:
    return model.match_source(source) if source is not None else []


def mdevs_to_start(model: HostModel, request: AssignmentRequest, names: List[str]) -> List[str]:
    """The inactive mdevs among names that mdev_start starts (node device create) before the edits.

    Only a defined one can be started (persistent not False); its parent's presence is the refusal
    mdev_parent_gone's to judge. Already in the domain or not, a present request wants it usable.
    """
    if not request.mdev_start or request.state != 'present':
        return []
    # Only one known inactive: an mdev whose state is unknown may exist, and starting it again fails.
    return [name for name in names if state_of(model.device(name)) is False
            and state_of(model.device(name), 'persistent') is not False]


def plan_edits(model: HostModel, request: AssignmentRequest, names: List[str],
               gone: List[Tuple[str, Dict[str, Any]]], targets: List[str],
               current: Hostdevs) -> Tuple[List[Edit], List[str]]:
    """(edits, warnings): attach what a target lacks, or detach what it has, in request order."""
    edits, warnings = [], []
    for name in names:
        if request.state == 'present' and request.interface is not None:
            continue  # plan_interfaces plans them
        if request.state == 'present':
            attach, attach_warnings = _attach_edits(model, request, name, targets, current)
            edits += attach
            warnings += attach_warnings
        else:
            edits += _detach_edits(model, name, targets, current)
    for reference, wanted in gone:
        warnings += _detach_missing(request.domain, reference, wanted, targets, current, edits)
    return edits, warnings


def plan_interfaces(model: HostModel, request: AssignmentRequest, names: List[str], targets: List[str],
                    current: Hostdevs, uuid: str) -> Tuple[Tuple[List[Edit], List[Dict[str, Any]]], List[Problem]]:
    """((edits, the interfaces as they will be), problems) of giving names as <interface> elements."""
    edits: List[Edit] = []
    interfaces = []
    problems: List[Problem] = []
    for name in names:
        device_edits, interface, device_problems = interface_edits(
            model, request.domain, name, request.interface or {}, uuid, targets, current,
            lambda source: _held(model, source))
        edits += device_edits
        problems += device_problems
        if interface is not None:
            interfaces.append(interface)
    return (edits, interfaces), problems


def _edit(action: str, device: str, target: str, xml: str) -> Edit:
    return {'action': action, 'device': device, 'target': target, 'xml': xml}


def _attach_edits(model: HostModel, request: AssignmentRequest, name: str, targets: List[str],
                  current: Hostdevs) -> Tuple[List[Edit], List[str]]:
    record = model.device(name)
    is_usb = record.get('type') == 'usb_device'
    if not is_assignable_type(record) or (is_usb and not usb_has_ids(record) and not usb_has_address(record)):
        return [], []  # no hostdev can name it: the validation reports it as not eligible
    usb_address = is_usb and (not usb_has_ids(record) or not _usb_id_unique(model, record))
    xml = build_hostdev(record, managed=request.managed, usb_address=usb_address)
    edits, warnings = [], []
    for target in targets:
        matching = [element for element, source in current[target] if name in _held(model, source)]
        if not matching:
            edits.append(_edit('attach', name, target, xml))
            continue
        wanted = 'yes' if request.managed else 'no'
        have = matching[0].get('managed', 'no')
        if record.get('type') not in ('scsi', 'mdev') and matching[0].tag == 'hostdev' and have != wanted:
            warnings.append('%s is already in the %s definition of %s with managed=%r; it is '
                            'left as it is (remove it first to change managed)'
                            % (name, target, request.domain, have))
    if usb_address and edits and not usb_has_ids(record):
        warnings.append('USB vendor:product of %s could not be read: its hostdev names bus %s device %s '
                        'instead, which change when it is replugged'
                        % (name, record['usb']['bus'], record['usb']['device']))
    elif usb_address and edits:
        warnings.append('USB vendor:product of %s is not unique on this host: its hostdev '
                        'also names bus %s device %s, which change when it is replugged'
                        % (name, record['usb']['bus'], record['usb']['device']))
    return edits, warnings


def _usb_id_unique(model: HostModel, record: Dict[str, Any]) -> bool:
    usb = record.get('usb') or {}
    return len(model.usb_devices_with_ids(usb.get('vendor_id'), usb.get('product_id'))) <= 1


def _detach_edits(model: HostModel, name: str, targets: List[str], current: Hostdevs) -> List[Edit]:
    """Detach every element that refers to name, with its XML as the domain stores it."""
    return [_edit('detach', name, target, element_xml(element))
            for target in targets for element, source in current[target] if name in _held(model, source)]


def _detach_missing(domain: str, reference: str, wanted: Dict[str, Any], targets: List[str],
                    current: Hostdevs, edits: List[Edit]) -> List[str]:
    """Add to edits the detach of the elements naming a device the host no longer has; the warnings."""
    warnings = []
    for target in targets:
        for element, source in current[target]:
            xml = element_xml(element)
            if sources_match(source, wanted) and not any(
                    edit['xml'] == xml and edit['target'] == target for edit in edits):
                edits.append(_edit('detach', reference, target, xml))
                warnings.append('%s is not on this host (any more); the hostdev of %s that names it '
                                'is removed from its %s definition' % (reference, domain, target))
    return warnings


def _impact_warnings(domain: str, edits: List[Edit], impact: List[Dict[str, Any]]) -> List[str]:
    added = sorted(set(edit['device'] for edit in edits))
    if not (added and impact):
        return []
    return ['assigning %s to %s takes from the host: %s'
            % (', '.join(added), domain, ', '.join(impact_label(entry) for entry in impact))]


def predicted_diff(domain: str, targets: List[str], current: Hostdevs, edits: List[Edit],
                   started: Sequence[str] = ()) -> Dict[str, str]:
    """Before/after of the <hostdev> elements of the first target, as the edits leave it; the mdevs started
    first, as a comment heading the after side."""
    if not targets:
        return {'before': '', 'after': ''}
    shown = targets[0]
    before = [element_xml(element) for element, _source in current[shown]]
    removed_xml = [edit['xml'] for edit in edits if edit['target'] == shown and edit['action'] == 'detach']
    after = [text for text in before if text not in removed_xml]
    after.extend(edit['xml'] for edit in edits if edit['target'] == shown and edit['action'] == 'attach')
    header = '%s: <hostdev> and <interface type=\'hostdev\'> elements of the %s definition' % (
        domain, 'persistent' if shown == 'config' else 'running')
    starts = ''.join('<!-- mdev %s is started first (it is defined, not active) -->\n' % name for name in started)
    return {'before': hostdevs_text(before), 'after': starts + hostdevs_text(after),
            'before_header': header, 'after_header': header + ' (predicted)'}


# -- validation ----------------------------------------------------------------------

def validate(model: HostModel, request: AssignmentRequest, names: List[str], affected: List[str],
             own: Set[str], edits: List[Edit]) -> List[Problem]:
    """Every problem of adding names (and taking affected from the host) to the domain: the
    assignment's rules (model.refusals.ASSIGN).

    own: the devices the domain already has; they count as in the assignment.
    """
    attached = [edit['device'] for edit in edits if edit['action'] == 'attach']
    return refusals(model, names, ASSIGN, affected, domain=request.domain, own=own, attached=attached,
                    force=request.force, live=request.live)
