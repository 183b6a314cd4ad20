# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: validate and plan a hostdev assignment. No I/O happens here.

plan_assignment() takes a HostModel (a fresh read of the host), the domain's
current definition(s) and the user's request, and returns a plan: the resolved
devices, the attach/detach edits per target (config, live), the devices the
assignment takes from the host (affected, impact), the predicted diff and
*every* problem found, so the caller can refuse the whole change at once.

Problem codes (a stable interface, also in docs/domain_hostdev.md):
  unresolved_reference, not_eligible, iommu_off, group_not_viable,
  assigned_elsewhere, host_in_use, display_hotplug, transient_domain, nothing_to_change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.virt.hostdev.plugins.module_utils.device_model import (
    IOMMU_OFF_HINT,
    REASONS,
    USB_BUS_DEVICE_RE,
    USB_ID_RE,
    HostdevModelError,
    normalize_hex_id,
    parse_pci_address,
    pci_address,
    pci_class_reason,
)
from ansible_collections.virt.hostdev.plugins.module_utils.domain_xml import (
    build_hostdev,
    element_xml,
    hostdevs_text,
    sources_match,
)
from ansible_collections.virt.hostdev.plugins.module_utils.domain_xml import hostdev_elements

STATES = ('present', 'absent')
TARGETS = ('config', 'live')

# Host drivers that leave a PCI device free for a guest: a device bound to one of
# them (or to none) can stay in the host while a group sibling goes to a guest.
FREE_DRIVERS = ('vfio-pci', 'pci-stub')


def problem(code, device, message):
    return {'code': code, 'device': device, 'message': message}


def problems_message(problems):
    """All problems in one line: what the module fails with."""
    count = len(problems)
    head = '%d problem%s, nothing was changed: ' % (count, '' if count == 1 else 's')
    return head + ' '.join('(%d) %s' % (index + 1, item['message'])
                           for index, item in enumerate(problems))


def is_pci_bridge(record):
    return record.get('type') == 'pci' and \
        pci_class_reason((record.get('pci') or {}).get('class')) == 'pci_bridge'


def is_pci_endpoint(record):
    return record.get('type') == 'pci' and not is_pci_bridge(record)


def is_display(record):
    pci_class = (record.get('pci') or {}).get('class')
    return record.get('type') == 'pci' and pci_class is not None and int(pci_class, 16) >> 16 == 0x03


def group_endpoints(model, name):
    """Sorted PCI endpoints (not bridges) in name's IOMMU group, name included."""
    group = model.iommu_group(name)
    if group is None or model.device(name).get('type') != 'pci':
        return [name]
    members = [member for member in model.group_members(group) if is_pci_endpoint(model.device(member))]
    return sorted(set(members) | set([name]))


def group_bridges(model, group):
    return [member for member in model.group_members(group) if is_pci_bridge(model.device(member))]


def impact_entry(record):
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


def impact_label(entry):
    if entry.get('interface'):
        return 'network interface %s (%s)' % (entry['interface'], entry['name'])
    if entry.get('block'):
        return 'disk %s (%s)' % (entry['block'], entry['name'])
    if entry.get('usb'):
        return 'USB device %s (%s)' % (entry['usb'], entry['name'])
    return '%s device %s' % (entry.get('type'), entry['name'])


def _usb_id_unique(model, record):
    usb = record.get('usb') or {}
    return len(model.usb_devices_with_ids(usb.get('vendor_id'), usb.get('product_id'))) <= 1


def reference_source(reference):
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


def _held(model, source):
    return model.match_source(source) if source is not None else []


