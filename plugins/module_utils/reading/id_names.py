# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the vendor, product and PCI class names of the devices of one read.

``fill_names()`` fills the names a reader left empty, in this order:

1. the host's ``pci.ids`` / ``usb.ids`` (Debian's pci.ids and usb.ids packages, hwdata
   elsewhere), read only for the ids the records carry: the wanted ids are collected
   first, then each file is read in one pass that keeps those lines only;
2. udev's hardware database, as udev recorded it for the device in
   ``/run/udev/data`` (``ID_VENDOR_FROM_DATABASE``, ``ID_MODEL_FROM_DATABASE``,
   ``ID_PCI_SUBCLASS_FROM_DATABASE``): hosts without the ids files (minimal images)
   have it;
3. for USB devices, the strings of the device's own descriptor (``manufacturer``,
   ``product``); for a PCI class, the model's static table
   (``pci_classes.pci_subclass_name`` / ``pci_class_name``).

A name a reader already has (libvirt's) is kept. Files are the host's, relative to the
parent of its sysfs root, like every other file outside sysfs.
"""

import functools
import os
import re
from typing import Dict, Iterable, List, Optional, Set, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.model.pci_classes import pci_class_name, pci_subclass_name
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import Record, pci_class_code
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

# Where Debian (misc) and Fedora/RHEL (hwdata) keep the databases, relative to the host's root.
ID_DATABASES = {
    'pci': ('usr/share/misc/pci.ids', 'usr/share/hwdata/pci.ids'),
    'usb': ('usr/share/misc/usb.ids', 'usr/share/hwdata/usb.ids'),
}

# The record key of each kind's sub-dict.
KIND_KEYS = {'pci': 'pci', 'usb': 'usb'}

UDEV_VENDOR = 'ID_VENDOR_FROM_DATABASE'
UDEV_MODEL = 'ID_MODEL_FROM_DATABASE'
UDEV_PCI_CLASS = 'ID_PCI_CLASS_FROM_DATABASE'
UDEV_PCI_SUBCLASS = 'ID_PCI_SUBCLASS_FROM_DATABASE'


class IdQuery:
    """The ids wanted from one database, and the names one pass over it found.

    Ids are lower-case hexadecimal without '0x': vendors and products of four digits,
    PCI classes as (base class, subclass) of two digits each.
    """

    def __init__(self) -> None:
        self.vendors: Set[str] = set()
        self.products: Dict[str, Set[str]] = {}
        self.classes: Dict[str, Set[str]] = {}
        self.vendor_names: Dict[str, str] = {}
        self.product_names: Dict[Tuple[str, str], str] = {}
        self.class_names: Dict[Tuple[str, Optional[str]], str] = {}

    def want_device(self, vendor_id: Optional[str], product_id: Optional[str]) -> None:
        vendor = _hex(vendor_id, 4)
        if vendor is None:
            return
        self.vendors.add(vendor)
        product = _hex(product_id, 4)
        if product is not None:
            self.products.setdefault(vendor, set()).add(product)

    def want_class(self, base: str, subclass: str) -> None:
        self.classes.setdefault(base, set()).add(subclass)

    def empty(self) -> bool:
        return not self.vendors and not self.classes

    def vendor(self, vendor_id: Optional[str]) -> Optional[str]:
        vendor = _hex(vendor_id, 4)
        return self.vendor_names.get(vendor) if vendor else None

    def product(self, vendor_id: Optional[str], product_id: Optional[str]) -> Optional[str]:
        vendor, product = _hex(vendor_id, 4), _hex(product_id, 4)
        return self.product_names.get((vendor, product)) if vendor and product else None

    def read(self, path: str) -> bool:
        """Fill the names from a pci.ids/usb.ids file; False when it cannot be read.

        One regular-expression pass over the file finds the lines of the wanted vendors and
        classes only; then each of those blocks (up to the next vendor or class line) is searched
        for the wanted products or subclasses. Nothing else is decoded or kept.
        """
        try:
            with open(path, 'rb') as handle:
                data = b'\n' + handle.read()
        except (IOError, OSError):
            return False
        keys = []
        if self.vendors:
            keys.append(b'(?P<vendor>' + b'|'.join(sorted(key.encode('ascii') for key in self.vendors)) + b')')
        if self.classes:
            keys.append(b'C (?P<base>' + b'|'.join(sorted(key.encode('ascii') for key in self.classes)) + b')')
        for match in re.finditer(b'\n(?:' + b'|'.join(keys) + b')  (?P<name>[^\n]*)', data):
            block_end = _BLOCK_END.search(data, match.end())
            end = block_end.start() if block_end else len(data)
            found = match.groupdict()
            if found.get('vendor') is not None:
                vendor = found['vendor'].decode('ascii')
                self.vendor_names.setdefault(vendor, _name(found['name']))
                for key, name in _entries(data, match.end(), end, self.products.get(vendor, set())):
                    self.product_names.setdefault((vendor, key), name)
            else:
                base = found['base'].decode('ascii')
                self.class_names.setdefault((base, None), _name(found['name']))
                for key, name in _entries(data, match.end(), end, self.classes[base]):
                    self.class_names.setdefault((base, key), name)
        return True


# The start of the next vendor or class line: the end of a block (comments sit inside blocks).
_BLOCK_END = re.compile(b'\n[^\t#\n]')


def _entries(data: bytes, start: int, end: int, wanted: Set[str]) -> List[Tuple[str, str]]:
    """(id, name) of the wanted one-tab lines of a block ('\\t24b0  GA104GL'); deeper lines never match."""
    if not wanted:
        return []
    pattern = b'\n\t(' + b'|'.join(sorted(key.encode('ascii') for key in wanted)) + b')  ([^\n]*)'
    return [(match.group(1).decode('ascii'), _name(match.group(2)))
            for match in re.compile(pattern).finditer(data, start, end)]


_HEX_RE = re.compile(r'^(?:0x)?([0-9a-f]+)$')


@functools.lru_cache(maxsize=4096)
def _hex(value: Optional[str], width: int) -> Optional[str]:
    """'0x10de' -> '10de' (lower case, zero-padded to width); None when not hexadecimal."""
    if value is None:
        return None
    match = _HEX_RE.match(str(value).strip().lower())
    if match is None or len(match.group(1)) > width:
        return None
    return match.group(1).rjust(width, '0')


def _name(raw: bytes) -> str:
    return raw.decode('utf-8', 'replace').strip()


@functools.lru_cache(maxsize=1024)
def _class_parts(pci_class: Optional[str]) -> Optional[Tuple[str, str]]:
    """('03', '02') of the class code '0x030200'; None when unreadable."""
    code = pci_class_code(pci_class)
    if code is None:
        return None
    return '%02x' % (code >> 16), '%02x' % ((code >> 8) & 0xff)


def read_ids(tree: SysfsTree, kind: str, query: IdQuery) -> Optional[str]:
    """Fill query from the host's database of kind ('pci' or 'usb'); the file read, or None."""
    if query.empty():
        return None
    for relative in ID_DATABASES[kind]:
        path = tree.host_file(relative)
        if os.path.isfile(path) and query.read(path):
            return path
    return None


def udev_properties(tree: SysfsTree, entry: str) -> Dict[str, str]:
    """The E: properties udev recorded for a device (/run/udev/data/ENTRY), {} when none."""
    text = tree.read(tree.host_file(os.path.join('run', 'udev', 'data', entry)))
    found = {}
    for line in (text or '').splitlines():
        if line.startswith('E:') and '=' in line:
            key, value = line[2:].split('=', 1)
            if value:
                found[key] = value
    return found


def _udev_entry(tree: SysfsTree, record: Record) -> Optional[str]:
    """The name of the device's file in /run/udev/data: +pci:ADDRESS, or c<major>:<minor> for USB."""
    if record.get('type') == 'pci':
        address = (record.get('pci') or {}).get('address')
        return '+pci:%s' % address if address else None
    path = tree.real_path(record.get('path'))
    dev = tree.read(os.path.join(path, 'dev')) if path else None
    return 'c%s' % dev if dev and ':' in dev else None


def _missing(sub: Dict[str, Optional[str]], keys: Iterable[str]) -> List[str]:
    return [key for key in keys if sub.get(key) is None]


def fill_names(records: Iterable[Record], tree: Optional[SysfsTree]) -> None:
    """Fill the empty vendor, product and class_name values of PCI and USB device records.

    tree: the host's sysfs tree, None when the host's files cannot be read (a remote
    libvirt): then only the static PCI class names apply.
    """
    records = [record for record in records if record.get('type') in ('pci', 'usb_device')]
    queries = {'pci': IdQuery(), 'usb': IdQuery()}
    for record in records:
        kind = 'pci' if record['type'] == 'pci' else 'usb'
        sub = record.get(KIND_KEYS[kind]) or {}
        if _missing(sub, ('vendor', 'product')):
            queries[kind].want_device(sub.get('vendor_id'), sub.get('product_id'))
        if kind == 'pci' and sub.get('class_name') is None:
            parts = _class_parts(sub.get('class'))
            if parts:
                queries[kind].want_class(*parts)
    if tree is not None:
        for kind, query in queries.items():
            read_ids(tree, kind, query)
    for record in records:
        kind = 'pci' if record['type'] == 'pci' else 'usb'
        sub = record.get(KIND_KEYS[kind])
        if sub is not None:
            _fill_record(tree, record, sub, queries[kind])


def _fill_record(tree: Optional[SysfsTree], record: Record, sub: Dict[str, Optional[str]], query: IdQuery) -> None:
    """Fill one record's names from the databases' answers, then udev, then the fallbacks."""
    vendor_id, product_id = sub.get('vendor_id'), sub.get('product_id')
    if sub.get('vendor') is None:
        sub['vendor'] = query.vendor(vendor_id)
    if sub.get('product') is None:
        sub['product'] = query.product(vendor_id, product_id)
    parts = _class_parts(sub.get('class')) if record['type'] == 'pci' else None
    want_class = parts is not None and sub.get('class_name') is None
    if want_class and parts is not None:
        sub['class_name'] = query.class_names.get(parts)
    if tree is None or not _missing(sub, ('vendor', 'product', 'class_name') if want_class else ('vendor', 'product')):
        udev: Dict[str, str] = {}
    else:
        entry = _udev_entry(tree, record)
        udev = udev_properties(tree, entry) if entry else {}
        for key, udev_key in (('vendor', UDEV_VENDOR), ('product', UDEV_MODEL)):
            if sub.get(key) is None:
                sub[key] = udev.get(udev_key)
        if record['type'] == 'usb_device':
            _fill_from_descriptor(tree, record, sub)
    if want_class and parts is not None and sub.get('class_name') is None:
        pci_class = sub.get('class')
        # The most specific name any source has: a subclass name before a base class name.
        sub['class_name'] = (udev.get(UDEV_PCI_SUBCLASS) or pci_subclass_name(pci_class)
                             or query.class_names.get((parts[0], None)) or udev.get(UDEV_PCI_CLASS)
                             or pci_class_name(pci_class))


def _fill_from_descriptor(tree: SysfsTree, record: Record, sub: Dict[str, Optional[str]]) -> None:
    """A USB device's own manufacturer and product strings, for the names still empty."""
    path = tree.real_path(record.get('path'))
    if path is None:
        return
    for key, attribute in (('vendor', 'manufacturer'), ('product', 'product')):
        if sub.get(key) is None:
            sub[key] = tree.read(os.path.join(path, attribute)) or None
