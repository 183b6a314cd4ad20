# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: vendor and product names from the host's pci.ids and usb.ids."""

import os
import re
from typing import Dict, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.sysfs_tree import SysfsTree

# Where Debian (misc) and Fedora/RHEL (hwdata) keep the databases, relative to the host's root.
ID_DATABASES = {
    'pci': ('usr/share/misc/pci.ids', 'usr/share/hwdata/pci.ids'),
    'usb': ('usr/share/misc/usb.ids', 'usr/share/hwdata/usb.ids'),
}

# vendor_id -> (vendor name, {product_id: product name})
IdTable = Dict[str, Tuple[str, Dict[str, str]]]


class IdNames:
    """Names of PCI and USB ids; each database is parsed at most once, when first asked."""

    def __init__(self, tree: SysfsTree) -> None:
        self.tree = tree
        self._tables: Dict[str, IdTable] = {}

    def _table(self, kind: str) -> IdTable:
        if kind not in self._tables:
            table: IdTable = {}
            for relative in ID_DATABASES[kind]:
                path = self.tree.host_file(relative)
                if os.path.isfile(path):
                    table = parse_ids(path)
                    break
            self._tables[kind] = table
        return self._tables[kind]

    def names(self, kind: str, vendor_id: Optional[str],
              product_id: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
        """(vendor name, product name) of kind 'pci' or 'usb'; None where unknown."""
        vendor = self._table(kind).get(vendor_id) if vendor_id else None
        if vendor is None:
            return None, None
        return vendor[0], vendor[1].get(product_id) if product_id else None


def parse_ids(path: str) -> IdTable:
    """Parse a pci.ids/usb.ids file: vendor lines, then tab-indented product lines."""
    table: IdTable = {}
    vendor: Optional[Tuple[str, Dict[str, str]]] = None
    try:
        with open(path, 'rb') as handle:
            for raw in handle:
                line = raw.decode('utf-8', 'replace').rstrip('\n')
                if not line or line.startswith('#'):
                    continue
                if line[0] != '\t':
                    match = re.match(r'^([0-9a-fA-F]{4})\s+(.*)$', line)
                    vendor = None
                    if match:
                        vendor = (match.group(2).strip(), {})
                        table['0x' + match.group(1).lower()] = vendor
                elif vendor is not None and not line.startswith('\t\t'):
                    match = re.match(r'^\t([0-9a-fA-F]{4})\s+(.*)$', line)
                    if match:
                        vendor[1]['0x' + match.group(1).lower()] = match.group(2).strip()
    except (IOError, OSError):
        return {}
    return table
