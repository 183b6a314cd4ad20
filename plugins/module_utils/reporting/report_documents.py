# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the fleet report's documents: one Graphviz DOT picture per host, CSV, Markdown and a
self-contained HTML page, from a FleetReport's answers. No I/O: the pictures are drawn at the edge
(``report_files.render_svg``); ``html()`` embeds the SVG text it is given per host.
"""

import csv
import io
import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.virt.hostdev.plugins.module_utils.model.pci_classes import pci_class_name, pci_subclass_name
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_values import (
    BASENAME_RE,
    CSV_COLUMNS,
    DRIFT_KEYS,
    EXTENSIONS,
    FORMATS,
    NO_FACTS,
    STATE_LABELS,
    STATE_STYLES,
    STATES,
    ReportError,
    csv_cell,
    device_kind,
    device_state,
    dot_string,
    escape_html,
    escape_markdown,
    markdown_code,
    model_ids,
    short_address,
    shortened,
    state_note,
    text,
)

if TYPE_CHECKING:  # the report these functions read (for the type checker only: report imports this file)
    from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report import FleetReport


# -- DOT -----------------------------------------------------------------------

def dot_of(report: 'FleetReport', host: str, prefix: str = 'h') -> Optional[str]:
    """The host's topology as DOT: IOMMU groups as clusters, PCI parents as edges; None without facts.

    Element ids start with ``prefix`` so several pictures can share one page.
    """
    facts = report.facts[host]
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
        members = [_dot_node(device, prefix) for device in groups[group]]
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


def _dot_node(device: Dict[str, Any], prefix: str) -> str:
    pci = device.get('pci') or {}
    state = device_state(device)
    fill, border, style = STATE_STYLES[state]
    kind = device_kind(device) or pci_subclass_name(pci.get('class')) or pci_class_name(pci.get('class')) \
        or 'class %s' % text(pci.get('class'))
    parts = [short_address(device) + '  ' + kind, shortened(text(pci.get('product')) or model_ids(device)),
             'driver: %s' % (text(device.get('driver')) or 'none')]
    if state != 'not_eligible':
        parts.append(shortened(state_note(device, state)))
    label = '\\n'.join(dot_string(part)[1:-1] for part in parts if part)
    return '%s [id=%s, label="%s", fillcolor="%s", color="%s", style="rounded,%s", tooltip=%s];' % (
        dot_string(device.get('name')), dot_string('%s_%s' % (prefix, text(device.get('name')))), label,
        fill, border, style, dot_string('%s: %s' % (text(device.get('name')), STATE_LABELS[state])))


def dot_sources(report: 'FleetReport') -> Dict[str, str]:
    """DOT text per host with facts, ids prefixed with the host's position (h1, h2, ...)."""
    sources = {}
    for position, host in enumerate(report.hosts, 1):
        source = dot_of(report, host, 'h%d' % position)
        if source is not None:
            sources[host] = source
    return sources


