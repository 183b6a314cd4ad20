# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: write a reservation's boot files, regenerate the initramfs when its inputs
changed, load the VFIO modules now.

``ensure_reservation()`` validates the reservation (vfio_reservation.plan_reservation)
before anything changes, plans every file (``HostFiles``, so check mode and diff are the
same plan), and outside check mode writes them, regenerates the initramfs
(``update-initramfs -u -k all`` or ``dracut -f --regenerate-all``) only when the hash of
its inputs differs from the one recorded after the last successful regeneration (so a
run that failed half-way regenerates the next time, and an unchanged one never does),
and loads the VFIO modules that are not loaded (``modprobe -a``).

The stamp (STAMP) tells what the initramfs holds: the hash of the inputs as they were on
disk when the last regeneration succeeded, or no stamp when it holds none of ours. While a
regeneration runs, and after one that failed, a marker (REGENERATING) says the initramfs is
unknown, so the next run regenerates whatever it wants. The caller holds the host lock
(host_lock) from its read to the last write, so no other run changes the inputs meanwhile.
"""

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import (
    Commands,
    FileChange,
    HostFiles,
    apply_all,
    check_command_timeout,
    diffs,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import problems_message
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_bind import (
    Move,
    PciBus,
    apply_moves,
    move_refusals,
    plan_moves,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_reservation import (
    ALL_FILES,
    INITRAMFS_FILES,
    INITRAMFS_KINDS,
    RESERVATION,
    STAMP,
    VFIO_DRIVER,
    VFIO_MODULES,
    ReservationRequest,
    addresses_of,
    boot_files,
    file_mode,
    initramfs_stamp,
    plan_reservation,
    reserved_addresses,
)

DEFAULT_COMMAND_TIMEOUT = 600
# The configuration directory that tells which initramfs generator a host uses.
INITRAMFS_MARKERS = (('initramfs-tools', '/etc/initramfs-tools'), ('dracut', '/etc/dracut.conf.d'),
                     ('dracut', '/etc/dracut.conf'))
REGENERATE = {'initramfs-tools': ['update-initramfs', '-u', '-k', 'all'],
              'dracut': ['dracut', '-f', '--regenerate-all']}
# Present from the start of a regeneration until the stamp of its success is written: the
# initramfs holds something unknown (a regeneration failed or was killed half-way).
REGENERATING = '/var/lib/virt-hostdev/vfio-initramfs.regenerating'


@dataclass
class ReservationOutcome:
    """What ensure_reservation found and did (or would do in check mode)."""

    changed: bool
    devices: List[str]
    addresses: List[str]
    released: List[str]
    initramfs: str
    regenerated: bool
    loaded: List[str]
    pending: List[str]
    commands: List[List[str]]
    diff: List[Dict[str, str]]
    warnings: List[str] = field(default_factory=list)
    # bind_now: the driver moves made (planned, in check mode); see vfio_bind.Move.result
    moves: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def reboot_required(self) -> bool:
        return bool(self.pending)

    def result(self) -> Dict[str, Any]:
        return dict(devices=self.devices, addresses=self.addresses, released=self.released,
                    initramfs=self.initramfs, regenerated=self.regenerated, loaded=self.loaded,
                    pending=self.pending, reboot_required=self.reboot_required, commands=self.commands,
                    diff=self.diff, moves=self.moves)


def reservation_sysfs_root(root: str, sysfs_root: Optional[str]) -> Optional[str]:
    """The sysfs tree a reservation is validated against: sysfs_root, else the sys directory under a
    root other than / (None: the reader's default).

    Under a root other than /, a sysfs_root outside it is refused: the devices would be checked on
    another machine than the one whose boot files are written."""
    root = os.path.abspath(root)
    if root == '/':
        return sysfs_root
    if sysfs_root is None:
        return os.path.join(root, 'sys')
    if os.path.commonpath([root, os.path.abspath(sysfs_root)]) != root:
        raise HostdevError('sysfs_root %s is not under root %s: the devices would be read from another tree '
                           'than the one whose files are written; leave sysfs_root unset (it defaults to %s) '
                           'or give one under root' % (sysfs_root, root, os.path.join(root, 'sys')))
    return sysfs_root


def detect_initramfs(files: HostFiles) -> str:
    """initramfs-tools, dracut, or none, from the host's configuration directories."""
    for kind, marker in INITRAMFS_MARKERS:
        if files.exists(marker):
            return kind
    return 'none'


def ensure_reservation(files: HostFiles, commands: Commands, model: HostModel, request: ReservationRequest,
                       state: str = 'present', initramfs: str = 'auto', check_mode: bool = False,
                       timeout: int = DEFAULT_COMMAND_TIMEOUT, vf_slots: Optional[Dict[str, str]] = None,
                       bus: Optional[PciBus] = None) -> ReservationOutcome:
    """Make the host's reservation exactly request (state present) or nothing (absent).

    vf_slots: the VF addresses the PFs may create (a reservation may name them before they exist).
    bus: bind now (bind_now): after the files, the reserved devices move to vfio-pci and the released
    ones back to their drivers, through the PCI bus of this sysfs tree (vfio_bind)."""
    check_command_timeout(timeout)
    if initramfs not in ('auto',) + INITRAMFS_KINDS:
        raise HostdevError('initramfs must be one of auto, %s, not %r' % (', '.join(INITRAMFS_KINDS), initramfs))
    kind = detect_initramfs(files) if initramfs == 'auto' else initramfs
    warnings: List[str] = []
    names: List[str] = []
    future: Dict[str, str] = {}
    if state == 'present':
        reservation = plan_reservation(model, request, vf_slots)
        if reservation.problems:
            raise HostdevError(problems_message(reservation.problems), problems=reservation.problems,
                               devices=reservation.devices)
        names, future = reservation.devices, reservation.future_vfs
        warnings += reservation.warnings
    elif request.devices:
        raise HostdevError('state absent releases the whole reservation: leave devices empty '
                           '(to release some devices, run state present with the ones to keep)')
    addresses = addresses_of(model, names)
    if addresses and kind == 'none':
        warnings.append('no initramfs generator (initramfs-tools, dracut) was found: the reserved devices are '
                        'bound by a udev rule only, so a host driver that is already loaded (for an identical '
                        'card, say) may claim them first')
    wanted = boot_files(kind, model if state == 'present' else None, names, future)
    changes = [files.plan(path, wanted[path], file_mode(path)) for path in ALL_FILES]
    previously = reserved_addresses(files.read(RESERVATION))
    released = [address for address in previously if address not in addresses and address not in future]
    moves = _planned_moves(bus, model, names, released)
    stamp = _stamp_change(files, kind, wanted)
    regenerate = kind != 'none' and (stamp.changed or files.exists(REGENERATING))
    load = [module for module in VFIO_MODULES if not files.exists('/sys/module/%s' % module)] \
        if state == 'present' else []
    planned = _commands(commands, kind, regenerate, load)
    moved = [move.result() for move in moves]
    if not check_mode:
        apply_all(files, changes)
        if regenerate:
            _regenerate(files, commands, kind, planned[0], timeout)
        for command in planned[1 if regenerate else 0:]:
            commands.run(command, timeout)
        if bus is not None and moves:
            moved = _move(bus, moves, changes, planned)
            warnings += ['%s (%s) is back from vfio-pci on no driver: no loaded driver claims it (load its '
                         'driver with modprobe, or leave it so)' % (item['address'], item['device'])
                         for item in moved if item['to'] == 'host' and item['driver_after'] is None]
    gone = set(move.name for move in moves)
    pending = [name for name in _pending(model, addresses if state == 'present' else previously, state)
               if name not in gone]
    return ReservationOutcome(
        changed=any(change.changed for change in changes) or bool(planned) or bool(moves), devices=names,
        addresses=sorted(addresses + list(future)), released=released, initramfs=kind, regenerated=regenerate,
        loaded=load, pending=pending, commands=planned,
        diff=diffs(changes) + [move.diff() for move in moves], warnings=warnings, moves=moved)


def _planned_moves(bus: Optional[PciBus], model: HostModel, names: List[str], released: List[str]) -> List[Move]:
    """bind_now's moves, refused before any change while a device is in use (vfio_bind.move_refusals)."""
    if bus is None:
        return []
    bus.tree.require_sysfs()
    moves = plan_moves(bus, model, [name for name in names if model.device(name).get('type') == 'pci'], released)
    problems = move_refusals(bus.tree, model, moves)
    if problems:
        raise HostdevError(problems_message(problems), problems=problems, devices=[move.name for move in moves])
    return moves


def _move(bus: PciBus, moves: List[Move], changes: List[FileChange], commands: List[List[str]]) -> List[Dict[str, Any]]:
    """apply_moves, its error saying what this run changed before it."""
    try:
        return apply_moves(bus, moves)
    except HostdevError as error:
        written = [change.path for change in changes if change.changed]
        raise HostdevError('%s The boot files were written before (%s), and the commands run (%s): the next '
                           'boot binds the reservation; run again to move the devices now.' % (
                               error, ', '.join(written) or 'none changed',
                               ', '.join(' '.join(command) for command in commands) or 'none'),
                           **error.result)


def _regenerate(files: HostFiles, commands: Commands, kind: str, command: List[str], timeout: int) -> None:
    """Regenerate the initramfs and stamp what it now holds: the inputs as read from disk just before.

    The marker goes first and leaves only with the new stamp, so a failure (or a kill) in
    between leaves the initramfs marked unknown rather than described by a stamp it no longer
    matches."""
    files.apply(FileChange(REGENERATING, files.read(REGENERATING),
                           'a regeneration of the initramfs started and has not succeeded yet\n'))
    holds = initramfs_stamp(kind, dict((path, files.read(path)) for path in INITRAMFS_FILES[kind]))
    commands.run(command, timeout)
    files.apply(files.plan(STAMP, holds))
    files.apply(FileChange(REGENERATING, files.read(REGENERATING), None))


def _stamp_change(files: HostFiles, kind: str, wanted: Dict[str, Optional[str]]) -> FileChange:
    """The stamp as the next successful regeneration leaves it: a regeneration is due when it changes."""
    recorded = files.read(STAMP)
    after = initramfs_stamp(kind, wanted) if kind != 'none' else None
    return FileChange(STAMP, recorded, after)


def _commands(commands: Commands, kind: str, regenerate: bool, load: List[str]) -> List[List[str]]:
    planned = []
    if regenerate:
        tool, *arguments = REGENERATE[kind]
        planned.append([_found(commands, tool)] + arguments)
    if load:
        planned.append([_found(commands, 'modprobe'), '-a'] + load)
    return planned


def _found(commands: Commands, name: str) -> str:
    path = commands.find(name)
    if not path:
        raise HostdevError('%s not found on this host (searched PATH and the sbin directories)' % name)
    return path


def _pending(model: HostModel, addresses: List[str], state: str) -> List[str]:
    """The devices not yet where the reservation puts them: a reboot does it.

    Present: reserved devices not bound to vfio-pci. Absent: released devices still on it.
    A device the host no longer has is not pending.
    """
    pending = []
    for address in addresses:
        try:
            name = model.resolve_reference(address)
        except HostdevError:
            continue
        on_vfio = model.device(name).get('driver') == VFIO_DRIVER
        if on_vfio != (state == 'present'):
            pending.append(name)
    return pending
