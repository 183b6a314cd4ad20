# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the plan of a PF's virtual function count (sriov_vfs). No I/O happens here.

``plan_vfs()`` resolves the PF (a PCI address or node device name, its netdev's name, or a
device mapping), works out the sysfs writes that take it from its VF count to the requested one,
and returns every problem at once, before anything changes. The kernel refuses to change a PF's
count from N to M when both are above 0 (EBUSY: "N VFs already enabled. Disable before enabling M
VFs"), so such a change goes through 0, and every VF the PF had vanishes on the way: what a domain
or the host holds among them refuses the change.

Problem codes (a stable interface, also in the module's documentation and docs/virtual-functions.md):
  unresolved_reference, not_pci, not_sriov_pf, count_above_total, no_pf_driver, host_in_use,
  host_use_unknown, vf_assigned, vf_host_in_use.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, HostdevModelError, shown
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.mapping_table import host_entries
from ansible_collections.virt.hostdev.plugins.module_utils.model.mappings import resolve_mappings
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import pci_address_of_name
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import (
    Problem,
    impact_entry,
    impact_label,
    problem,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.sriov import not_a_pf_text, resolve_function

STATES = ('present', 'absent')
NUMVFS = 'sriov_numvfs'
AUTOPROBE = 'sriov_drivers_autoprobe'


@dataclass(frozen=True)
class VfRequest:
    """What the user asked: device (a reference) or mapping ({name, mappings, host}), the count."""

    device: Optional[str] = None
    count: Optional[int] = None
    state: str = 'present'
    drivers_autoprobe: Optional[bool] = None
    persistent: bool = True
    allow_host_device: bool = False
    mapping: Optional[Dict[str, Any]] = None

    @property
    def wanted(self) -> int:
        return 0 if self.state == 'absent' else int(self.count or 0)


@dataclass
class VfPlan:
    """The PF and the writes that give it the requested count; problems refuse the whole run."""

    device: Optional[str]
    address: Optional[str]
    path: Optional[str]
    before: Optional[int]
    after: int
    autoprobe: Optional[bool]
    writes: List[Tuple[str, int]] = field(default_factory=list)
    vanishing: List[str] = field(default_factory=list)
    problems: List[Problem] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def through_zero(self) -> bool:
        """The count changes from N to M, both above 0: the kernel takes it only through 0."""
        return bool(self.before) and self.after > 0 and self.after != self.before

    def numvfs_writes(self) -> List[int]:
        return [value for attribute, value in self.writes if attribute == NUMVFS]


def check_request(request: VfRequest) -> None:
    """Refuse what no host could satisfy, before the host is read."""
    if request.state not in STATES:
        raise HostdevError('state must be one of %s, not %s' % (', '.join(STATES), shown(request.state)))
    if (request.device is None) == (request.mapping is None):
        raise HostdevError('name the physical function with exactly one of device and mapping')
    if request.state == 'present':
        if request.count is None or isinstance(request.count, bool) or not isinstance(request.count, int) \
                or request.count < 0:
            raise HostdevError('count must be a number of virtual functions, 0 or more, not %s'
                               % shown(repr(request.count)))
    else:
        if request.count:
            raise HostdevError('state absent leaves the physical function with no virtual functions: leave count '
                               'out (or 0), not %s' % shown(request.count))
        if request.drivers_autoprobe is not None:
            raise HostdevError('drivers_autoprobe applies to virtual functions created by state present: leave it '
                               'out with state absent')


def resolve_pf(model: HostModel, request: VfRequest) -> Tuple[Optional[str], List[Problem]]:
    """(the node device name the request names, problems): a PCI address or node device name, a network
    interface's name (its PCI device), or a device mapping resolved on this host (drift refused)."""
    if request.mapping is not None:
        name = str(request.mapping.get('name'))
        mdevs = _mdev_entries(request.mapping, name)
        if mdevs:
            return None, [problem('unresolved_reference', shown(name), 'mapping %s on %s names the mdevs of type %s '
                                  '(mediated devices), not an SR-IOV physical function: sriov_vfs sets a PF\'s VF count '
                                  'and manages no mdevs; name a mapping of a PF here, and make the mapping\'s mdevs '
                                  'with virt.hostdev.mdevs' % (shown(name), mdevs[0].host, mdevs[0].address))]
        try:
            names = resolve_mappings(model, request.mapping.get('mappings'), [name], request.mapping.get('host', ''))
        except HostdevError as error:
            return None, [problem('unresolved_reference', shown(name), error.message)]
        return names[0], []
    reference = str(request.device).strip()
    try:
        return resolve_function(model, reference), []
    except HostdevModelError as error:
        return None, [problem('unresolved_reference', shown(reference), str(error))]


def _mdev_entries(mapping: Dict[str, Any], name: str) -> List[Any]:
    """The mdev entries (mdev_type) of the mapping on the host; a bad table is resolve_mappings' to refuse."""
    try:
        entries = host_entries(mapping.get('mappings'), str(mapping.get('host', '')), [name])[0]
    except HostdevError:
        return []
    return [entry for entry in entries if entry.kind == 'mdev']


def _uses(model: HostModel, name: str) -> List[str]:
    """What the host runs on the device or below it (its netdev carrying the default route, a mounted disk)."""
    found = []
    for member in [name] + model.descendants(name):
        for use in model.host_use(member):
            label = impact_label(impact_entry(model.device(member)))
            found.append('%s: %s' % (label, use) if member != name else use)
    return found


def _vf_problems(model: HostModel, pf: str, vfs: List[str]) -> List[Problem]:
    """Every VF that vanishes and is held: by a domain (a <hostdev> or <interface type='hostdev'>), a running
    libvirt hostdev network whose pool lists it (it hands the VF to its guests), or the host."""
    problems = []
    for vf in vfs:
        holders = model.assigned_to(vf) + ['network %s' % net for net in model.held_by_network(vf)]
        if holders:
            problems.append(problem('vf_assigned', vf, 'virtual function %s of %s is held by %s, and changing the '
                                    'count removes it: release it first (virt.hostdev.domain_hostdev state: absent)'
                                    % (vf, pf, ', '.join(holders))))
        uses = _uses(model, vf)
        if uses:
            problems.append(problem('vf_host_in_use', vf, 'virtual function %s of %s is in use by the host (%s), and '
                                    'changing the count removes it' % (vf, pf, '; '.join(uses))))
    return problems


def plan_vfs(model: HostModel, request: VfRequest) -> VfPlan:
    """The writes that give the PF the requested count and drivers_autoprobe, with every problem."""
    check_request(request)
    name, problems = resolve_pf(model, request)
    plan = VfPlan(device=name, address=None, path=None, before=None, after=request.wanted, autoprobe=None,
                  problems=problems)
    if name is None:
        return plan
    record = model.device(name)
    pci = record.get('pci') or {}
    plan.address, plan.path = pci.get('address') or pci_address_of_name(name), record.get('path')
    if record.get('type') != 'pci':
        plan.problems.append(problem('not_pci', name, '%s is a %s device, not PCI: only a PCI physical function has '
                                     'virtual functions' % (name, record.get('type'))))
        return plan
    sriov = pci.get('sriov') or {}
    why = not_a_pf_text(model, name)
    if why is not None:
        advice = ('set the count on its physical function' if sriov.get('physical_function')
                  else 'its VF count is not changed' if sriov else None)
        plan.problems.append(problem('not_sriov_pf', name, '%s: %s' % (why, advice) if advice else why))
        return plan
    total = sriov['totalvfs']
    vfs = model.virtual_functions(name)
    plan.before = sriov.get('numvfs') if sriov.get('numvfs') is not None else len(vfs)
    plan.autoprobe = sriov.get('drivers_autoprobe')
    if plan.after > total:
        plan.problems.append(problem('count_above_total', name, '%s can have at most %d virtual functions '
                                     '(sriov_totalvfs), not %d' % (name, total, plan.after)))
    if request.drivers_autoprobe is not None and request.drivers_autoprobe != plan.autoprobe:
        plan.writes.append((AUTOPROBE, int(request.drivers_autoprobe)))
    if plan.after != plan.before:
        plan.writes += [(NUMVFS, 0), (NUMVFS, plan.after)] if plan.through_zero else [(NUMVFS, plan.after)]
        if plan.before:
            plan.vanishing = vfs
            plan.problems += _vf_problems(model, name, vfs)
        if not record.get('driver'):
            plan.problems.append(problem('no_pf_driver', name, '%s has no driver bound, and the virtual functions '
                                         'are made by its driver: bind it (or load its driver) first' % name))
    plan.problems += _host_problems(model, name, request.allow_host_device)
    if plan.writes and plan.writes[0][0] == AUTOPROBE and plan.before and not plan.numvfs_writes():
        plan.warnings.append('sriov_drivers_autoprobe applies to virtual functions created from now on: the %d '
                             'that %s has keep their drivers' % (plan.before, name))
    return plan


def _host_problems(model: HostModel, name: str, allowed: bool) -> List[Problem]:
    """A PF the host runs on (its netdev carries the default route, it holds a mounted disk) is refused
    unless allowed: its driver may reset it when the count changes, and the host loses it meanwhile."""
    if allowed:
        return []
    uses = _uses(model, name)
    if uses:
        return [problem('host_in_use', name, '%s is in use by the host (%s): changing its virtual functions may '
                        'reset it; allow_host_device: true overrides' % (name, '; '.join(uses)))]
    if model.host_use_unknown:
        return [problem('host_use_unknown', name, 'what the host itself runs on is unknown (%s cannot be read), so '
                        '%s may carry its default route or root disk; allow_host_device: true overrides'
                        % (' and '.join(model.host_use_unknown), name))]
    return []