def documents(report: 'FleetReport', formats: Sequence[str], basename: str,
              pictures: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """{file name: text} for each asked format: BASENAME.html, BASENAME.csv, BASENAME.md."""
    if not BASENAME_RE.match(basename):
        raise ReportError('basename %r is not a plain file name: use letters, digits and _ . + - '
                          '(not starting with . or -)' % basename)
    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        raise ReportError('unknown report formats %s: choose among %s' % (', '.join(unknown), ', '.join(FORMATS)))
    documents = {}
    for name in FORMATS:
        if name in formats:
            body = html_page(report, pictures) if name == 'html' else csv_text(report) if name == 'csv' else markdown_text(report)
            documents['%s.%s' % (basename, EXTENSIONS[name])] = body
    return documents

# -- CSV -------------------------------------------------------------------------


def csv_text(report: 'FleetReport') -> str:
    """One row per listed device; a host without facts has one row with state ``no hostdev facts``."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator='\r\n')
    writer.writerow(CSV_COLUMNS)
    for host in report.hosts:
        if report.facts[host] is None:
            writer.writerow([csv_cell(host)] + [''] * (len(CSV_COLUMNS) - 2) + [NO_FACTS])
            continue
        for device in report.listed[host]:
            row = report.device_row(host, device)
            writer.writerow([csv_cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()

# -- Markdown ----------------------------------------------------------------------


def markdown_text(report: 'FleetReport') -> str:
    lines = ['# ' + escape_markdown(report.title), '', '## Fleet summary', '']
    lines += _markdown_table(('Summary', ''),
                             [(label, escape_markdown(value)) for label, value in report.summary_rows()])
    lines += ['', '### GPUs per model', '']
    if report.summary['gpu_models']:
        lines += _markdown_table(('Model', 'IDs', 'Free', 'Total', 'Free on'), [
            (escape_markdown(model['model']), markdown_code(model['ids']), str(model['free']),
             str(model['total']), escape_markdown(model['free_on'])) for model in report.summary['gpu_models']])
    else:
        lines.append('No GPU on the hosts with facts.')
    lines += ['', '## Drift', '']
    if report.drift:
        lines += _markdown_table(('Host', 'Mapping', 'Property', 'Expected', 'Found'), [
            tuple(escape_markdown(entry[key]) for key in DRIFT_KEYS) for entry in report.drift])
    else:
        lines.append(escape_markdown(report.drift_sentence()))
    for host in report.hosts:
        lines += ['', '## ' + escape_markdown(host), '']
        if report.facts[host] is None:
            lines.append('No hostdev facts: gather them with `virt.hostdev.hostdev_facts`.')
            continue
        lines += ['- **%s**: %s' % (label, escape_markdown(value or '-'))
                  for label, value in report.iommu_details(host)]
        hint = report.iommu(host).get('hint')
        if hint:
            lines.append('- **Hint**: ' + escape_markdown(hint))
        lines.append('')
        rows = [report.device_row(host, device) for device in report.listed[host]]
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


def html_page(report: 'FleetReport', pictures: Optional[Mapping[str, str]] = None) -> str:
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
        '<title>%s</title>' % escape_html(report.title),
        '<style>%s</style>' % _CSS,
        '</head>',
        '<body>',
        '<header><h1>%s</h1>' % escape_html(report.title),
        '<nav aria-label="Hosts">%s</nav></header>' % ' '.join(
            '<a href="#host-%d" class="state-%s">%s</a>' % (
                position, 'nofacts' if report.facts[host] is None else
                'off' if not report.iommu(host).get('enabled') else 'on', escape_html(host))
            for position, host in enumerate(report.hosts, 1)),
        '<main>',
    ]
    parts += _html_summary(report)
    parts += _html_drift(report)
    for position, host in enumerate(report.hosts, 1):
        parts += _html_host(report, position, host, pictures.get(host))
    parts += ['</main>', '</body>', '</html>']
    return '\n'.join(parts) + '\n'


def _html_summary(report: 'FleetReport') -> List[str]:
    summary = report.summary
    parts = ['<section id="summary">', '<h2>Fleet summary</h2>', '<table class="summary">']
    parts += ['<tr><th scope="row">%s</th><td>%s</td></tr>' % (escape_html(label), escape_html(value))
              for label, value in report.summary_rows()]
    parts.append('</table>')
    if summary['iommu_off']:
        parts += ['<h3>Hosts with the IOMMU off</h3>', '<table class="iommu-off">',
                  '<thead><tr><th>Host</th><th>Hint</th></tr></thead><tbody>']
        parts += ['<tr><td>%s</td><td>%s</td></tr>' % (escape_html(host), escape_html(report.iommu(host).get('hint')))
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


def _html_drift(report: 'FleetReport') -> List[str]:
    parts = ['<section id="drift">', '<h2>Drift</h2>']
    if not report.drift:
        parts.append('<p class="drift-none">%s</p>' % escape_html(report.drift_sentence()))
    else:
        parts += ['<table class="drift">', '<thead><tr>%s</tr></thead><tbody>' % ''.join(
            '<th>%s</th>' % key.capitalize() for key in DRIFT_KEYS)]
        parts += ['<tr>%s</tr>' % ''.join('<td>%s</td>' % escape_html(entry[key]) for key in DRIFT_KEYS)
                  for entry in report.drift]
        parts.append('</tbody></table>')
    parts.append('</section>')
    return parts


def _html_host(report: 'FleetReport', position: int, host: str, picture: Optional[str]) -> List[str]:
    parts = ['<section class="host" id="host-%d">' % position, '<h2>%s</h2>' % escape_html(host)]
    if report.facts[host] is None:
        parts += ['<p class="nofacts">No hostdev facts: gather them with '
                  '<code>virt.hostdev.hostdev_facts</code> (or from the fact cache).</p>', '</section>']
        return parts
    parts.append('<dl class="iommu">')
    for label, value in report.iommu_details(host):
        parts.append('<dt>%s</dt><dd>%s</dd>' % (escape_html(label), escape_html(value or '-')))
    parts.append('</dl>')
    hint = report.iommu(host).get('hint')
    if hint:
        parts.append('<p class="hint"><strong>Hint:</strong> %s</p>' % escape_html(hint))
    rows = [report.device_row(host, device) for device in report.listed[host]]
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
