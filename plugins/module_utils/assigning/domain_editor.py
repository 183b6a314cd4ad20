# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the libvirt side of a hostdev assignment.

assign() is the whole run: take the host lock, open one read-write connection,
read the host afresh through it, look the domain up, plan and validate (pure,
see assignment), then apply the edits with attachDeviceFlags/detachDeviceFlags,
all or nothing. The domain is never redefined, so everything but its <hostdev>
elements (secrets, metadata, other devices) is left to libvirt as it is. The inactive
mdevs the plan starts (mdev_start) are started first, and stopped again when the edits
are undone.
"""

import os
import xml.etree.ElementTree as ET
from functools import partial
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import (
    AssignmentRequest,
    Edit,
    Plan,
    plan_assignment,
)
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.edit_journal import (
    EditJournal,
    interrupted_message,
)
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, shown
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import DEFAULT_TIMEOUT, host_lock
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import DEFAULT_TIMEOUT as LIBVIRT_TIMEOUT
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import (
    DeadlineExceeded,
    connection,
    describe,
    ensure_not_cancelled,
    is_libvirt_error,
    libvirt,
    libvirt_call,
    translated,
    within_deadline,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import (
    element_xml,
    hostdev_elements,
    hostdev_source,
    sources_match,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import problems_message
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from ansible_collections.virt.hostdev.plugins.module_utils.reading.libvirt_reader import read_domains


class AssignmentRefused(HostdevError):
    """Validation found problems; nothing was edited. plan.problems lists them; source: the reader used."""

    def __init__(self, plan: Plan, source: str) -> None:
        super().__init__(problems_message(plan.problems), problems=plan.problems, **plan.result(source))
        self.plan = plan


class EditFailed(HostdevError):
    """An edit failed; the ones made before it were undone (rolled_back says if that worked)."""

    def __init__(self, message: str, rolled_back: bool = True) -> None:
        super().__init__(message, rolled_back=rolled_back)
        self.rolled_back = rolled_back


def _flag(target):
    return libvirt.VIR_DOMAIN_AFFECT_CONFIG if target == 'config' else libvirt.VIR_DOMAIN_AFFECT_LIVE


def lookup_domain(conn: Any, name: str) -> Any:
    """The virDomain called name; a clear error when it is not defined."""
    return libvirt_call(lambda: conn.lookupByName(name), 'cannot look up domain %s' % shown(name),
                        missing_message='domain %s is not defined at %s' % (shown(name), _uri(conn)))


def _uri(conn):
    try:
        return conn.getURI()
    except Exception:  # pylint: disable=broad-except
        return 'this libvirt connection'


def target_xml(dom: Any, target: str) -> str:
    """The domain's persistent (config) or running (live) definition."""
    flags = libvirt.VIR_DOMAIN_XML_INACTIVE if target == 'config' else 0
    with translated('cannot read the %s definition of domain %s' % (target, dom.name())):
        return dom.XMLDesc(flags)


def domain_state(dom: Any) -> Dict[str, Any]:
    """{'active', 'persistent', 'config_xml', 'live_xml'} of a domain, read once."""
    with translated('cannot read the state of domain %s' % dom.name()):
        active = bool(dom.isActive())
        persistent = bool(dom.isPersistent())
    return {
        'active': active,
        'persistent': persistent,
        'config_xml': target_xml(dom, 'config') if persistent else None,
        'live_xml': target_xml(dom, 'live') if active else None,
    }


def _describe_edit(edit, domain):
    verb = 'attach' if edit['action'] == 'attach' else 'detach'
    where = 'persistent definition' if edit['target'] == 'config' else 'running domain'
    preposition = 'to' if verb == 'attach' else 'from'
    return '%s %s %s the %s of %s' % (verb, edit['device'], preposition, where, domain)


def _undo(dom, edit):
    """Reverse one completed edit. An attach is undone with the XML libvirt now stores."""
    ensure_not_cancelled('undo')
    flag = _flag(edit['target'])
    if edit['action'] == 'detach':
        dom.attachDeviceFlags(edit['xml'], flag)
        return
    wanted = hostdev_source(ET.fromstring(edit['xml']))
    xml = edit['xml']
    for element, source in hostdev_elements(target_xml(dom, edit['target'])):
        if sources_match(source, wanted):
            xml = element_xml(element)
            break
    dom.detachDeviceFlags(xml, flag)


