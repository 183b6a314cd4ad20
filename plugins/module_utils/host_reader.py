# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: one read of a host, through libvirt or sysfs, into a HostModel."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os

from ansible_collections.virt.hostdev.plugins.module_utils.device_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import (
    HAS_LIBVIRT,
    HostdevError,
    connection,
)
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_reader import (
    read_devices,
    read_domains,
)
from ansible_collections.virt.hostdev.plugins.module_utils.sysfs_reader import SysfsReader

SOURCES = ('auto', 'libvirt', 'sysfs')


class MissingLibvirtError(HostdevError):
    """source=libvirt was asked for on a host without the Python binding."""


def uri_is_local_hypervisor(uri):
    """True for a URI whose devices are this machine's (no host part, not the test driver)."""
    scheme, _sep, rest = uri.partition('://')
    if scheme.split('+')[0] == 'test':
        return False
    host = rest.split('/', 1)[0]
    return host in ('', 'localhost')


def default_sysfs_root(uri, source):
    """/sys unless libvirt describes another machine (a remote URI or the test driver)."""
    if source == 'sysfs' or uri_is_local_hypervisor(uri):
        return '/sys'
    return None


def enrich_from_sysfs(records, reader):
    """Fill what libvirt does not report (boot_vga, reset_method, driver, ...) from sysfs.

    libvirt's values win; sysfs only fills the gaps, for devices whose path
    exists under the reader's root.
    """
    for record in records:
        path = reader.real_path(record.get('path'))
        if path is None:
            continue
        if record.get('driver') is None:
            record['driver'] = reader.driver_of(path)
        if record.get('type') == 'pci' and record.get('pci'):
            _fill_gaps(record['pci'], reader.pci_attributes(path, record['name']))
        elif record.get('type') == 'usb_device' and record.get('usb'):
            _fill_gaps(record['usb'], reader.usb_attributes(path))


def attach_host_usage(records, reader):
    """Mark the devices the host itself runs on (record['host_use']).

    Each use (a mounted disk, a default-route interface) goes to the listed
    device whose path is its own or its nearest ancestor's, so it is not lost
    when libvirt lists no storage devices (no udev): the SCSI disk above gets it.
    """
    by_path = dict((record['path'], record) for record in records if record.get('path'))
    for real, uses in sorted(reader.read_host_usage().items()):
        path = reader.libvirt_path(real)
        while path not in by_path and path.count('/') > 2:
            path = os.path.dirname(path)
        record = by_path.get(path)
        if record is not None:
            held = record.setdefault('host_use', [])
            held.extend(use for use in uses if use not in held)


def _fill_gaps(target, extra):
    for key, value in extra.items():
        if target.get(key) is None:
            target[key] = value


def _iommu_from_groups(records):
    groups = set((record.get('pci') or {}).get('iommu_group') for record in records) - set([None])
    return {'enabled': bool(groups), 'groups': len(groups), 'units': None, 'kernel_args': {},
            'interrupt_remapping': None, 'unsafe_interrupts': None, 'acs_override': None}


def read_via_libvirt(uri, sysfs_root, conn=None):
    warnings = []
    opened = connection(uri, readonly=True) if conn is None else contextlib.nullcontext(conn)
    with opened as active:
        records = read_devices(active, warnings)
        domains = read_domains(active, warnings)
    iommu = _iommu_from_groups(records)
    if sysfs_root:
        reader = SysfsReader(sysfs_root)
        enrich_from_sysfs(records, reader)
        attach_host_usage(records, reader)
        iommu = reader.read_iommu_state()
        warnings.extend(reader.warnings)
    return records, domains, iommu, warnings


def read_via_sysfs(sysfs_root):
    reader = SysfsReader(sysfs_root)
    records = reader.read_devices()
    attach_host_usage(records, reader)
    domains = reader.read_domains()
    iommu = reader.read_iommu_state()
    return records, domains, iommu, list(reader.warnings)


def read_host(source='auto', uri='qemu:///system', sysfs_root=None, conn=None):
    """Read the host once and return (HostModel, source used, warnings).

    source=auto uses libvirt when the binding is installed and the daemon at
    uri answers, and sysfs otherwise, saying why in a warning. With conn (an
    open connection the caller keeps, e.g. to edit a domain afterwards), libvirt
    is read through it, and the domains always come from it, whatever the
    source of the devices.
    """
    if source not in SOURCES:
        raise HostdevError('source must be one of %s, not %r' % (', '.join(SOURCES), source))
    if sysfs_root is None:
        sysfs_root = default_sysfs_root(uri, source)
    warnings = []
    used = source
    if source == 'libvirt' and not HAS_LIBVIRT:
        raise MissingLibvirtError('the libvirt Python binding is needed for source=libvirt')
    if source == 'auto':
        used = 'libvirt' if HAS_LIBVIRT else 'sysfs'
        if not HAS_LIBVIRT:
            warnings.append('the libvirt Python binding is not installed; read devices from sysfs')
    if used == 'libvirt':
        try:
            records, domains, iommu, read_warnings = read_via_libvirt(uri, sysfs_root, conn)
        except HostdevError as error:
            if source != 'auto':
                raise
            warnings.append('%s; read devices from sysfs instead' % error.message)
            used = 'sysfs'
    if used == 'sysfs':
        records, domains, iommu, read_warnings = read_via_sysfs(sysfs_root or '/sys')
        if conn is not None:
            domains = read_domains(conn, read_warnings)
    model = HostModel(records, domains=domains, iommu=iommu)
    return model, used, warnings + read_warnings + model.warnings
