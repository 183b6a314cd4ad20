# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: a reservation of PCI devices for guests, and the files that bind them to vfio-pci
at boot. No I/O happens here.

``plan_reservation()`` resolves the references as domain_hostdev does and validates the
reservation with the refusal rules for its purpose (``model.refusals.RESERVE``): the IOMMU
may be off (preparing turns it on), another domain may hold a device (the reservation is
for guests), and a group must be reserved whole, since after the reboot a member left out
is bound to its host driver whatever it is bound to now.

Early binding works by address: the initramfs writes ``vfio-pci`` into each reserved
device's ``driver_override`` before udev loads any driver (an initramfs-tools
``init-top`` script that sorts before ``udev``, or a dracut ``pre-udev`` hook), so no host
driver ever claims it, an identical card at another address keeps its driver, and
vfio-pci takes it when loaded. ``driver_override`` lives in the kernel, so it survives
the switch to the real root; a udev rule there sets it again for a device that is added
later (hot-plug, a PCI rescan). ``boot_files()`` gives every file's content.

Problem codes: those of model.refusals.RESERVE (unresolved_reference, not_eligible,
iommu_group_unknown, host_in_use, group_not_viable), and not_pci.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevModelError
from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import pci_slot
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import parse_pci_address, pci_address
from ansible_collections.virt.hostdev.plugins.module_utils.model.sriov import describe_slot, unplaced_vf_text, vf_slots
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import (
    RESERVE,
    Problem,
    problem,
    refusals,
    resolve_devices,
)

STATES = ('present', 'absent')
INITRAMFS_KINDS = ('initramfs-tools', 'dracut', 'none')
VFIO_DRIVER = 'vfio-pci'
VFIO_MODULES = ('vfio', 'vfio_iommu_type1', 'vfio_pci')

# The files a reservation writes, as the host names them.
RESERVATION = '/etc/virt-hostdev/vfio-pci.conf'
MODULES_LOAD = '/etc/modules-load.d/virt-hostdev-vfio.conf'
UDEV_RULES = '/etc/udev/rules.d/60-virt-hostdev-vfio.rules'
# initramfs-tools runs init-top scripts in name order unless they declare prerequisites;
# "00-" sorts before "udev", the script that starts udevd and loads the host drivers.
INITRAMFS_TOOLS_HOOK = '/etc/initramfs-tools/hooks/virt-hostdev-vfio'
INITRAMFS_TOOLS_SCRIPT = '/etc/initramfs-tools/scripts/init-top/00-virt-hostdev-vfio'
DRACUT_CONF = '/etc/dracut.conf.d/virt-hostdev-vfio.conf'
DRACUT_MODULE = '/usr/lib/dracut/modules.d/90virt-hostdev-vfio'
DRACUT_SETUP = DRACUT_MODULE + '/module-setup.sh'
DRACUT_HOOK = DRACUT_MODULE + '/virt-hostdev-vfio.sh'
# The hash of the initramfs inputs the last successful regeneration used.
STAMP = '/var/lib/virt-hostdev/vfio-initramfs.sha256'

INITRAMFS_FILES = {
    'initramfs-tools': (RESERVATION, INITRAMFS_TOOLS_HOOK, INITRAMFS_TOOLS_SCRIPT),
    'dracut': (RESERVATION, DRACUT_CONF, DRACUT_SETUP, DRACUT_HOOK),
    'none': (),
}
# Every file a reservation may have written, whatever the initramfs: absent removes them all.
ALL_FILES = (RESERVATION, MODULES_LOAD, UDEV_RULES, INITRAMFS_TOOLS_HOOK, INITRAMFS_TOOLS_SCRIPT,
             DRACUT_CONF, DRACUT_SETUP, DRACUT_HOOK)
EXECUTABLES = (INITRAMFS_TOOLS_HOOK, INITRAMFS_TOOLS_SCRIPT, DRACUT_SETUP, DRACUT_HOOK)


@dataclass(frozen=True)
class ReservationRequest:
    """What the user asks for (see the vfio_reserve options)."""

    devices: List[str]
    include_group: bool = False
    force: bool = False


@dataclass
class Reservation:
    """devices: resolved names, in request order then the group members include_group added."""

    devices: List[str]
    problems: List[Problem]
    warnings: List[str] = field(default_factory=list)
    # VFs reserved by address before their PF creates them: {address: 'VF n of <PF name>'}
    future_vfs: Dict[str, str] = field(default_factory=dict)

    def addresses(self, model: HostModel) -> List[str]:
        return addresses_of(model, self.devices)