def apply_edits(dom: Any, edits: List[Edit], domain: Optional[str] = None) -> List[Edit]:
    """Apply the edits in order, all or nothing.

    When one fails, the ones already made are undone in reverse order, then
    EditFailed is raised with libvirt's message and whether the rollback worked.
    In a session past its deadline (see libvirt_errors.within_deadline) no edit
    or undo starts any more.
    """
    domain = domain or dom.name()
    done: List[Edit] = []
    for edit in edits:
        ensure_not_cancelled(_describe_edit(edit, domain))
        try:
            if edit['action'] == 'attach':
                dom.attachDeviceFlags(edit['xml'], _flag(edit['target']))
            else:
                dom.detachDeviceFlags(edit['xml'], _flag(edit['target']))
        except Exception as error:  # pylint: disable=broad-except
            if not is_libvirt_error(error):
                raise
            raise roll_back(dom, done, domain, describe(error, 'cannot ' + _describe_edit(edit, domain)))
        done.append(edit)
    return done


def roll_back(dom: Any, done: List[Edit], domain: str, reason: str) -> EditFailed:
    """Undo the edits done, in reverse; the EditFailed saying why (reason) and how the undo went."""
    failures = []
    for earlier in reversed(done):
        try:
            _undo(dom, earlier)
        except Exception as undo_error:  # pylint: disable=broad-except
            failures.append(describe(undo_error, 'cannot undo: ' + _describe_edit(earlier, domain)))
    message = reason
    if not done:
        message += '; no earlier edit to undo, the domain is unchanged'
    elif not failures:
        message += '; rollback succeeded: the %d earlier edit%s %s undone' % (
            len(done), '' if len(done) == 1 else 's', 'was' if len(done) == 1 else 'were')
    else:
        message += ('; ROLLBACK FAILED: %s. The domain may hold part of this change: run the same task '
                    'again to complete it, or with state: absent to remove it (the next run reports the '
                    'interrupted one)' % '; '.join(failures))
    return EditFailed(message, rolled_back=not failures)


def _refuse_double_assignment(conn: Any, model: Any, dom: Any, plan: Plan, domain: str, warnings: List[str]) -> None:
    """Undo this run's edits, and fail naming the domains, when another domain took the same devices."""
    others = double_assignments(conn, model, domain, sorted(set(plan.devices) | set(plan.affected)), warnings)
    if others:
        raise roll_back(dom, plan.edits, domain, (
            'after its edits this run found %s also in %s: another run assigned them at the same time without '
            'the shared host lock (another controller, a remote uri, a container with its own /run), and one '
            'device cannot serve two domains' % (
                ', '.join(sorted(others)),
                ', '.join('domain %s' % name for name in sorted(set(name for names in others.values()
                                                                    for name in names))))))


def double_assignments(conn: Any, model: Any, domain: str, taken: List[str],
                       warnings: List[str]) -> Dict[str, List[str]]:
    """{device: other domains} among taken that another domain references now, read afresh.

    A run that bypassed the host lock (another controller, a remote uri, a
    container with its own /run) may have given the same device to another
    domain between this run's read and its edits: libvirt accepts one PCI
    device in two inactive definitions.
    """
    holders = model.assignments_in(dom for dom in read_domains(conn, warnings) if dom['name'] != domain)
    return dict((name, holders[name]) for name in taken if name in holders)


def start_mdevs(conn: Any, names: List[str], domain: str) -> List[str]:
    """Start the defined, inactive mdevs names (libvirt's node device create), in order; the ones started.

    When one fails, the ones this run started are stopped again and the error says so.
    """
    started: List[str] = []
    for name in names:
        ensure_not_cancelled('start mdev %s' % name)
        try:
            device = libvirt_call(partial(conn.nodeDeviceLookupByName, name), 'cannot look up mdev %s' % name,
                                  missing_message='libvirt at %s does not know mdev %s, so it cannot start it (define it '
                                  'with virt.hostdev.mdevs)' % (_uri(conn), name))
            with translated('cannot start mdev %s for domain %s' % (name, domain)):
                device.create()
        except HostdevError as error:
            raise HostdevError(error.message + stop_mdevs(conn, started)) from None
        started.append(name)
    return started


def stop_mdevs(conn: Any, started: List[str]) -> str:
    """Stop the mdevs this run started (their definitions stay); what a failure's message adds."""
    if not started:
        return '; nothing was changed'
    failures = []
    for name in reversed(started):
        try:
            with translated('cannot stop mdev %s again' % name):
                conn.nodeDeviceLookupByName(name).destroy()
        except HostdevError as error:
            failures.append(error.message)
    if failures:
        return '; not every mdev this run started was stopped again: %s' % '; '.join(failures)
    return '; the mdevs this run started (%s) were stopped again' % ', '.join(started)


