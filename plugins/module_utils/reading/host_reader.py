# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: one read of a host, through libvirt or sysfs, into a HostModel."""

import contextlib
import os
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import (
    DEFAULT_TIMEOUT,
    HAS_LIBVIRT,
    MissingLibvirtError,
    check_timeout,
    check_uri,
    connection,
    within_deadline,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import link_mdevs
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import Record, fill_gaps, link_virtual_functions
from ansible_collections.virt.hostdev.plugins.module_utils.reading.domain_files import read_domain_files, read_network_files
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_usage import attach_host_usage
from ansible_collections.virt.hostdev.plugins.module_utils.reading.id_names import fill_names
from ansible_collections.virt.hostdev.plugins.module_utils.reading.iommu_state import read_iommu_state
from ansible_collections.virt.hostdev.plugins.module_utils.reading.libvirt_reader import (
    read_devices,
    read_domains,
    read_networks,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_reader import SysfsReader
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree
from ansible_collections.virt.hostdev.plugins.module_utils.reading.vf_links import (
    attach_vf_links,
    network_vfs,
    read_vf_links,
)

# A command runner: (argv, seconds) -> its output, raising HostdevError on a failure (host_files.Commands.run).
Run = Callable[[List[str], int], str]

SOURCES = ('auto', 'libvirt', 'sysfs')


class HostRead(NamedTuple):
    """What one reader found. host_use_unknown: what the host's own use of its devices is read from
    and could not be read (host_usage.attach_host_usage); empty when it was read, or not asked.
    networks: libvirt's hostdev networks (libvirt_reader.read_networks)."""
    records: List[Record]
    domains: List[Dict[str, Any]]
    iommu: Dict[str, Any]
    warnings: List[str]
    host_use_unknown: List[str]
    networks: List[Dict[str, Any]]


def uri_is_local_hypervisor(uri: str) -> bool:
    """True for a URI whose devices are this machine's (no host part, not the test driver)."""
    scheme, _sep, rest = uri.partition('://')
    if scheme.split('+', 1)[0] == 'test':
        return False
    host = rest.split('/', 1)[0]
    return host in ('', 'localhost')


def is_this_machines_sysfs(root: str) -> bool:
    """Whether root is this machine's own /sys, however it is spelled (a link, a bind mount)."""
    try:
        return os.path.samefile(root, '/sys')
    except OSError:
        return False


def one_machine_source(source: str, uri: str, sysfs_root: str) -> str:
    """The source a run may use when sysfs_root is given: one machine per run.

    A local hypervisor URI describes this machine; a sysfs_root that is not this machine's /sys
    (a copy of another host's tree, a snapshot, a root being prepared) describes another one.
    Reading the devices from the one and the IOMMU state, the host's use and the enrichment from
    the other would answer for no machine at all, so auto reads the tree alone (sysfs), and
    libvirt is refused. A remote URI or the test driver with a sysfs_root is the user saying the
    tree is that machine's: the only way to enrich what libvirt reports of another machine.
    """
    if source == 'sysfs' or not uri_is_local_hypervisor(uri) or is_this_machines_sysfs(sysfs_root):
        return source
    tree = SysfsTree(sysfs_root)
    tree.require_sysfs()  # a wrong root says so first, whatever the source
    if source == 'libvirt':
        raise HostdevError(
            'source libvirt reads this machine\'s devices from %s, but sysfs_root %s is not this machine\'s '
            '/sys: the devices would come from one machine and the IOMMU state and what the host runs on from '
            'another. Set source: sysfs to read %s alone, or leave sysfs_root out to read this machine'
            % (uri, tree.root, tree.root))
    return 'sysfs'


def default_sysfs_root(uri: str, source: str) -> Optional[str]:
    """/sys unless libvirt describes another machine (a remote URI or the test driver)."""
    if source == 'sysfs' or uri_is_local_hypervisor(uri):
        return '/sys'
    return None


def enrich_from_sysfs(records: Iterable[Record], reader: SysfsReader) -> None:
    """Fill what libvirt does not report (boot_vga, reset_method, driver, ...) from sysfs.

    libvirt's values win; sysfs only fills the gaps of the declared record keys,
    for devices whose path exists under the reader's root. Names are filled afterwards,
    for every record at once (id_names.fill_names).
    """
    for record in records:
        path = reader.tree.real_path(record.get('path'))
        if path is not None:
            fill_gaps(record, reader.record_at(path, record['name'], record.get('type')))


def _iommu_from_groups(records):
    groups = set((record.get('pci') or {}).get('iommu_group') for record in records) - set([None])
    return {'enabled': bool(groups), 'groups': len(groups), 'units': None, 'kernel_args': {},
            'interrupt_remapping': None, 'unsafe_interrupts': None, 'acs_override': None}


def sriov_facts(records: List[Record], run: Optional[Run], local: bool, why_not_local: str,
                warnings: List[str]) -> None:
    """The SR-IOV facts that take more than one record (VF index, netdevs), and the VF link settings
    (`ip link`, run once) when run is given and the devices are this machine's; otherwise those
    settings are unknown, and the warning says why. run None: the caller does not report them."""
    link_virtual_functions(records)
    if run is None or not network_vfs(records):
        return
    links = read_vf_links(run, warnings) if local else None
    attach_vf_links(records, links, None if local else why_not_local, warnings)


def read_via_libvirt(uri: str, sysfs_root: Optional[str], conn: Any = None, run: Optional[Run] = None) -> HostRead:
    warnings: List[str] = []
    opened = connection(uri, readonly=True) if conn is None else contextlib.nullcontext(conn)
    with opened as active:
        records = read_devices(active, warnings)
        domains = read_domains(active, warnings)
        networks = read_networks(active, warnings)
    iommu = _iommu_from_groups(records)
    tree = None
    if sysfs_root:
        tree = SysfsTree(sysfs_root)
        tree.require_sysfs()
        enrich_from_sysfs(records, SysfsReader(tree))
        unknown = attach_host_usage(records, tree)
        iommu = read_iommu_state(tree)
        warnings.extend(tree.warnings)
    else:
        unknown = []  # not read at all: see host_use in docs/hostdev_facts.md
    link_mdevs(records)  # after the enrichment, which may have said an mdev's parent address
    local = bool(sysfs_root) and uri_is_local_hypervisor(uri) and is_this_machines_sysfs(str(sysfs_root))
    sriov_facts(records, run, local, '%s describes another machine than this one, whose `ip link` cannot tell '
                '(read on that host to know them)' % uri, warnings)
    # The names libvirt left empty (class_name always), from the host's files when they can be read.
    fill_names(records, tree)
    return HostRead(records, domains, iommu, warnings, unknown, networks)


def read_via_sysfs(sysfs_root: str, run: Optional[Run] = None) -> HostRead:
    tree = SysfsTree(sysfs_root)
    tree.require_sysfs()
    records = SysfsReader(tree).read_devices()
    link_mdevs(records)
    sriov_facts(records, run, is_this_machines_sysfs(sysfs_root), 'sysfs_root %s is not this machine\'s /sys, '
                'and `ip link` here would describe this machine' % tree.root, tree.warnings)
    unknown = attach_host_usage(records, tree)
    domains = read_domain_files(tree)
    iommu = read_iommu_state(tree)
    return HostRead(records, domains, iommu, list(tree.warnings), unknown, read_network_files(tree))


def read_host(source: str = 'auto', uri: str = 'qemu:///system', sysfs_root: Optional[str] = None,
              conn: Any = None, timeout: float = DEFAULT_TIMEOUT,
              run: Optional[Run] = None) -> Tuple[HostModel, str, List[str]]:
    """Read the host once and return (HostModel, source used, warnings).

    source=auto uses libvirt when the binding is installed and the daemon at
    uri answers, and sysfs otherwise, saying why in a warning; it falls back only
    when uri is this machine's own hypervisor, since sysfs here would describe
    another machine than a remote URI or the test driver. With conn (an
    open connection the caller keeps, e.g. to edit a domain afterwards), libvirt
    is read through it, and the domains always come from it, whatever the
    source of the devices. libvirt is waited for at most timeout seconds.

    One machine per run: with a local hypervisor URI, a sysfs_root other than this
    machine's /sys makes auto read that tree alone and refuses libvirt (one_machine_source).

    run: how to run `ip link` for the VF link settings (host_files.Commands.run), once, where the
    devices are this machine's; None leaves them unread (pci.sriov.link None).
    """
    if source not in SOURCES:
        raise HostdevError('source must be one of %s, not %r' % (', '.join(SOURCES), source))
    check_uri(uri)
    check_timeout(timeout)
    given_root = sysfs_root is not None
    if sysfs_root is None:
        sysfs_root = default_sysfs_root(uri, source)
    warnings = []
    used = source
    # Only this machine's own hypervisor may be replaced by this machine's sysfs.
    may_fall_back = source == 'auto' and uri_is_local_hypervisor(uri)
    if source != 'sysfs' and not HAS_LIBVIRT:
        if not may_fall_back:
            raise MissingLibvirtError()
        used = 'sysfs'
        warnings.append('the libvirt Python binding is not installed; read devices from sysfs')
    elif given_root:
        used = one_machine_source(source, uri, str(sysfs_root))
    if used == 'auto':
        used = 'libvirt'
    if used == 'libvirt':
        try:
            found = within_deadline(lambda: read_via_libvirt(uri, sysfs_root, conn, run), uri, timeout)
        except MissingLibvirtError:
            raise
        except HostdevError as error:
            if not may_fall_back:
                raise
            warnings.append('%s; read devices from sysfs instead' % error.message)
            used = 'sysfs'
    if used == 'sysfs':
        found = read_via_sysfs(sysfs_root or '/sys', run)
        if conn is not None:
            found = found._replace(domains=read_domains(conn, found.warnings),
                                   networks=read_networks(conn, found.warnings))
    model = HostModel(found.records, domains=found.domains, iommu=found.iommu,
                      host_use_unknown=found.host_use_unknown, networks=found.networks)
    return model, used, warnings + found.warnings + model.warnings
