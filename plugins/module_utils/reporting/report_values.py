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
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model import facts_format
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import facts_eligible, summary_kind
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import pci_address_of_name

FORMATS = ('html', 'csv', 'markdown')
EXTENSIONS = {'html': 'html', 'csv': 'csv', 'markdown': 'md'}
DEFAULT_TITLE = 'Host device report'

# What the report calls the PCI devices it lists: the kinds summary facts count (facts_format.SUMMARY_KINDS).
KIND_LABELS = {
    'bmc_display': 'BMC display',
    'boot_vga': 'boot VGA',
    'gpu': 'GPU',
    'nic': 'NIC',
    'nvme': 'NVMe controller',
    'storage': 'storage controller',
    'usb_controller': 'USB controller',
    'fibre_channel': 'Fibre Channel HBA',
    'audio': 'audio controller',
    'multimedia': 'multimedia controller',
    'accelerator': 'accelerator',
}
# The display controllers that are no GPU a guest wants: counted apart from the GPUs.
DISPLAY_KINDS = ('bmc_display', 'boot_vga')
# How many hosts a list shows by name where it sums up (the sections list them all).
NAMES_SHOWN = 10

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

# One row per device; for summary facts one per kind, or per model, of count devices, assignable a number.
CSV_COLUMNS = ('host', 'iommu', 'device', 'address', 'kind', 'class', 'vendor', 'product', 'ids',
               'iommu_group', 'driver', 'assigned_to', 'assignable', 'blockers', 'state', 'count')
DRIFT_KEYS = ('host', 'mapping', 'property', 'expected', 'found')
NO_FACTS = 'no hostdev facts'
UNREADABLE_FACTS = 'unreadable facts'
SUMMARY_STATE = 'summary facts'
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


def count_and_names(hosts: Sequence[str], limit: int = NAMES_SHOWN) -> str:
    """'2: ws-a, ws-b'; past limit names, how many more."""
    if not hosts:
        return '0'
    more = len(hosts) - limit
    return '%d: %s%s' % (len(hosts), ', '.join(hosts[:limit]), ' and %d more' % more if more > 0 else '')


def counted_codes(codes: Mapping[str, Any]) -> str:
    """Blocker codes with how many devices each refuses: 'group_not_viable (2), iommu_off (1)'."""
    return ', '.join('%s (%s)' % (text(code), text(count)) for code, count in sorted(codes.items()))


# -- one device -------------------------------------------------------------------

def device_kind(device: Mapping[str, Any]) -> Optional[str]:
    """What the report calls a listed PCI device (GPU, BMC display, NIC, ...); None for the others."""
    if device.get('type') != 'pci' or not isinstance(device.get('pci'), Mapping):
        return None
    return KIND_LABELS.get(summary_kind(device) or '')


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
    return text(facts_format.model_ids(device))


def device_address(device: Mapping[str, Any]) -> Optional[str]:
    """A PCI device's address: pci.address, or the one its name gives (compact facts have no address)."""
    return (device.get('pci') or {}).get('address') or pci_address_of_name(device.get('name'))


def short_address(device: Mapping[str, Any]) -> str:
    address = text(device_address(device)) or text(device.get('name'))
    return address[5:] if address.startswith('0000:') else address


def kind_rows(kinds: Mapping[str, Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """The table of summary facts' kinds: a row per kind, then a row per model of it (level 'kind' or
    'model'), each with kind, model, ids, total, assignable, held (kinds only) and blockers (counted)."""
    rows = []
    for kind, entry in kinds.items():
        rows.append({'level': 'kind', 'kind': KIND_LABELS.get(kind, text(kind)), 'model': '', 'ids': '',
                     'total': entry['total'], 'assignable': entry['assignable'], 'held': entry.get('held'),
                     'blockers': counted_codes(entry['blockers'])})
        rows += [{'level': 'model', 'kind': KIND_LABELS.get(kind, text(kind)),
                  'model': text(model.get('name')) or 'unknown model', 'ids': text(model.get('ids')),
                  'total': model['total'], 'assignable': model['assignable'], 'held': None,
                  'blockers': counted_codes(model['blockers'])} for model in entry['models']]
    return rows


def state_note(device: Mapping[str, Any], state: str) -> str:
    if state == 'held':
        return 'held by ' + text(device.get('assigned_to'))
    if state == 'blocked':
        return 'blocked: ' + text(device.get('blockers'))
    return STATE_LABELS[state]