def addresses_of(model: HostModel, names: List[str]) -> List[str]:
    """The sorted canonical addresses of the PCI devices among names."""
    found = []
    for name in names:
        record = model.device(name)
        parsed = parse_pci_address(str((record.get('pci') or {}).get('address') or ''))
        if record.get('type') == 'pci' and parsed is not None:
            found.append(pci_address(*parsed))
    return sorted(found)


def plan_reservation(model: HostModel, request: ReservationRequest) -> Reservation:
    """Resolve and validate a reservation; every problem is returned, none raised.

    An address the host has no device at is reserved when one of the host's PFs places a VF there
    (model.sriov.vf_slots: its PF creates it later), and refused as any unknown reference otherwise."""
    references, future = [], {}
    slots = vf_slots(model)
    for reference in request.devices:
        parsed = parse_pci_address(str(reference).strip())
        address = pci_address(*parsed) if parsed is not None else None
        if address in slots and _unknown(model, address):
            future[address] = describe_slot(slots[address])
        else:
            references.append(reference)
    names, _gone, problems = resolve_devices(model, references, request.include_group)
    for item in problems:
        unplaced = unplaced_vf_text(model, item['device']) if item['code'] == 'unresolved_reference' else None
        if unplaced:
            item['message'] = '%s; %s' % (item['message'], unplaced)
    pci = [name for name in names if model.device(name).get('type') == 'pci']
    problems += [problem('not_pci', name, '%s is a %s, not a PCI device: only PCI devices are bound to vfio-pci; '
                         'give it to a domain with virt.hostdev.domain_hostdev instead'
                         % (name, model.device(name).get('type')))
                 for name in names if name not in pci]
    warnings: List[str] = []
    for item in refusals(model, pci, RESERVE):
        if item['code'] == 'not_eligible' and request.force and \
                model.eligibility(str(item['device']))[1] == ['boot_vga']:
            warnings.append('%s is the boot VGA device, reserved because force is true: the host console '
                            'and the firmware framebuffer lose it at the next boot' % item['device'])
            continue
        problems.append(item)
    # A PF bound to vfio-pci at boot creates no VFs (its driver does), so its VF slots would stay empty.
    for pf in sorted(set(slots[address][0] for address in future) & set(pci)):
        vfs = sorted(address for address in future if slots[address][0] == pf)
        problems.append(problem('has_virtual_functions', pf, '%s is reserved together with virtual functions it is '
                                'to create (%s), but bound to vfio-pci at boot it creates none: reserve the VFs '
                                'alone, so that the PF keeps its driver' % (pf, ', '.join(vfs))))
    warnings += _groups_unknown(model, pci)
    return Reservation(devices=names, problems=problems, warnings=warnings, future_vfs=future)


def _unknown(model: HostModel, address: str) -> bool:
    try:
        model.resolve_reference(address)
    except HostdevModelError:
        return True
    return False


def vf_addresses(model: HostModel, names: List[str]) -> List[str]:
    """The sorted addresses of the VFs among names (a VF's record names its PF)."""
    return addresses_of(model, [name for name in names
                                if ((model.device(name).get('pci') or {}).get('sriov') or {}).get('physical_function')])


def _groups_unknown(model: HostModel, names: List[str]) -> List[str]:
    """While the IOMMU is off there are no groups: say what the reboot will tell."""
    if not names or model.iommu_groups():
        return []
    warnings = ['the IOMMU is off, so the IOMMU groups of %s are not known until the reboot; after it, '
                'the hostdev_prepare role checks that every reserved device is on vfio-pci and its group '
                'is viable' % ', '.join(names)]
    for name in names:
        slot = pci_slot(model.device(name))
        siblings = [other for other in model.names() if other not in names and slot is not None
                    and pci_slot(model.device(other)) == slot]
        if siblings:
            warnings.append('%s shares its card with %s, which this reservation leaves out: functions of one '
                            'card usually share an IOMMU group; reserve them too unless the card isolates them'
                            % (name, ', '.join(siblings)))
    return warnings


def reserved_addresses(text: Optional[str]) -> List[str]:
    """The addresses a reservation file lists (the first word of each line that is not a comment)."""
    found = []
    for line in (text or '').splitlines():
        words = line.split('#', 1)[0].split()
        parsed = parse_pci_address(words[0]) if words else None
        if parsed is not None:
            found.append(pci_address(*parsed))
    return found


