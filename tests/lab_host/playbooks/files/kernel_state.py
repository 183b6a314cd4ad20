# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs on the lab host (Debian's python3, fed on stdin by the plays' ansible.builtin.raw
tasks): prints the kernel's own view as JSON, for comparison with hostdev_facts,
and what a preparation writes, for before/after comparisons. Stdlib only, read-only.

{cmdline, groups: [{number, devices}] (PCI devices' groups, libvirt's device names), iommu_units,
 interrupt_remapping, dmar: [kernel DMAR lines], acpi_tables: [names], boot_id,
 python: {executable, version, libvirt}, pci: {address: {vendor, device, class, driver, driver_override, iommu_group,
 net: [interfaces], sriov_totalvfs, sriov_numvfs (None: not an SR-IOV PF), physfn (a VF's PF)}},
 vfio_devices: [/dev/vfio entries], modules: {vfio, vfio_iommu_type1, vfio_pci: loaded},
 files: {path: sha256 or None} (the boot configuration and every file a reservation may
 write, with whatever else is in their directories), texts: {path: content or None} (the
 small ones), initramfs: {path: mtime_ns},
 mdev: {module (mtty loaded), parents: {parent: {type: {name, device_api, available_instances}}},
 devices: {uuid: {type, parent, iommu_group, driver}}, definitions: {parent/uuid: mdevctl's JSON or
 None (unreadable)}}}
"""

import glob
import hashlib
import json
import os
import re
import subprocess
import sys


def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def name(address):
    domain, bus, slot_function = address.split(':')
    slot, function = slot_function.split('.')
    return 'pci_%s_%s_%s_%s' % (domain, bus, slot, function)


groups = []
root = '/sys/kernel/iommu_groups'
for number in sorted(os.listdir(root) if os.path.isdir(root) else [], key=int):
    members = os.listdir(os.path.join(root, number, 'devices'))
    # an mdev's own VFIO group (named by its UUID, there even with the IOMMU off) is not an
    # IOMMU group of the hardware: mdev.devices gives it
    if all(':' in member for member in members):
        groups.append({'number': int(number), 'devices': sorted(name(a) for a in members)})

pci = {}
for address in sorted(os.listdir('/sys/bus/pci/devices')):
    base = os.path.join('/sys/bus/pci/devices', address)
    driver = os.path.join(base, 'driver')
    group = os.path.join(base, 'iommu_group')
    pci[address] = {
        'vendor': read(os.path.join(base, 'vendor')),
        'device': read(os.path.join(base, 'device')),
        'class': read(os.path.join(base, 'class')),
        'driver': os.path.basename(os.readlink(driver)) if os.path.islink(driver) else None,
        'driver_override': read(os.path.join(base, 'driver_override')),
        'iommu_group': int(os.path.basename(os.readlink(group))) if os.path.islink(group) else None,
        'net': sorted(os.listdir(os.path.join(base, 'net'))) if os.path.isdir(os.path.join(base, 'net')) else [],
        'sriov_totalvfs': read(os.path.join(base, 'sriov_totalvfs')),
        'sriov_numvfs': read(os.path.join(base, 'sriov_numvfs')),
        'physfn': os.path.basename(os.readlink(os.path.join(base, 'physfn')))
        if os.path.islink(os.path.join(base, 'physfn')) else None,
    }

# The boot configuration and every file a reservation may write (present or not), with
# whatever else sits in those directories: a refused preparation must leave them all alone.
WATCHED = ['/etc/default/grub', '/boot/grub/grub.cfg', '/etc/virt-hostdev/vfio-pci.conf',
           '/etc/modules-load.d/virt-hostdev-vfio.conf', '/etc/udev/rules.d/60-virt-hostdev-vfio.rules',
           '/etc/initramfs-tools/hooks/virt-hostdev-vfio',
           '/etc/initramfs-tools/scripts/init-top/00-virt-hostdev-vfio',
           '/var/lib/virt-hostdev/vfio-initramfs.sha256', '/etc/udev/rules.d/70-virt-hostdev-sriov.rules']
WATCHED_DIRS = ['/etc/modprobe.d', '/etc/modules-load.d', '/etc/udev/rules.d', '/etc/default/grub.d',
                '/etc/virt-hostdev', '/etc/initramfs-tools/hooks', '/etc/initramfs-tools/scripts/init-top',
                '/var/lib/virt-hostdev']


def digest(path):
    try:
        with open(path, 'rb') as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


watched = set(WATCHED)
for directory in WATCHED_DIRS:
    if os.path.isdir(directory):
        watched.update(os.path.join(directory, entry) for entry in os.listdir(directory))
files = dict((path, digest(path)) for path in sorted(watched))
texts = dict((path, read(path)) for path in ('/etc/default/grub', '/etc/virt-hostdev/vfio-pci.conf',
                                             '/etc/modules-load.d/virt-hostdev-vfio.conf',
                                             '/etc/udev/rules.d/60-virt-hostdev-vfio.rules',
                                             '/etc/udev/rules.d/70-virt-hostdev-sriov.rules'))
initramfs = dict((path, os.stat(path).st_mtime_ns) for path in sorted(glob.glob('/boot/initrd.img-*')))


UUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')


def link_name(path):
    return os.path.basename(os.readlink(path)) if os.path.islink(path) else None


def mdev_state():
    """The kernel's mediated devices (/sys/class/mdev_bus, /sys/bus/mdev/devices) and mdevctl's
    definitions (/etc/mdevctl.d/<parent>/<uuid>, JSON)."""
    parents = {}
    for parent in sorted(glob.glob('/sys/class/mdev_bus/*')):
        types = {}
        for path in sorted(glob.glob(os.path.join(parent, 'mdev_supported_types', '*'))):
            available = read(os.path.join(path, 'available_instances'))
            types[os.path.basename(path)] = {
                'name': read(os.path.join(path, 'name')),
                'device_api': read(os.path.join(path, 'device_api')),
                'available_instances': None if available is None else int(available)}
        parents[os.path.basename(parent)] = types
    devices = {}
    for path in sorted(glob.glob('/sys/bus/mdev/devices/*')):
        group = link_name(os.path.join(path, 'iommu_group'))
        devices[os.path.basename(path)] = {
            'type': link_name(os.path.join(path, 'mdev_type')),
            'parent': os.path.basename(os.path.dirname(os.path.realpath(path))),
            'iommu_group': None if group is None else int(group),
            'driver': link_name(os.path.join(path, 'driver'))}
    definitions = {}
    for path in sorted(glob.glob('/etc/mdevctl.d/*/*')):
        if not UUID.match(os.path.basename(path)):  # not scripts.d/callouts and the like
            continue
        key = os.path.relpath(path, '/etc/mdevctl.d')
        try:
            with open(path) as handle:
                definitions[key] = json.load(handle)
        except (OSError, ValueError):
            definitions[key] = None
    return {'module': os.path.isdir('/sys/module/mtty'), 'parents': parents, 'devices': devices,
            'definitions': definitions}


try:
    dmesg = subprocess.run(['dmesg'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           universal_newlines=True, check=False).stdout
except OSError:
    dmesg = ''

try:
    import libvirt
    binding = {'path': libvirt.__file__, 'version': libvirt.getVersion()}
except ImportError as error:
    binding = {'error': str(error)}

print(json.dumps({
    'python': {'executable': sys.executable, 'version': sys.version.split()[0], 'libvirt': binding},
    'cmdline': read('/proc/cmdline'),
    'boot_id': read('/proc/sys/kernel/random/boot_id'),
    'groups': groups,
    'iommu_units': sorted(os.listdir('/sys/class/iommu')) if os.path.isdir('/sys/class/iommu') else [],
    'interrupt_remapping': bool(re.search(r'\bIR-', read('/proc/interrupts') or '')),
    'dmar': [line for line in dmesg.splitlines() if 'DMAR' in line][:20],
    'acpi_tables': sorted(os.listdir('/sys/firmware/acpi/tables')) if os.path.isdir('/sys/firmware/acpi/tables') else [],
    'pci': pci,
    'vfio_devices': sorted(os.listdir('/dev/vfio')) if os.path.isdir('/dev/vfio') else [],
    'modules': dict((module, os.path.isdir('/sys/module/' + module))
                    for module in ('vfio', 'vfio_iommu_type1', 'vfio_pci')),
    'files': files,
    'texts': texts,
    'initramfs': initramfs,
    'mdev': mdev_state(),
}))
