# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the rules that refuse taking devices from the host, in one place. No I/O happens here.

Three purposes ask them, each a ``Purpose`` that selects the codes and the wording:
- ``ASSIGN``: a domain_hostdev assignment (assigning.assignment.plan_assignment);
- ``BLOCKERS``: a fact's ``blockers``, taking a device now, alone, for a new domain (``blockers``,
  ``assignability``); the assignment's rules, with every holder counting;
- ``RESERVE``: a vfio_reserve boot reservation (preparing.vfio_reservation): the IOMMU may be off
  (preparing turns it on), a device a domain holds is what a host reserves for its guests, and a
  group goes to guests whole, since after the reboot a member left out is bound to its host driver.

Problem codes (a stable interface, also in docs/domain_hostdev.md and docs/hostdev_prepare.md):
  unresolved_reference, not_eligible, iommu_off, iommu_group_unknown, group_not_viable,
  assigned_elsewhere, held_by_network, has_virtual_functions, mdev_parent_gone, mdev_inactive, has_mdevs,
  host_in_use, host_use_unknown, display_hotplug. The IOMMU rules are PCI devices': an mdev needs no
  IOMMU and takes nothing but itself (model.mdev has the mdev rules).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Set, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevModelError, shown
from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import (
    REASONS,
    holds_its_group,
    is_display,
    is_pci_endpoint,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import IOMMU_OFF_HINT
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import (
    inactive_problems,
    parent_problems,
    parents_mdevs,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    USB_BUS_DEVICE_RE,
    USB_ID_RE,
    normalize_hex_id,
    parse_pci_address,
    pci_address,
)

if TYPE_CHECKING:  # the model the rules ask (for the type checker only: host_model imports facts_format)
    from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel

# {'code', 'device', 'message'}: one reason to refuse the request.
Problem = Dict[str, Optional[str]]


@dataclass(frozen=True)
class Purpose:
    """Why devices are taken from the host: which rules apply, in which order, and their words.

    noun: what the messages call the request. checks: the rules, in the order they are reported.
    whole_groups: every endpoint of a group left out blocks it (a reservation), rather than only
    one that holds it now (holds_its_group). host_use_override: what a host_in_use message says of
    force; unknown_use_override: what a host_use_unknown message says of it.
    """

    noun: str
    checks: Tuple[str, ...]
    whole_groups: bool
    host_use_override: str
    unknown_use_override: str


ASSIGN = Purpose(
    noun='assignment',
    checks=('not_eligible', 'iommu_off', 'iommu_group_unknown', 'group_not_viable', 'assigned_elsewhere',
            'held_by_network', 'has_virtual_functions', 'mdev_parent_gone', 'mdev_inactive', 'has_mdevs',
            'host_in_use', 'host_use_unknown', 'display_hotplug'),
    whole_groups=False,
    host_use_override='; force: true overrides',
    unknown_use_override='; force: true overrides')
BLOCKERS = ASSIGN
RESERVE = Purpose(
    noun='reservation',
    checks=('not_eligible', 'iommu_group_unknown', 'has_virtual_functions', 'has_mdevs', 'host_in_use',
            'host_use_unknown', 'group_not_viable'),
    whole_groups=True,
    host_use_override='; force does not override this for a reservation, since the host would lose it '
                      'at every boot',
    unknown_use_override='; force does not override this for a reservation, since the host could lose '
                         'its root disk or its network at every boot')
# The rules force overrides, for the purposes that have them.
FORCE_OVERRIDES = ('iommu_off', 'host_in_use', 'host_use_unknown', 'display_hotplug')


def problem(code: str, device: Optional[str], message: str) -> Problem:
    return {'code': code, 'device': device, 'message': message}


def problems_message(problems: List[Problem]) -> str:
    """All problems in one line: what the module fails with."""
    count = len(problems)
    head = '%d problem%s, nothing was changed: ' % (count, '' if count == 1 else 's')
    return head + ' '.join('(%d) %s' % (index + 1, item['message'])
                           for index, item in enumerate(problems))


def impact_entry(record: Dict[str, Any]) -> Dict[str, Any]:
    """What a user should know about a device that vanishes from the host."""
    entry = {'name': record['name'], 'type': record.get('type'), 'parent': record.get('parent')}
    kind = record.get('type')
    if kind == 'net' and record.get('net'):
        entry['interface'] = record['net'].get('interface')
        entry['address'] = record['net'].get('address')
    elif kind == 'storage' and record.get('storage'):
        entry['block'] = record['storage'].get('block')
        entry['model'] = record['storage'].get('model')
    elif kind == 'usb_device' and record.get('usb'):
        usb = record['usb']
        entry['usb'] = '%s:%s' % ((usb.get('vendor_id') or '')[2:], (usb.get('product_id') or '')[2:])
        entry['product'] = usb.get('product')
    elif kind == 'scsi' and record.get('scsi'):
        entry['scsi'] = '%(host)s:%(bus)s:%(target)s:%(lun)s' % record['scsi']
    elif kind == 'scsi_host' and record.get('scsi_host'):
        entry['host'] = record['scsi_host'].get('host')
    return entry


def impact_label(entry: Dict[str, Any]) -> str:
    if entry.get('interface'):
        return 'network interface %s (%s)' % (entry['interface'], entry['name'])
    if entry.get('block'):
        return 'disk %s (%s)' % (entry['block'], entry['name'])
    if entry.get('usb'):
        return 'USB device %s (%s)' % (entry['usb'], entry['name'])
    return '%s device %s' % (entry.get('type'), entry['name'])


# -- which devices ----------------------------------------------------------------

def reference_source(reference: str) -> Optional[Dict[str, Any]]:
    """The source dict a PCI address or USB reference names, without the host; else None.

    Used to remove a device the host no longer has (unplugged, moved) from a domain.
    """
    text = str(reference).strip()
    address = parse_pci_address(text)
    if address is not None:
        return {'type': 'pci', 'address': pci_address(*address)}
    match = USB_ID_RE.match(text)
    if match:
        return {'type': 'usb', 'vendor_id': normalize_hex_id(match.group('vendor')),
                'product_id': normalize_hex_id(match.group('product')), 'bus': None, 'device': None}
    match = USB_BUS_DEVICE_RE.match(text)
    if match:
        return {'type': 'usb', 'vendor_id': None, 'product_id': None,
                'bus': int(match.group('bus')), 'device': int(match.group('device'))}
    return None


def resolve_devices(model: 'HostModel', references: Iterable[Any], include_group: bool = False,
                    absent: bool = False) -> Tuple[List[str], List[Tuple[str, Dict[str, Any]]], List[Problem]]:
    """(names, gone, problems) of device references.

    names: node device names in reference order, then the group endpoints include_group
    adds. gone: (reference, source) of the devices to remove that the host no longer
    has (absent only). problems: the references that name nothing.
    """
    names: List[str] = []
    gone: List[Tuple[str, Dict[str, Any]]] = []
    problems: List[Problem] = []
    for reference in references:
        try:
            name = model.resolve_reference(reference)
        except HostdevModelError as error:
            source = reference_source(reference) if absent else None
            if source is not None:
                gone.append((str(reference).strip(), source))
            else:
                problems.append(problem('unresolved_reference', shown(reference), str(error)))
            continue
        if name not in names:
            names.append(name)
    if include_group:
        for name in list(names):
            for member in model.group_endpoints(name):
                if member not in names:
                    names.append(member)
    return names, gone, problems


def affected_devices(model: 'HostModel', names: List[str]) -> List[str]:
    """Sorted names of the other devices taking names takes from the host (see affected_by)."""
    affected = set()
    for name in names:
        affected.update(model.affected_by(name))
    return sorted(affected - set(names))


# -- the rules ------------------------------------------------------------------------

def refusals(model: 'HostModel', names: List[str], purpose: Purpose, affected: Optional[List[str]] = None,
             domain: Optional[str] = None, own: Iterable[str] = (), attached: Iterable[str] = (),
             force: bool = False, live: bool = False) -> List[Problem]:
    """Every problem of taking names (and affected, by default affected_devices) from the host for purpose.

    domain: the domain they go to, whose own holds do not count (None: every holder counts).
    own: the devices that domain already has; they count as taken with names. attached: the
    devices a live edit hot-plugs (display_hotplug). force: skip the rules force overrides (ASSIGN).
    """
    if affected is None:
        affected = affected_devices(model, names)
    taken = sorted(set(names) | set(affected))
    others_of = dict((name, [dom for dom in model.assigned_to(name) if dom != domain]) for name in taken)
    rules = {
        'not_eligible': lambda: _not_eligible(model, names),
        'iommu_off': lambda: _iommu_off(model, names),
        'iommu_group_unknown': lambda: _group_unknown(model, names),
        'group_not_viable': lambda: _groups_not_viable(model, names, affected, set(names) | set(own),
                                                       others_of, purpose),
        'assigned_elsewhere': lambda: _assigned_elsewhere(model, names, taken, others_of, purpose),
        'held_by_network': lambda: _held_by_network(model, names, taken),
        'has_virtual_functions': lambda: _has_virtual_functions(model, names, taken, purpose),
        'mdev_parent_gone': lambda: [problem(*found) for found in inactive_problems(model, names)
                                     if found[0] == 'mdev_parent_gone'],
        'mdev_inactive': lambda: [problem(*found) for found in inactive_problems(model, names)
                                  if found[0] == 'mdev_inactive'],
        'has_mdevs': lambda: [problem(*found) for found in parent_problems(model, names, taken, purpose.noun)],
        'host_in_use': lambda: _host_in_use(model, names, taken, purpose),
        'host_use_unknown': lambda: _host_use_unknown(model, names, purpose),
        'display_hotplug': lambda: _display_hotplug(model, attached) if live else [],
    }
    problems: List[Problem] = []
    for code in purpose.checks:
        if not (force and code in FORCE_OVERRIDES):
            problems += rules[code]()
    return problems


def blockers(model: 'HostModel', name: str) -> List[str]:
    """The sorted problem codes that refuse taking name now, alone, for a new domain.

    The same rules as an assignment: not eligible, IOMMU off, group unknown or not
    viable, held by a domain, used by the host (or the host's use unknown), for the
    device and everything its passthrough takes with it.
    """
    return sorted(set(str(item['code']) for item in refusals(model, [name], BLOCKERS)))


def assignability(model: 'HostModel', names: Optional[List[str]] = None) -> Dict[str, List[str]]:
    """{name: blockers} of every device (or of names): what facts report as assignable and blockers."""
    return dict((name, blockers(model, name)) for name in (model.names() if names is None else names))


def _not_eligible(model: 'HostModel', names: List[str]) -> List[Problem]:
    problems = []
    for name in names:
        eligible, reasons = model.eligibility(name)
        if not eligible:
            problems.append(problem(
                'not_eligible', name, '%s is not eligible for passthrough: %s' % (
                    name, '; '.join('%s (%s)' % (code, REASONS.get(code, code)) for code in reasons))))
    return problems


def _iommu_off(model: 'HostModel', names: List[str]) -> List[Problem]:
    """PCI passthrough needs the IOMMU."""
    pci = [name for name in names if model.device(name).get('type') == 'pci']
    if not pci or model.iommu.get('enabled'):
        return []
    return [problem(
        'iommu_off', ', '.join(pci),
        'cannot assign PCI device%s %s: %s; force: true writes the definition anyway, but the '
        'domain will not start until the IOMMU is on'
        % ('s' if len(pci) > 1 else '', ', '.join(pci), IOMMU_OFF_HINT))]


def _group_unknown(model: 'HostModel', names: List[str]) -> List[Problem]:
    """A PCI device whose IOMMU group cannot be read: nothing says what else it takes."""
    return [problem('iommu_group_unknown', name,
                    '%s has no readable IOMMU group although the host has IOMMU groups, so what else its '
                    'passthrough takes from the host is unknown; check its iommu_group link in sysfs' % name)
            for name in names if model.group_unknown(name)]


def _groups_not_viable(model: 'HostModel', names: List[str], affected: List[str], in_guest: Set[str],
                       others_of: Dict[str, List[str]], purpose: Purpose) -> List[Problem]:
    """The one group-viability rule: every other endpoint of a group goes with it or stays free
    (whole_groups: goes with it), or the domain cannot start ("group N is not viable")."""
    groups_of_names = set(model.iommu_group(name) for name in names)
    blocking: Dict[Optional[int], List[str]] = {}
    for name in affected:
        record = model.device(name)
        if not is_pci_endpoint(record) or name in in_guest:
            continue
        group = model.iommu_group(name)
        if purpose.whole_groups:
            # Without groups (the IOMMU off) the reboot tells: see vfio_reservation's warnings.
            if group is None or group not in groups_of_names:
                continue
        elif not holds_its_group(record.get('driver'), others_of[name]):
            continue
        blocking.setdefault(group, []).append(name)
    message = _group_left_out if purpose.whole_groups else _group_not_free
    return [problem('group_not_viable', ', '.join(blocking[group]),
                    message(model, group, blocking[group], names, others_of) + '.')
            for group in sorted(blocking, key=lambda value: (value is None, value))]


def _driver_text(model: 'HostModel', name: str) -> str:
    driver = model.device(name).get('driver')
    return 'driver %s' % driver if driver else 'no driver'


def _bridges_text(model: 'HostModel', group: Optional[int], verb: str) -> str:
    bridges = model.group_bridges(group)
    return '; bridges in the group (%s) never need %s' % (', '.join(bridges), verb) if bridges else ''


def _group_not_free(model: 'HostModel', group: Optional[int], members: List[str], names: List[str],
                    others_of: Dict[str, List[str]]) -> str:
    requested = [name for name in names if model.iommu_group(name) == group] if group is not None else names
    details = []
    for name in members:
        text = '%s (%s' % (name, _driver_text(model, name))
        if others_of[name]:
            text += ', held by domain %s' % ', '.join(others_of[name])
        details.append(text + ')')
    endpoints = sorted(set(member for name in requested for member in model.group_endpoints(name)))
    return ('%s shares IOMMU group %s with %s, neither in this assignment nor free (free: held by '
            'no other domain and bound to vfio-pci, pci-stub or no driver), so the domain could not '
            'start ("group %s is not viable"). include_group: true would add the group\'s endpoint '
            'devices (%s)' % (', '.join(requested), group, ', '.join(details), group,
                              ', '.join(endpoints))) + _bridges_text(model, group, 'assigning')


def _group_left_out(model: 'HostModel', group: Optional[int], members: List[str], names: List[str],
                    others_of: Dict[str, List[str]]) -> str:
    reserved = [name for name in names if model.iommu_group(name) == group]
    details = ', '.join('%s (%s)' % (member, _driver_text(model, member)) for member in members)
    return ('%s shares IOMMU group %s with %s, which this reservation leaves out: a group goes to '
            'guests whole, and after the reboot a member left out is bound to its host driver, so the '
            'group would not be viable ("group %s is not viable"). Reserve the group\'s endpoints '
            'together (%s), or set include_group: true'
            % (', '.join(reserved), group, details, group, ', '.join(model.group_endpoints_in(group)))
            ) + _bridges_text(model, group, 'reserving')


def _assigned_elsewhere(model: 'HostModel', names: List[str], taken: List[str],
                        others_of: Dict[str, List[str]], purpose: Purpose) -> List[Problem]:
    """One device, one domain (defined or running). An mdev taken with its parent (its descendant, in the
    parent's group) is has_mdevs' to say, naming its holder: the parent itself is held by no one."""
    problems = []
    with_parent = set(child for children in parents_mdevs(model, taken).values() for child in children
                      ) if 'has_mdevs' in purpose.checks else set()
    for name in taken:
        if not others_of[name] or (name in with_parent and name not in names):
            continue
        if name in names:
            message = '%s is already assigned to domain %s' % (name, ', '.join(others_of[name]))
        else:
            message = ('%s, which this assignment takes from the host (IOMMU group %s), is assigned to '
                       'domain %s' % (name, model.iommu_group(name), ', '.join(others_of[name])))
        problems.append(problem('assigned_elsewhere', name, message))
    return problems


def _held_by_network(model: 'HostModel', names: List[str], taken: List[str]) -> List[Problem]:
    """A VF in the pool of an active libvirt hostdev network is the network's to hand out: libvirt
    gives it to the next guest that starts on the network, whatever else holds it."""
    problems = []
    for name in taken:
        networks = model.held_by_network(name)
        if networks:
            problems.append(problem('held_by_network', name, '%s%s is in the pool of the active libvirt hostdev '
                                    'network %s, which hands it to the guests that use the network' % (
                                        name, '' if name in names else ', which this assignment takes from the host,',
                                        ', '.join(networks))))
    return problems


def _has_virtual_functions(model: 'HostModel', names: List[str], taken: List[str],
                           purpose: Purpose) -> List[Problem]:
    """A PF with VFs enabled: once vfio-pci has it (a guest, or a reservation at boot), its driver
    is gone and its VFs vanish, with whatever guest or network holds them."""
    problems = []
    for name in taken:
        sriov = (model.device(name).get('pci') or {}).get('sriov') or {}
        count = max(sriov.get('numvfs') or 0, len(sriov.get('virtual_functions') or ()))
        if not count:
            continue
        functions = model.virtual_functions(name)  # those of them the read found
        held = []
        for function in functions:
            holders = (['domain %s' % dom for dom in model.assigned_to(function)]
                       + ['network %s' % net for net in model.held_by_network(function)])
            if holders:
                held.append('%s held by %s' % (function, ', '.join(holders)))
        problems.append(problem('has_virtual_functions', name, '%s%s has %d virtual function%s enabled (%s%s): '
                                'taking the physical function from its driver makes them vanish; set its VF '
                                'count to 0 first (virt.hostdev.sriov_vfs with state: absent)' % (
                                    name, '' if name in names else ', which this %s takes from the host,'
                                    % purpose.noun, count, '' if count == 1 else 's',
                                    ', '.join(functions) or 'not listed', '; ' + '; '.join(held) if held else '; none held')))
    return problems


def _host_in_use(model: 'HostModel', names: List[str], taken: List[str], purpose: Purpose) -> List[Problem]:
    """Never take what the host itself runs on."""
    problems = []
    for name in taken:
        uses = model.host_use(name)
        if not uses:
            continue
        label = impact_label(impact_entry(model.device(name)))
        if name in names:
            message = '%s is in use by the host: %s' % (label, ', '.join(uses))
        else:
            message = '%s, which this %s takes from the host, is in use by the host: %s' % (
                label, purpose.noun, ', '.join(uses))
        problems.append(problem('host_in_use', name, message + purpose.host_use_override))
    return problems


def _host_use_unknown(model: 'HostModel', names: List[str], purpose: Purpose) -> List[Problem]:
    """Unknown is not free: without the host's mounts or route table, any device may be (or take with
    it) the root disk's controller or the default route's interface."""
    if not names or not model.host_use_unknown:
        return []
    return [problem(
        'host_use_unknown', ', '.join(names),
        'what the host itself runs on is unknown (%s cannot be read), so %s may be, or take with it, the '
        'disk the host runs from or the interface of its default route%s'
        % (' and '.join(model.host_use_unknown), ', '.join(names), purpose.unknown_use_override))]


def _display_hotplug(model: 'HostModel', attached: Iterable[str]) -> List[Problem]:
    """No hot-plug of GPUs."""
    problems = []
    for name in sorted(set(attached)):
        record = model.device(name)
        if is_display(record):
            problems.append(problem(
                'display_hotplug', name,
                'hot-plug (live: true) of display controller %s (class %s) is refused: set live: false '
                'to change only the persistent definition, or force: true' % (name, record['pci']['class'])))
    return problems