# -- the files ----------------------------------------------------------------------

HEADER = '# Written by virt.hostdev.vfio_reserve; do not edit: run the module (or the hostdev_prepare role).\n'

# The binding itself, shared by the initramfs-tools script and the dracut hook: POSIX sh that
# busybox and klibc run (no sed, no readlink), with no exit (dracut sources its hooks) and
# vh_ names (nothing of dracut's own is overwritten).
BIND_SCRIPT = r'''vh_conf=/etc/virt-hostdev/vfio-pci.conf
if [ -r "$vh_conf" ]; then
    # vfio-pci becomes each reserved device's only driver, before any driver is loaded.
    while read -r vh_address vh_rest; do
        case "$vh_address" in ''|'#'*) continue ;; esac
        vh_device=/sys/bus/pci/devices/$vh_address
        [ -w "$vh_device/driver_override" ] || continue
        echo vfio-pci > "$vh_device/driver_override"
        # a driver built into the kernel may have claimed it already: release it
        if [ -e "$vh_device/driver" ] && ! [ "$vh_device/driver" -ef /sys/bus/pci/drivers/vfio-pci ]; then
            echo "$vh_address" > "$vh_device/driver/unbind" 2>/dev/null
        fi
    done < "$vh_conf"
    modprobe -q vfio-pci 2>/dev/null
    while read -r vh_address vh_rest; do
        case "$vh_address" in ''|'#'*) continue ;; esac
        if [ -e "/sys/bus/pci/devices/$vh_address" ] && ! [ -e "/sys/bus/pci/devices/$vh_address/driver" ]; then
            echo "$vh_address" > /sys/bus/pci/drivers_probe 2>/dev/null
        fi
    done < "$vh_conf"
fi
'''

INITRAMFS_TOOLS_SCRIPT_TEXT = r'''#!/bin/sh
%s# Runs in the initramfs before udev (init-top, in name order): binds the devices that
# /etc/virt-hostdev/vfio-pci.conf lists to vfio-pci, by address.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
''' % HEADER + BIND_SCRIPT + 'exit 0\n'

INITRAMFS_TOOLS_HOOK_TEXT = r'''#!/bin/sh
%s# Puts the VFIO modules and the reservation into the initramfs.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules vfio vfio_iommu_type1 vfio_pci
if [ -r /etc/virt-hostdev/vfio-pci.conf ]; then
    mkdir -p "${DESTDIR}/etc/virt-hostdev"
    cp /etc/virt-hostdev/vfio-pci.conf "${DESTDIR}/etc/virt-hostdev/vfio-pci.conf"
fi
exit 0
''' % HEADER

DRACUT_SETUP_TEXT = r'''#!/bin/bash
%s# dracut module: the VFIO modules, the reservation, and a pre-udev hook that binds it.
check() { return 0; }
depends() { return 0; }
installkernel() { hostonly='' instmods vfio vfio_iommu_type1 vfio_pci; }
install() {
    inst_simple /etc/virt-hostdev/vfio-pci.conf
    inst_hook pre-udev 00 "$moddir/virt-hostdev-vfio.sh"
}
''' % HEADER

DRACUT_HOOK_TEXT = ('#!/bin/sh\n' + HEADER + '# dracut pre-udev hook (sourced): binds the reserved devices to '
                    'vfio-pci, by address.\n' + BIND_SCRIPT)

DRACUT_CONF_TEXT = HEADER + 'add_dracutmodules+=" virt-hostdev-vfio "\n'

MODULES_LOAD_TEXT = HEADER + '# The VFIO modules, loaded at every boot.\n' + ''.join(
    '%s\n' % module for module in VFIO_MODULES)


def reservation_text(model: HostModel, names: List[str], future_vfs: Optional[Dict[str, str]] = None) -> str:
    lines = [HEADER, '# PCI devices bound to vfio-pci at boot, by address; the initramfs reads this file.\n']
    by_address = dict((address, name) for name in names for address in addresses_of(model, [name]))
    described = dict(future_vfs or {})
    for address, name in by_address.items():
        pci = model.device(name)['pci']
        ids = ':'.join(str(pci.get(key) or '0x?')[2:] for key in ('vendor_id', 'product_id'))
        described[address] = '%s %s' % (name, ids)
    for address in sorted(described):
        later = ', not created yet' if address in (future_vfs or {}) else ''
        lines.append('%s  # %s%s\n' % (address, described[address], later))
    return ''.join(lines)


