# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the domains and hostdev networks of a host from libvirt's own state files, without the daemon."""

import os
import xml.etree.ElementTree as ET
from typing import Any, Dict, List

from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import hostdev_sources, network_pool
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import unique_sources
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

# (directory relative to the host's root, whether the domains there run)
STATE_DIRECTORIES = (('etc/libvirt/qemu', False), ('run/libvirt/qemu', True))
# The state of the running networks (a <networkstatus> around each <network>).
NETWORK_STATE_DIRECTORY = 'run/libvirt/network'


def read_domain_files(tree: SysfsTree) -> List[Dict[str, Any]]:
    """Domains with the host devices they use, as libvirt_reader.read_domains returns them.

    Persistent definitions in /etc/libvirt/qemu and the live state of running
    domains in /run/libvirt/qemu; best effort: unreadable files are skipped, and
    invalid XML with a warning in tree.warnings.
    """
    domains: Dict[str, Dict[str, Any]] = {}
    for relative, active in STATE_DIRECTORIES:
        directory = tree.host_file(relative)
        for entry in tree.listdir(directory):
            if not entry.endswith('.xml'):
                continue
            text = tree.read(os.path.join(directory, entry))
            if not text:
                continue
            try:
                root = ET.fromstring(text)
                domain = root.find('domain') if root.tag == 'domstatus' else root
                if domain is None or domain.tag != 'domain':
                    continue
                name = domain.findtext('name') or entry[:-len('.xml')]
                sources = hostdev_sources(ET.tostring(domain))
            except ET.ParseError:
                tree.warnings.append('domain file %s is not valid XML; skipped' % entry)
                continue
            dom = domains.setdefault(name, {'name': name, 'active': False, 'hostdevs': []})
            dom['active'] = dom['active'] or active
            dom['hostdevs'] = unique_sources(dom['hostdevs'] + sources)
    return [domains[name] for name in sorted(domains)]


def read_network_files(tree: SysfsTree) -> List[Dict[str, Any]]:
    """The running hostdev networks, as libvirt_reader.read_networks returns them, from their state
    files (only a running network holds its pool); invalid XML is skipped with a warning."""
    directory = tree.host_file(NETWORK_STATE_DIRECTORY)
    pools = []
    for entry in tree.listdir(directory):
        text = tree.read(os.path.join(directory, entry)) if entry.endswith('.xml') else None
        if not text:
            continue
        try:
            root = ET.fromstring(text)
            network = root.find('network') if root.tag == 'networkstatus' else root
            pool = network_pool(ET.tostring(network)) if network is not None and network.tag == 'network' else None
        except ET.ParseError:
            tree.warnings.append('network state file %s is not valid XML; skipped' % entry)
            continue
        if pool is not None:
            pools.append(dict(pool, active=True))
    return pools
