# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the fleet report. Hosts' facts in; HTML, CSV, Markdown and Graphviz DOT text out. No I/O.

``FleetReport`` takes ``{inventory_hostname: ansible_facts.hostdev, or None}`` once (full or
compact facts: compact ones have no vendor and product names, so the ids stand in) and
answers from it: the fleet summary, the listed devices per host, one DOT graph per host
(IOMMU groups as clusters, the PCI tree as edges) and the three documents. The pictures
are drawn at the edge (``report_files.render_svg``); ``html()`` embeds the SVG text it
is given per host.

Every string that comes from a host (device, product, vendor, driver and domain names,
hints) is escaped for where it goes: HTML-escaped, CSV-quoted and kept from being read as
a spreadsheet formula, Markdown-escaped, DOT-quoted (dot escapes it again in its SVG).
"""

import csv
import html
import io
import json
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.model.device_model import (
    facts_eligible,
    is_display,
    is_pci_kind,
    pci_class_name,
    pci_subclass_name,
)
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
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
_BASENAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.+-]*$')


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


def _shortened(value: str, limit: int = _LABEL_LIMIT) -> str:
    return value if len(value) <= limit else value[:limit - 1].rstrip() + '\u2026'


def _hex_id(value: Any) -> str:
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
    return '%s:%s' % (_hex_id(pci['vendor_id']), _hex_id(pci['product_id']))


def model_name(device: Mapping[str, Any]) -> str:
    """Vendor and product names of a PCI device, or its ids when the names are unknown."""
    pci = device.get('pci') or {}
    names = [text(pci.get(key)) for key in ('vendor', 'product') if pci.get(key)]
    return ' '.join(names) or model_ids(device) or text(device.get('name'))


def device_address(device: Mapping[str, Any]) -> Optional[str]:
    """A PCI device's address: pci.address, or the one its name gives (compact facts have no address)."""
    return (device.get('pci') or {}).get('address') or pci_address_of_name(device.get('name'))


def _short_address(device: Mapping[str, Any]) -> str:
    address = text(device_address(device)) or text(device.get('name'))
    return address[5:] if address.startswith('0000:') else address


def _state_note(device: Mapping[str, Any], state: str) -> str:
    if state == 'held':
        return 'held by ' + text(device.get('assigned_to'))
    if state == 'blocked':
        return 'blocked: ' + text(device.get('blockers'))
    return STATE_LABELS[state]


# -- the fleet ----------------------------------------------------------------------

def _facts_or_none(facts: Any) -> Optional[Dict[str, Any]]:
    """A host's facts when they look like ansible_facts.hostdev; None otherwise (not gathered)."""
    if isinstance(facts, dict) and isinstance(facts.get('devices'), list):
        return facts
    return None


def normalized_drift(drift: Optional[Sequence[Mapping[str, Any]]]) -> Optional[List[Dict[str, str]]]:
    """The drift entries as text (expected and found values that are not strings as JSON), sorted;
    None when no mapping was checked."""
    if drift is None:
        return None
    entries = [dict((key, _drift_value(key, entry.get(key))) for key in DRIFT_KEYS) for entry in drift]
    return sorted(entries, key=lambda entry: tuple(entry[key] for key in DRIFT_KEYS))


def _drift_value(key: str, value: Any) -> str:
    if key in ('expected', 'found') and not isinstance(value, str):
        return text(json.dumps(value, sort_keys=True))
    return text(value)