# A VF does not exist in the initramfs: its PF creates it later (at every bind of the PF's driver, see
# sriov_vfs), and the kernel probes the VF's driver while creating it, before udev handles its add
# event, so an override set by udev comes too late. The rule of a VF sets the override and then, from
# RUN (absolute paths, no shell variables: udev substitutes $ itself), moves the VF when a driver
# claimed it first: unbind, drivers_probe. On vfio-pci already (a coldplug replay) it does nothing.
VF_RULE = ('ACTION=="add", SUBSYSTEM=="pci", KERNEL=="{address}", ATTR{{driver_override}}="vfio-pci", '
           'RUN+="/bin/sh -c \'/sbin/modprobe -q vfio-pci; '
           '[ /sys/bus/pci/devices/{address}/driver -ef /sys/bus/pci/drivers/vfio-pci ] || {{ '
           '[ -e /sys/bus/pci/devices/{address}/driver ] && '
           'echo {address} > /sys/bus/pci/devices/{address}/driver/unbind; '
           'echo {address} > /sys/bus/pci/drivers_probe; }}\'"\n')


def udev_rules_text(addresses: List[str], vfs: Iterable[str] = ()) -> str:
    """The rules of the reserved addresses; those of vfs (VFs, created or not) move the VF too."""
    vfs = set(vfs)
    lines = [HEADER, '# A reserved device added after the initramfs (hot-plug, PCI rescan) gets vfio-pci as its\n'
             '# only driver too; by address, so an identical card elsewhere keeps its driver.\n']
    lines += ['ACTION=="add", SUBSYSTEM=="pci", KERNEL=="%s", ATTR{driver_override}="%s"\n'
              % (address, VFIO_DRIVER) for address in sorted(addresses) if address not in vfs]
    if vfs:
        lines.append('# A VF, created by its PF after the initramfs with its driver probed at once: moved to\n'
                     '# vfio-pci when it appears (override, then unbind and drivers_probe).\n')
        lines += [VF_RULE.format(address=address) for address in sorted(vfs)]
    return ''.join(lines)


def boot_files(kind: str, model: Optional[HostModel], names: List[str],
               future_vfs: Optional[Dict[str, str]] = None) -> Dict[str, Optional[str]]:
    """The content of every file a reservation may write (None: the file must not exist).

    model None, or no PCI device in names (nor future_vfs, the VF addresses not created yet): only
    the modules-load file stays (state present without devices), or nothing (model None: state absent).
    """
    wanted: Dict[str, Optional[str]] = dict((path, None) for path in ALL_FILES)
    if model is None:
        return wanted
    wanted[MODULES_LOAD] = MODULES_LOAD_TEXT
    addresses = addresses_of(model, names)
    future = sorted(future_vfs or {})
    if not addresses and not future:
        return wanted
    wanted[RESERVATION] = reservation_text(model, names, future_vfs)
    wanted[UDEV_RULES] = udev_rules_text(addresses + future, vf_addresses(model, names) + future)
    if kind == 'initramfs-tools':
        wanted[INITRAMFS_TOOLS_HOOK] = INITRAMFS_TOOLS_HOOK_TEXT
        wanted[INITRAMFS_TOOLS_SCRIPT] = INITRAMFS_TOOLS_SCRIPT_TEXT
    elif kind == 'dracut':
        wanted[DRACUT_CONF] = DRACUT_CONF_TEXT
        wanted[DRACUT_SETUP] = DRACUT_SETUP_TEXT
        wanted[DRACUT_HOOK] = DRACUT_HOOK_TEXT
    return wanted


def file_mode(path: str) -> int:
    return 0o755 if path in EXECUTABLES else 0o644


def initramfs_stamp(kind: str, wanted: Dict[str, Optional[str]]) -> Optional[str]:
    """The stamp of the initramfs inputs among wanted (None when the initramfs needs none of ours)."""
    inputs: List[Tuple[str, str]] = [(path, str(wanted[path])) for path in INITRAMFS_FILES[kind]
                                     if wanted.get(path) is not None]
    if not inputs:
        return None
    digest = hashlib.sha256()
    for path, text in inputs:
        digest.update(('%s\0%s\0' % (path, text)).encode('utf-8'))
    return '%s  %s\n' % (digest.hexdigest(), kind)