def pending_unplugs(dom: Any, edits: List[Edit]) -> List[str]:
    """Devices a live detach asked the guest to release that the running domain still has.

    A PCI hot-unplug needs the guest's cooperation (ACPI or PCIe native hotplug):
    libvirt waits a few seconds for QEMU to report the device gone, then returns
    with the removal still in progress. The device leaves the domain when the
    guest acknowledges or the domain stops.
    """
    detached = [edit for edit in edits if edit['action'] == 'detach' and edit['target'] == 'live']
    if not detached:
        return []
    with translated('cannot read the running definition of domain %s' % dom.name()):
        if not dom.isActive():
            return []
    still = [source for _element, source in hostdev_elements(target_xml(dom, 'live'))]
    pending = []
    for edit in detached:
        wanted = hostdev_source(ET.fromstring(edit['xml']))
        if any(sources_match(wanted, source) for source in still) and edit['device'] not in pending:
            pending.append(edit['device'])
    return sorted(pending)


def assign(request: AssignmentRequest, uri: str, source: str = 'auto', sysfs_root: Optional[str] = None,
           check_mode: bool = False, lock_path: Optional[str] = None,
           lock_timeout: float = DEFAULT_TIMEOUT, timeout: float = LIBVIRT_TIMEOUT) -> Tuple[Plan, str, List[str]]:
    """One validated assignment run; returns (plan, source used, warnings).

    uri, source and sysfs_root say where the host is read (see host_reader);
    the domain is always read and edited through uri. plan.pending_unplug lists
    the devices a live detach left in the running domain because the guest has
    not released them yet (see pending_unplugs). The whole libvirt session
    (connection, read, edits) gets at most timeout seconds: past it, the lock is
    released, DeadlineExceeded raised, and no further edit starts.

    After an addition, every domain is read again: when another one now holds a
    device this run took (a run that bypassed the lock), this run undoes its
    edits and fails naming that domain. An edit journal beside the lock tells
    the next run when this one stopped half-way (see edit_journal).

    Raises AssignmentRefused (nothing edited), EditFailed (rolled back, or not:
    see rolled_back) or HostdevError (connection, lookup, lock, deadline).
    """
    progress = {'editing': False}

    def session(journal: EditJournal, warnings: List[str]) -> Tuple[Plan, str, List[str]]:
        with connection(uri) as conn:
            model, used, read_warnings = read_host(source, uri, sysfs_root, conn=conn)
            warnings.extend(read_warnings)
            dom = lookup_domain(conn, request.domain)
            current = domain_state(dom)
            plan = plan_assignment(model, request, active=current['active'],
                                   config_xml=current['config_xml'], live_xml=current['live_xml'])
            if plan.problems:
                raise AssignmentRefused(plan, used)
            if check_mode:
                return plan, used, warnings
            progress['editing'] = bool(plan.started)
            started = start_mdevs(conn, plan.started, request.domain)
            if plan.edits:
                progress['editing'] = True  # before apply_edits checks for cancellation
                try:
                    journal.write(request.state, plan.edits)
                except OSError as error:
                    raise HostdevError('cannot write the edit journal %s before editing domain %s: %s; nothing '
                                       'was changed' % (journal.path, shown(request.domain), error.strerror))
                try:
                    apply_edits(dom, plan.edits, request.domain)
                    if request.state == 'present':
                        _refuse_double_assignment(conn, model, dom, plan, request.domain, warnings)
                except EditFailed as error:
                    if error.rolled_back:
                        journal.clear()
                        error.message += stop_mdevs(conn, started) if started else ''
                        error.args = (error.message,)
                    error.result.update(plan.result(used))
                    raise
                plan.pending_unplug = pending_unplugs(dom, plan.edits)
            journal.clear()  # the domain is as asked (or was already)
        return plan, used, warnings

    with host_lock(lock_path, timeout=lock_timeout) as held:
        journal = EditJournal(os.path.dirname(held), uri, request.domain)
        warnings: List[str] = []
        interrupted = journal.read(warnings)
        if interrupted is not None:
            warnings.append(interrupted_message(interrupted, request.state))
        try:
            plan, used, warnings = within_deadline(lambda: session(journal, warnings), uri, timeout)
        except DeadlineExceeded as error:
            if not progress['editing']:
                raise
            raise DeadlineExceeded(
                '%s; it stopped answering while starting mdevs for or editing domain %s: an edit already sent may still take '
                'effect when it resumes, and no further edit or undo is made, so check the domain\'s hostdevs '
                'before running again' % (error.message, shown(request.domain)), **error.result) from None
    for name in plan.pending_unplug:
        warnings.append(
            'the running domain %s has not released %s yet: PCI hot-unplug needs the guest to acknowledge '
            'it (ACPI or PCIe native hotplug), so the device stays in the domain, and away from the host, '
            'until the guest releases it or the domain stops' % (request.domain, name))
    return plan, used, warnings + plan.warnings
