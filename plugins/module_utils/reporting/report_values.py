# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the fleet report's vocabulary (formats, device kinds and states, CSV columns), how one value
from a host is shown in each format, and what the report says of one device. No I/O.

Every string that comes from a host (device, product, vendor, driver and domain names,
hints) is escaped for where it goes: HTML-escaped, CSV-quoted and kept from being read as
a spreadsheet formula, Markdown-escaped, DOT-quoted (dot escapes it again in its SVG).
"""

import html
import json
import re
from typing import Any, Mapping, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import is_pci_kind
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import facts_eligible
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import pci_address_of_name

FORMATS = ('html', 'csv', 'markdown')
EXTENSIONS = {'html': 'html', 'csv': 'csv', 'markdown': 'md'}
DEFAULT_TITLE = 'Host device report'

# The PCI devices the report lists, by (base class, subclass or None for any): first match wins.
LISTED_KINDS = (
    ('gpu', 'GPU'),
    ('nic', 'NIC'),
    ('nvme', 'NVMe controller'),
    ('storage', 'storage controller'),
    ('usb_controller', 'USB controller'),
    ('fibre_channel', 'Fibre Channel HBA'),
    ('audio', 'audio controller'),
    ('multimedia', 'multimedia controller'),
    ('accelerator', 'accelerator'),
)

# A device's state, most telling first; the picture, the tables and the legend use these.
STATES = ('held', 'blocked', 'assignable', 'not_eligible')
STATE_LABELS = {
    'held': 'held by a domain',
    'blocked': 'blocked',
    'assignable': 'assignable',
    'not_eligible': 'not eligible',
}
# (fill, border, DOT style) per state: colour, and a border style for those who cannot tell the colours apart.
STATE_STYLES = {
    'held': ('#ffd8a8', '#d9480f', 'filled,bold'),
    'blocked': ('#ffc9c9', '#c92a2a', 'filled,dashed'),
    'assignable': ('#d3f9d8', '#2b8a3e', 'filled'),
    'not_eligible': ('#f1f3f5', '#868e96', 'filled'),
}

CSV_COLUMNS = ('host', 'iommu', 'device', 'address', 'kind', 'class', 'vendor', 'product', 'ids',
               'iommu_group', 'driver', 'assigned_to', 'assignable', 'blockers', 'state')
DRIFT_KEYS = ('host', 'mapping', 'property', 'expected', 'found')
NO_FACTS = 'no hostdev facts'
NO_MAPPINGS = 'no mappings checked'

_CONTROL = re.compile(r'[\x00-\x1f\x7f]+')
_FORMULA_START = ('=', '+', '-', '@', '\t', '\r')
_MARKDOWN_SPECIAL = re.compile(r'([\\`*_\[\]<>|~&#])')
_MARKDOWN_CODE_SAFE = re.compile(r'^[A-Za-z0-9_.:@+/-]+$')
_LABEL_LIMIT = 34
BASENAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.+-]*\Z')  # \Z: $ would let a trailing newline through


class ReportError(HostdevError):
    """The report cannot be built, drawn or written."""


# -- one value, shown ---------------------------------------------------------------

def text(value: Any) -> str:
    """A value as one line of text: None is empty, lists are joined, control characters are spaces."""
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, (list, tuple)):
        return ', '.join(text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return _CONTROL.sub(' ', str(value))


def escape_html(value: Any) -> str:
    return html.escape(text(value), quote=True)


def escape_markdown(value: Any) -> str:
    """Text inside a Markdown table cell: every character Markdown or HTML would act on is escaped."""
    return _MARKDOWN_SPECIAL.sub(r'\\\1', text(value))


def markdown_code(value: Any) -> str:
    """An identifier as a code span when that is safe, else as escaped text."""
    shown = text(value)
    if _MARKDOWN_CODE_SAFE.match(shown):
        return '`%s`' % shown
    return escape_markdown(shown)


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ gets a leading quote."""
    shown = text(value)
    return "'" + shown if shown.startswith(_FORMULA_START) else shown


def dot_string(value: Any) -> str:
    """A DOT quoted string whose label escapes (\\N, \\n, ...) stay literal."""
    return '"%s"' % text(value).replace('\\', '\\\\').replace('"', '\\"')


def shortened(value: str, limit: int = _LABEL_LIMIT) -> str:
    return value if len(value) <= limit else value[:limit - 1].rstrip() + '\u2026'


def hex_id(value: Any) -> str:
    shown = text(value)
    return shown[2:] if shown.lower().startswith('0x') else shown


# -- one device -------------------------------------------------------------------

def device_kind(device: Mapping[str, Any]) -> Optional[str]:
    """What the report calls a listed PCI device (GPU, NIC, ...); None for the others."""
    for kind, label in LISTED_KINDS:
        if is_pci_kind(device, kind):
            return label
    return None


def device_state(device: Mapping[str, Any]) -> str:
    """held (a domain has it), assignable, not_eligible (its class or type), or blocked (the blockers say why)."""
    if device.get('assigned_to'):
        return 'held'
    if device.get('assignable'):
        return 'assignable'
    if not facts_eligible(device):
        return 'not_eligible'
    return 'blocked'


def model_ids(device: Mapping[str, Any]) -> str:
    """vendor:product ids of a PCI device (10de:24b0), empty when unknown."""
    pci = device.get('pci') or {}
    if not pci.get('vendor_id') or not pci.get('product_id'):
        return ''
    return '%s:%s' % (hex_id(pci['vendor_id']), hex_id(pci['product_id']))


def model_name(device: Mapping[str, Any]) -> str:
    """Vendor and product names of a PCI device, or its ids when the names are unknown."""
    pci = device.get('pci') or {}
    names = [text(pci.get(key)) for key in ('vendor', 'product') if pci.get(key)]
    return ' '.join(names) or model_ids(device) or text(device.get('name'))


def device_address(device: Mapping[str, Any]) -> Optional[str]:
    """A PCI device's address: pci.address, or the one its name gives (compact facts have no address)."""
    return (device.get('pci') or {}).get('address') or pci_address_of_name(device.get('name'))


def short_address(device: Mapping[str, Any]) -> str:
    address = text(device_address(device)) or text(device.get('name'))
    return address[5:] if address.startswith('0000:') else address


def state_note(device: Mapping[str, Any], state: str) -> str:
    if state == 'held':
        return 'held by ' + text(device.get('assigned_to'))
    if state == 'blocked':
        return 'blocked: ' + text(device.get('blockers'))
    return STATE_LABELS[state]