class FleetReport:
    """The report over one set of hosts: ``hosts`` maps each inventory name to its facts or None."""

    def __init__(self, hosts: Mapping[str, Any], title: str = DEFAULT_TITLE,
                 drift: Optional[Sequence[Mapping[str, Any]]] = None) -> None:
        self.title = title
        self.hosts = sorted(hosts)
        self.facts = dict((name, _facts_or_none(hosts[name])) for name in self.hosts)
        self.drift = normalized_drift(drift)
        self.listed = dict((name, self._listed(facts)) for name, facts in self.facts.items())
        self.summary = self._summary()

    @staticmethod
    def _listed(facts: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
        if facts is None:
            return []
        return [device for device in facts['devices']
                if isinstance(device, dict) and device_kind(device) is not None]

    def iommu(self, host: str) -> Dict[str, Any]:
        facts = self.facts[host]
        return (facts or {}).get('iommu') or {}

    def _summary(self) -> Dict[str, Any]:
        with_facts = [host for host in self.hosts if self.facts[host] is not None]
        models = {}  # type: Dict[str, Dict[str, Any]]
        for host in with_facts:
            for device in self.listed[host]:
                if not is_display(device):
                    continue
                key = model_ids(device) or model_name(device)
                model = models.setdefault(key, {'model': model_name(device), 'ids': model_ids(device),
                                                'free': 0, 'total': 0, 'free_on': []})
                model['total'] += 1
                if device.get('assignable'):
                    model['free'] += 1
                    if host not in model['free_on']:
                        model['free_on'].append(host)
        gpu_models = sorted(models.values(), key=lambda model: (-model['free'], model['model'], model['ids']))
        return {
            'hosts': len(self.hosts),
            'with_facts': with_facts,
            'without_facts': [host for host in self.hosts if self.facts[host] is None],
            'iommu_off': [host for host in with_facts if not self.iommu(host).get('enabled')],
            'gpus': sum(model['total'] for model in gpu_models),
            'free_gpus': sum(model['free'] for model in gpu_models),
            'gpu_models': gpu_models,
            'held': sum(1 for host in with_facts for device in self.listed[host] if device.get('assigned_to')),
            'drift': None if self.drift is None else len(self.drift),
            'drift_hosts': [] if self.drift is None else sorted(set(entry['host'] for entry in self.drift)),
        }

    # -- shared answers of the documents --------------------------------------------

    def iommu_text(self, host: str) -> str:
        iommu = self.iommu(host)
        if not iommu.get('enabled'):
            return 'off'
        units = text(iommu.get('units'))
        return 'on, %s groups%s' % (text(iommu.get('groups')), ' (%s)' % units if units else '')

    def iommu_details(self, host: str) -> List[Tuple[str, str]]:
        """(label, value) rows about a host's IOMMU, after the one-line state."""
        iommu = self.iommu(host)
        remapping = iommu.get('interrupt_remapping')
        kernel_args = iommu.get('kernel_args') or {}
        return [
            ('IOMMU', self.iommu_text(host)),
            ('Interrupt remapping', 'unknown' if remapping is None else text(remapping)),
            ('ACS override', text(bool(iommu.get('acs_override')))),
            ('Kernel arguments', ' '.join(
                key if value is True else '%s=%s' % (key, text(value))
                for key, value in sorted(kernel_args.items())) if isinstance(kernel_args, dict) else ''),
            ('Read through', text((self.facts[host] or {}).get('source'))),
        ]

    def drift_text(self) -> str:
        """The drift in a few words, for the summary."""
        if self.drift is None:
            return NO_MAPPINGS
        if not self.drift:
            return 'none found'
        hosts = self.summary['drift_hosts']
        return '%d on %d host%s: %s' % (len(self.drift), len(hosts), '' if len(hosts) == 1 else 's', text(hosts))

    def drift_sentence(self) -> str:
        """What the drift section says when it has no table."""
        return 'No mappings checked.' if self.drift is None else 'No drift: every checked mapping matches.'

    def summary_rows(self) -> List[Tuple[str, str]]:
        summary = self.summary
        return [
            ('Hosts', str(summary['hosts'])),
            ('With facts', str(len(summary['with_facts']))),
            ('Without facts', _count_and_names(summary['without_facts'])),
            ('IOMMU off', _count_and_names(summary['iommu_off'])),
            ('Free GPUs', '%d of %d' % (summary['free_gpus'], summary['gpus'])),
            ('Devices held by domains', str(summary['held'])),
            ('Drift', self.drift_text()),
        ]

    def device_row(self, host: str, device: Mapping[str, Any]) -> Dict[str, Any]:
        pci = device.get('pci') or {}
        return {
            'host': host,
            'iommu': 'on' if self.iommu(host).get('enabled') else 'off',
            'device': device.get('name'),
            'address': device_address(device),
            'kind': device_kind(device),
            'class': pci.get('class'),
            'vendor': pci.get('vendor'),
            'product': pci.get('product'),
            'ids': model_ids(device),
            'iommu_group': device.get('iommu_group'),
            'driver': device.get('driver'),
            'assigned_to': device.get('assigned_to') or [],
            'assignable': bool(device.get('assignable')),
            'blockers': device.get('blockers') or [],
            'state': device_state(device),
        }

    # -- DOT -----------------------------------------------------------------------

    def dot(self, host: str, prefix: str = 'h') -> Optional[str]:
        """The host's topology as DOT: IOMMU groups as clusters, PCI parents as edges; None without facts.

        Element ids start with ``prefix`` so several pictures can share one page.
        """
        facts = self.facts[host]
        if facts is None:
            return None
        devices = [device for device in facts['devices'] if isinstance(device, dict) and device.get('type') == 'pci']
        names = set(text(device.get('name')) for device in devices)
        font = 'Helvetica,Arial,sans-serif'
        lines = [
            'digraph topology {',
            '  graph [id=%s, rankdir=LR, fontname="%s", fontsize=12, nodesep=0.12, ranksep=0.35, '
            'bgcolor="transparent", tooltip=%s];' % (dot_string(prefix + '_graph'), font, dot_string(host)),
            '  node [shape=box, style="rounded,filled", fontname="%s", fontsize=11, margin="0.1,0.04"];' % font,
            '  edge [color="#868e96", arrowsize=0.5];',
            '  %s [id=%s, label=%s, shape=box3d, style="", fontsize=13];' % (
                dot_string(prefix + ':root'), dot_string(prefix + '_root'), dot_string(host)),
        ]
        groups = {}  # type: Dict[Any, List[Dict[str, Any]]]
        for device in devices:
            groups.setdefault(device.get('iommu_group'), []).append(device)
        for group in sorted(groups, key=lambda number: (number is None, text(number))):
            members = [self._dot_node(device, prefix) for device in groups[group]]
            if group is None:
                lines += ['  ' + member for member in members]
                continue
            lines += [
                '  subgraph %s {' % dot_string('cluster_group_%s' % text(group)),
                '    graph [id=%s, label=%s, style="rounded", color="#4263eb", fontcolor="#364fc7"];' % (
                    dot_string('%s_group_%s' % (prefix, text(group))), dot_string('IOMMU group %s' % text(group))),
            ] + ['    ' + member for member in members] + ['  }']
        for device in devices:
            parent = text(device.get('parent'))
            source = parent if parent in names else prefix + ':root'
            lines.append('  %s -> %s;' % (dot_string(source), dot_string(device.get('name'))))
        lines.append('}')
        return '\n'.join(lines) + '\n'

    @staticmethod
    def _dot_node(device: Dict[str, Any], prefix: str) -> str:
        pci = device.get('pci') or {}
        state = device_state(device)
        fill, border, style = STATE_STYLES[state]
        kind = device_kind(device) or pci_subclass_name(pci.get('class')) or pci_class_name(pci.get('class')) \
            or 'class %s' % text(pci.get('class'))
        parts = [_short_address(device) + '  ' + kind, _shortened(text(pci.get('product')) or model_ids(device)),
                 'driver: %s' % (text(device.get('driver')) or 'none')]
        if state != 'not_eligible':
            parts.append(_shortened(_state_note(device, state)))
        label = '\\n'.join(dot_string(part)[1:-1] for part in parts if part)
        return '%s [id=%s, label="%s", fillcolor="%s", color="%s", style="rounded,%s", tooltip=%s];' % (
            dot_string(device.get('name')), dot_string('%s_%s' % (prefix, text(device.get('name')))), label,
            fill, border, style, dot_string('%s: %s' % (text(device.get('name')), STATE_LABELS[state])))

    def dot_sources(self) -> Dict[str, str]:
        """DOT text per host with facts, ids prefixed with the host's position (h1, h2, ...)."""
        sources = {}
        for position, host in enumerate(self.hosts, 1):
            source = self.dot(host, 'h%d' % position)
            if source is not None:
                sources[host] = source
        return sources

    def documents(self, formats: Sequence[str], basename: str,
                  pictures: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        """{file name: text} for each asked format: BASENAME.html, BASENAME.csv, BASENAME.md."""
        if not _BASENAME.match(basename):
            raise ReportError('basename %r is not a plain file name: use letters, digits and _ . + - '
                              '(not starting with . or -)' % basename)
        unknown = [name for name in formats if name not in FORMATS]
        if unknown:
            raise ReportError('unknown report formats %s: choose among %s' % (', '.join(unknown), ', '.join(FORMATS)))
        documents = {}
        for name in FORMATS:
            if name in formats:
                body = self.html(pictures) if name == 'html' else self.csv() if name == 'csv' else self.markdown()
                documents['%s.%s' % (basename, EXTENSIONS[name])] = body
        return documents

    # -- CSV -------------------------------------------------------------------------

    def csv(self) -> str:
        """One row per listed device; a host without facts has one row with state ``no hostdev facts``."""
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator='\r\n')
        writer.writerow(CSV_COLUMNS)
        for host in self.hosts:
            if self.facts[host] is None:
                writer.writerow([csv_cell(host)] + [''] * (len(CSV_COLUMNS) - 2) + [NO_FACTS])
                continue
            for device in self.listed[host]:
                row = self.device_row(host, device)
                writer.writerow([csv_cell(row[column]) for column in CSV_COLUMNS])
        return out.getvalue()

    # -- Markdown ----------------------------------------------------------------------

    def markdown(self) -> str:
        lines = ['# ' + escape_markdown(self.title), '', '## Fleet summary', '']
        lines += _markdown_table(('Summary', ''),
                                 [(label, escape_markdown(value)) for label, value in self.summary_rows()])
        lines += ['', '### GPUs per model', '']
        if self.summary['gpu_models']:
            lines += _markdown_table(('Model', 'IDs', 'Free', 'Total', 'Free on'), [
                (escape_markdown(model['model']), markdown_code(model['ids']), str(model['free']),
                 str(model['total']), escape_markdown(model['free_on'])) for model in self.summary['gpu_models']])
        else:
            lines.append('No GPU on the hosts with facts.')
        lines += ['', '## Drift', '']
        if self.drift:
            lines += _markdown_table(('Host', 'Mapping', 'Property', 'Expected', 'Found'), [
                tuple(escape_markdown(entry[key]) for key in DRIFT_KEYS) for entry in self.drift])
        else:
            lines.append(escape_markdown(self.drift_sentence()))
        for host in self.hosts:
            lines += ['', '## ' + escape_markdown(host), '']
            if self.facts[host] is None:
                lines.append('No hostdev facts: gather them with `virt.hostdev.hostdev_facts`.')
                continue
            lines += ['- **%s**: %s' % (label, escape_markdown(value or '-'))
                      for label, value in self.iommu_details(host)]
            hint = self.iommu(host).get('hint')
            if hint:
                lines.append('- **Hint**: ' + escape_markdown(hint))
            lines.append('')
            rows = [self.device_row(host, device) for device in self.listed[host]]
            if not rows:
                lines.append('No GPU, NIC or controller.')
                continue
            lines += _markdown_table(
                ('Address', 'Kind', 'Product', 'IDs', 'Group', 'Driver', 'Held by', 'Assignable', 'Blockers'),
                [(markdown_code(row['address']), escape_markdown(row['kind']), escape_markdown(row['product']),
                  markdown_code(row['ids']), escape_markdown(row['iommu_group']), markdown_code(row['driver']),
                  escape_markdown(row['assigned_to']), 'yes' if row['assignable'] else 'no',
                  escape_markdown(row['blockers'])) for row in rows])
        return '\n'.join(lines) + '\n'

    # -- HTML ------------------------------------------------------------------------

    def html(self, pictures: Optional[Mapping[str, str]] = None) -> str:
        """The page; ``pictures`` maps hosts to the SVG text of their DOT graph (``dot -Tsvg``)."""
        pictures = pictures or {}
        parts = [
            '<!DOCTYPE html>',
            '<html lang="en">',
            '<head>',
            '<meta charset="utf-8">',
            # no script, no fetch: the page is data only, whatever a host put in its names
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            'style-src \'unsafe-inline\'">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<title>%s</title>' % escape_html(self.title),
            '<style>%s</style>' % _CSS,
            '</head>',
            '<body>',
            '<header><h1>%s</h1>' % escape_html(self.title),
            '<nav aria-label="Hosts">%s</nav></header>' % ' '.join(
                '<a href="#host-%d" class="state-%s">%s</a>' % (
                    position, 'nofacts' if self.facts[host] is None else
                    'off' if not self.iommu(host).get('enabled') else 'on', escape_html(host))
                for position, host in enumerate(self.hosts, 1)),
            '<main>',
        ]
        parts += self._html_summary()
        parts += self._html_drift()
        for position, host in enumerate(self.hosts, 1):
            parts += self._html_host(position, host, pictures.get(host))
        parts += ['</main>', '</body>', '</html>']
        return '\n'.join(parts) + '\n'

    def _html_summary(self) -> List[str]:
        summary = self.summary
        parts = ['<section id="summary">', '<h2>Fleet summary</h2>', '<table class="summary">']
        parts += ['<tr><th scope="row">%s</th><td>%s</td></tr>' % (escape_html(label), escape_html(value))
                  for label, value in self.summary_rows()]
        parts.append('</table>')
        if summary['iommu_off']:
            parts += ['<h3>Hosts with the IOMMU off</h3>', '<table class="iommu-off">',
                      '<thead><tr><th>Host</th><th>Hint</th></tr></thead><tbody>']
            parts += ['<tr><td>%s</td><td>%s</td></tr>' % (escape_html(host), escape_html(self.iommu(host).get('hint')))
                      for host in summary['iommu_off']]
            parts.append('</tbody></table>')
        parts += ['<h3>GPUs per model</h3>']
        if summary['gpu_models']:
            parts += ['<table class="gpus">',
                      '<thead><tr><th>Model</th><th>IDs</th><th>Free</th><th>Total</th><th>Free on</th></tr></thead>',
                      '<tbody>']
            parts += ['<tr><td>%s</td><td><code>%s</code></td><td class="num">%d</td><td class="num">%d</td>'
                      '<td>%s</td></tr>' % (escape_html(model['model']), escape_html(model['ids']), model['free'],
                                            model['total'], escape_html(model['free_on']))
                      for model in summary['gpu_models']]
            parts.append('</tbody></table>')
        else:
            parts.append('<p>No GPU on the hosts with facts.</p>')
        parts.append('</section>')
        return parts

    def _html_drift(self) -> List[str]:
        parts = ['<section id="drift">', '<h2>Drift</h2>']
        if not self.drift:
            parts.append('<p class="drift-none">%s</p>' % escape_html(self.drift_sentence()))
        else:
            parts += ['<table class="drift">', '<thead><tr>%s</tr></thead><tbody>' % ''.join(
                '<th>%s</th>' % key.capitalize() for key in DRIFT_KEYS)]
            parts += ['<tr>%s</tr>' % ''.join('<td>%s</td>' % escape_html(entry[key]) for key in DRIFT_KEYS)
                      for entry in self.drift]
            parts.append('</tbody></table>')
        parts.append('</section>')
        return parts

    def _html_host(self, position: int, host: str, picture: Optional[str]) -> List[str]:
        parts = ['<section class="host" id="host-%d">' % position, '<h2>%s</h2>' % escape_html(host)]
        if self.facts[host] is None:
            parts += ['<p class="nofacts">No hostdev facts: gather them with '
                      '<code>virt.hostdev.hostdev_facts</code> (or from the fact cache).</p>', '</section>']
            return parts
        parts.append('<dl class="iommu">')
        for label, value in self.iommu_details(host):
            parts.append('<dt>%s</dt><dd>%s</dd>' % (escape_html(label), escape_html(value or '-')))
        parts.append('</dl>')
        hint = self.iommu(host).get('hint')
        if hint:
            parts.append('<p class="hint"><strong>Hint:</strong> %s</p>' % escape_html(hint))
        rows = [self.device_row(host, device) for device in self.listed[host]]
        if rows:
            parts += ['<table class="devices">', '<thead><tr><th>Address</th><th>Kind</th><th>Product</th>'
                      '<th>IDs</th><th>Group</th><th>Driver</th><th>Held by</th><th>Assignable</th>'
                      '<th>Blockers</th></tr></thead>', '<tbody>']
            for row in rows:
                parts.append(
                    '<tr class="state-%s"><td><code>%s</code></td><td>%s</td><td>%s</td><td><code>%s</code></td>'
                    '<td class="num">%s</td><td>%s</td><td>%s</td><td><span class="badge">%s</span></td>'
                    '<td>%s</td></tr>' % (
                        row['state'], escape_html(row['address']), escape_html(row['kind']),
                        escape_html(row['product']), escape_html(row['ids']), escape_html(row['iommu_group']),
                        escape_html(row['driver']), escape_html(row['assigned_to']),
                        'yes' if row['assignable'] else 'no', escape_html(row['blockers'])))
            parts.append('</tbody></table>')
        else:
            parts.append('<p>No GPU, NIC or controller.</p>')
        if picture is not None:
            parts += ['<figure class="topology">', embedded_svg(picture),
                      '<figcaption>PCI topology: IOMMU groups as boxes, parents to children. %s</figcaption>'
                      % _LEGEND, '</figure>']
        parts.append('</section>')
        return parts


def embedded_svg(svg: str) -> str:
    """dot's SVG without its XML prolog, doctype and comments, to sit inside HTML."""
    start = svg.find('<svg')
    body = svg[start:] if start >= 0 else ''
    return re.sub(r'<!--.*?-->', '', body, flags=re.S).strip()


def _count_and_names(hosts: Sequence[str]) -> str:
    return '%d: %s' % (len(hosts), ', '.join(hosts)) if hosts else '0'


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ['| %s |' % ' | '.join(header), '|%s' % ('---|' * len(header))]
    lines += ['| %s |' % ' | '.join(row) for row in rows]
    return lines


_LEGEND = '<span class="legend">%s</span>' % ' '.join(
    '<span class="swatch state-%s" style="background:%s;border-color:%s">%s</span>' % (
        state, STATE_STYLES[state][0], STATE_STYLES[state][1], STATE_LABELS[state]) for state in STATES)

_CSS = '''
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 0; color: #212529;
  background: #fff; line-height: 1.4; font-size: 15px; }
header { background: #f1f3f5; border-bottom: 1px solid #dee2e6; padding: 0.8em 1.5em; }
h1 { margin: 0 0 0.3em; font-size: 1.5em; }
nav a { display: inline-block; margin: 0.15em 0.3em 0.15em 0; padding: 0.1em 0.55em; border-radius: 1em;
  text-decoration: none; color: #212529; border: 1px solid #adb5bd; background: #fff; font-size: 0.9em; }
nav a.state-off { border-color: #c92a2a; background: #fff5f5; }
nav a.state-nofacts { border-style: dashed; color: #868e96; }
main { padding: 0 1.5em 2em; }
section { margin-top: 1.5em; }
section.host { border-top: 2px solid #dee2e6; padding-top: 0.5em; }
h2 { font-size: 1.25em; margin: 0.5em 0; }
h3 { font-size: 1.05em; margin: 1em 0 0.4em; }
table { border-collapse: collapse; margin: 0.3em 0 0.8em; }
th, td { border: 1px solid #dee2e6; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
thead th, table.summary th { background: #f8f9fa; }
td.num { text-align: right; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 0.92em; }
dl.iommu { display: grid; grid-template-columns: max-content auto; gap: 0.1em 1em; margin: 0.3em 0; }
dl.iommu dt { font-weight: 600; }
dl.iommu dd { margin: 0; }
p.hint { background: #fff4e6; border-left: 4px solid #e8590c; padding: 0.4em 0.8em; }
p.nofacts { color: #868e96; font-style: italic; }
tr.state-held td { background: #fff4e6; }
tr.state-blocked td { background: #fff5f5; }
tr.state-assignable td { background: #ebfbee; }
.badge { font-weight: 600; }
figure.topology { margin: 0.5em 0; overflow-x: auto; }
figure.topology svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #495057; }
.swatch { display: inline-block; border: 2px solid; border-radius: 4px; padding: 0 0.4em; margin-left: 0.4em;
  color: #212529; }
.swatch.state-held { border-width: 3px; }
.swatch.state-blocked { border-style: dashed; }
'''