def plan_assignment(model, domain, references, state='present', include_group=False, managed=True,
                    live=False, config=True, force=False, active=False, config_xml=None, live_xml=None):
    """Validate a request against a fresh HostModel and plan it (see the module docstring).

    domain: the domain's name. active: whether it runs. config_xml: its persistent
    definition (None for a transient domain). live_xml: its running definition
    (None when stopped). live=True on a stopped domain changes nothing live (a
    warning says so); config=False with it is a problem (nothing to change).
    """
    if state not in STATES:
        raise ValueError('state must be one of %s' % ', '.join(STATES))
    problems = []
    warnings = []

    targets = []
    if config:
        if config_xml is None:
            problems.append(problem('transient_domain', None,
                                    'domain %s is transient (it has no persistent definition): set '
                                    'config: false and live: true to change the running domain only'
                                    % domain))
        else:
            targets.append('config')
    if live:
        if active and live_xml is not None:
            targets.append('live')
        elif config:
            warnings.append('domain %s is not running: live: true changes nothing now, only the '
                            'persistent definition is changed' % domain)
        else:
            problems.append(problem('nothing_to_change', None,
                                    'domain %s is not running and config is false: there is nothing '
                                    'to change (set config: true to change its persistent definition)'
                                    % domain))
    if not config and not live:
        problems.append(problem('nothing_to_change', None,
                                'config and live are both false: there is nothing to change'))

    # -- resolve the references ------------------------------------------
    names = []
    gone = []  # (reference, source) to remove that the host does not have (state=absent)
    for reference in references:
        try:
            name = model.resolve_reference(reference)
        except HostdevModelError as error:
            source = reference_source(reference) if state == 'absent' else None
            if source is not None:
                gone.append((str(reference).strip(), source))
            else:
                problems.append(problem('unresolved_reference', str(reference), str(error)))
            continue
        if name not in names:
            names.append(name)
    if include_group:
        for name in list(names):
            for member in group_endpoints(model, name):
                if member not in names:
                    names.append(member)

    # -- what the domain has now, per target -----------------------------
    current = {}
    for target, xml in (('config', config_xml), ('live', live_xml)):
        current[target] = hostdev_elements(xml) if xml is not None else []
    own = set()
    for target in TARGETS:
        for _element, source in current[target]:
            own.update(_held(model, source))

    # -- the edits ---------------------------------------------------------
    edits = []
    for name in names:
        record = model.device(name)
        if state == 'present':
            if record.get('type') not in ('pci', 'usb_device', 'scsi'):
                continue  # reported as not eligible below
            usb_address = record.get('type') == 'usb_device' and not _usb_id_unique(model, record)
            xml = build_hostdev(record, managed=managed, usb_address=usb_address)
            for target in targets:
                matching = [element for element, source in current[target] if name in _held(model, source)]
                if not matching:
                    edits.append({'action': 'attach', 'device': name, 'target': target, 'xml': xml})
                    continue
                wanted = 'yes' if managed else 'no'
                have = matching[0].get('managed', 'no')
                if record.get('type') != 'scsi' and matching[0].tag == 'hostdev' and have != wanted:
                    warnings.append('%s is already in the %s definition of %s with managed=%r; it is '
                                    'left as it is (remove it first to change managed)'
                                    % (name, target, domain, have))
            if usb_address and any(edit['device'] == name for edit in edits):
                warnings.append('USB vendor:product of %s is not unique on this host: its hostdev '
                                'also names bus %s device %s, which change when it is replugged'
                                % (name, record['usb']['bus'], record['usb']['device']))
        else:
            for target in targets:
                for element, source in current[target]:
                    if name in _held(model, source):
                        edits.append({'action': 'detach', 'device': name, 'target': target,
                                      'xml': element_xml(element)})
    for reference, wanted in gone:
        for target in targets:
            for element, source in current[target]:
                xml = element_xml(element)
                if sources_match(source, wanted) and not any(
                        edit['xml'] == xml and edit['target'] == target for edit in edits):
                    edits.append({'action': 'detach', 'device': reference, 'target': target, 'xml': xml})
                    warnings.append('%s is not on this host (any more); the hostdev of %s that names it '
                                    'is removed from its %s definition' % (reference, domain, target))

    # -- affected devices and impact ---------------------------------------
    affected = set()
    for name in names:
        affected.update(model.affected_by(name))
    affected -= set(names)
    impact = []
    if state == 'present':
        impact = [impact_entry(model.device(name)) for name in sorted(affected)
                  if model.device(name).get('type') != 'pci']

    # -- validation (present only: removing a device never harms the host) -
    if state == 'present':
        problems.extend(_validate(model, domain, names, affected, own, edits, live, force))
        added = sorted(set(edit['device'] for edit in edits))
        if added and impact:
            warnings.append('assigning %s to %s takes from the host: %s'
                            % (', '.join(added), domain, ', '.join(impact_label(entry) for entry in impact)))

    # -- the diff: before/after of the first target ------------------------
    diff = {'before': '', 'after': ''}
    if targets:
        shown = targets[0]
        before = [element_xml(element) for element, _source in current[shown]]
        removed_xml = [edit['xml'] for edit in edits if edit['target'] == shown and edit['action'] == 'detach']
        after = [text for text in before if text not in removed_xml]
        after.extend(edit['xml'] for edit in edits if edit['target'] == shown and edit['action'] == 'attach')
        header = '%s: <hostdev> elements of the %s definition' % (
            domain, 'persistent' if shown == 'config' else 'running')
        diff = {'before': hostdevs_text(before), 'after': hostdevs_text(after),
                'before_header': header, 'after_header': header + ' (predicted)'}

    return {
        'domain': domain,
        'state': state,
        'devices': names,
        'targets': targets,
        'edits': edits,
        'changed': bool(edits),
        'added': sorted(set(edit['device'] for edit in edits if edit['action'] == 'attach')),
        'removed': sorted(set(edit['device'] for edit in edits if edit['action'] == 'detach')),
        'affected': sorted(affected),
        'impact': impact,
        'problems': problems,
        'warnings': warnings,
        'diff': diff,
    }


def _driver(record):
    return 'driver %s' % record['driver'] if record.get('driver') else 'no driver'


def _validate(model, domain, names, affected, own, edits, live, force):
    problems = []

    # the device itself: assignable at all?
    for name in names:
        eligible, reasons = model.eligibility(name)
        if not eligible:
            problems.append(problem(
                'not_eligible', name, '%s is not eligible for passthrough: %s' % (
                    name, '; '.join('%s (%s)' % (code, REASONS.get(code, code)) for code in reasons))))

    # PCI needs the IOMMU
    pci = [name for name in names if model.device(name).get('type') == 'pci']
    if pci and not model.iommu.get('enabled') and not force:
        problems.append(problem(
            'iommu_off', ', '.join(pci),
            'cannot assign PCI device%s %s: %s; force: true writes the definition anyway, but the '
            'domain will not start until the IOMMU is on'
            % ('s' if len(pci) > 1 else '', ', '.join(pci), IOMMU_OFF_HINT)))

    # the groups: every other endpoint must be in the guest or free
    others_of = {}
    for name in sorted(set(names) | affected):
        others_of[name] = [dom for dom in model.assigned_to(name) if dom != domain]
    in_guest = set(names) | own
    blocking = {}
    for name in sorted(affected):
        record = model.device(name)
        if not is_pci_endpoint(record) or name in in_guest:
            continue
        if (record.get('driver') is None or record['driver'] in FREE_DRIVERS) and not others_of[name]:
            continue
        blocking.setdefault(model.iommu_group(name), []).append(name)
    for group in sorted(blocking, key=lambda value: (value is None, value)):
        members = blocking[group]
        requested = [name for name in names if model.iommu_group(name) == group] if group is not None else names
        details = []
        for name in members:
            text = '%s (%s' % (name, _driver(model.device(name)))
            if others_of[name]:
                text += ', held by domain %s' % ', '.join(others_of[name])
            details.append(text + ')')
        endpoints = sorted(set(member for name in requested for member in group_endpoints(model, name)))
        bridges = group_bridges(model, group) if group is not None else []
        message = ('%s shares IOMMU group %s with %s, neither in this assignment nor free (free: held by '
                   'no other domain and bound to vfio-pci, pci-stub or no driver), so the domain could not '
                   'start ("group %s is not viable"). include_group: true would add the group\'s endpoint '
                   'devices (%s)' % (', '.join(requested), group, ', '.join(details), group,
                                     ', '.join(endpoints)))
        if bridges:
            message += '; bridges in the group (%s) never need assigning' % ', '.join(bridges)
        problems.append(problem('group_not_viable', ', '.join(members), message + '.'))

    # one device, one domain (defined or running)
    for name in sorted(set(names) | affected):
        if not others_of[name]:
            continue
        if name in names:
            message = '%s is already assigned to domain %s' % (name, ', '.join(others_of[name]))
        else:
            message = ('%s, which this assignment takes from the host (IOMMU group %s), is assigned to '
                       'domain %s' % (name, model.iommu_group(name), ', '.join(others_of[name])))
        problems.append(problem('assigned_elsewhere', name, message))

    # never take what the host itself runs on
    if not force:
        for name in sorted(set(names) | affected):
            uses = model.host_use(name)
            if not uses:
                continue
            label = impact_label(impact_entry(model.device(name)))
            if name in names:
                message = '%s is in use by the host: %s' % (label, ', '.join(uses))
            else:
                message = '%s, which this assignment takes from the host, is in use by the host: %s' % (
                    label, ', '.join(uses))
            problems.append(problem('host_in_use', name, message + '; force: true overrides'))

    # no hot-plug of GPUs
    if live and not force:
        for name in sorted(set(edit['device'] for edit in edits if edit['action'] == 'attach')):
            record = model.device(name)
            if is_display(record):
                problems.append(problem(
                    'display_hotplug', name,
                    'hot-plug (live: true) of display controller %s (class %s) is refused: set live: false '
                    'to change only the persistent definition, or force: true' % (name, record['pci']['class'])))
    return problems
