# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the fleet report's self-contained HTML page, from a FleetReport's answers: the summary, the
hints once each with their hosts, the GPUs per model, the drift, and one section per set of identical
hosts with its picture. No I/O: ``html_page()`` embeds the SVG text it is given per section.
"""

import re
from typing import TYPE_CHECKING, List, Mapping, Optional, Sequence

from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_hosts import NONE, SUMMARY, UNREADABLE
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_values import (
    DRIFT_KEYS,
    NAMES_SHOWN,
    STATE_LABELS,
    STATE_STYLES,
    STATES,
    escape_html,
    kind_rows,
    text,
)

if TYPE_CHECKING:  # the report these functions read (for the type checker only: report imports this file)
    from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report import FleetReport, Section


def html_page(report: 'FleetReport', pictures: Optional[Mapping[str, str]] = None) -> str:
    """The page; ``pictures`` maps the first host of a section to the SVG text of its DOT graph (``dot -Tsvg``)."""
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
            '<a href="#host-%d" class="state-%s">%s</a>' % (section.position, _state(section), escape_html(
                section.hosts[0] if len(section.hosts) == 1 else '%s +%d' % (section.hosts[0], len(section.hosts) - 1)))
            for section in report.sections),
        '<main>',
    ]
    parts += _html_summary(report)
    parts += _html_drift(report)
    for section in report.sections:
        parts += _html_section(report, section, pictures.get(section.hosts[0]))
    parts += ['</main>', '</body>', '</html>']
    return '\n'.join(parts) + '\n'


def _state(section: 'Section') -> str:
    if section.kind == NONE:
        return 'nofacts'
    if section.kind == UNREADABLE:
        return 'unreadable'
    return 'on' if section.iommu.get('enabled') else 'off'


def _hosts(hosts: Sequence[str]) -> str:
    """Host names as HTML: all of them, folded behind their count when there are many."""
    if len(hosts) <= NAMES_SHOWN:
        return escape_html(', '.join(hosts))
    return '<details><summary>%d hosts: %s, ...</summary><p>%s</p></details>' % (
        len(hosts), escape_html(', '.join(hosts[:3])), escape_html(', '.join(hosts)))


def _html_summary(report: 'FleetReport') -> List[str]:
    summary = report.summary
    parts = ['<section id="summary">', '<h2>Fleet summary</h2>', '<table class="summary">']
    parts += ['<tr><th scope="row">%s</th><td>%s</td></tr>' % (escape_html(label), escape_html(value))
              for label, value in report.summary_rows()]
    parts.append('</table>')
    if summary['hints']:
        parts += ['<h3>Hints</h3>', '<table class="hints">',
                  '<thead><tr><th>Hint</th><th>Hosts</th></tr></thead><tbody>']
        parts += ['<tr><td>%s</td><td>%s</td></tr>' % (escape_html(entry['hint']), _hosts(entry['hosts']))
                  for entry in summary['hints']]
        parts.append('</tbody></table>')
    parts += ['<h3>GPUs per model</h3>']
    if summary['gpu_models']:
        parts += ['<table class="gpus">',
                  '<thead><tr><th>Model</th><th>IDs</th><th>Free</th><th>Total</th><th>Free on</th></tr></thead>',
                  '<tbody>']
        parts += ['<tr><td>%s</td><td><code>%s</code></td><td class="num">%d</td><td class="num">%d</td>'
                  '<td>%s</td></tr>' % (escape_html(model['model']), escape_html(model['ids']), model['free'],
                                        model['total'], _hosts(model['free_on']))
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


def _html_section(report: 'FleetReport', section: 'Section', picture: Optional[str]) -> List[str]:
    host = section.hosts[0]
    parts = ['<section class="host" id="host-%d">' % section.position, '<h2>%s</h2>' % escape_html(section.title)]
    if len(section.hosts) > 1:
        parts.append('<div class="hosts">%d identical hosts: %s</div>' % (len(section.hosts), _hosts(section.hosts)))
    if section.kind == NONE:
        parts += ['<p class="nofacts">No hostdev facts: gather them with '
                  '<code>virt.hostdev.hostdev_facts</code> (or from the fact cache).</p>', '</section>']
        return parts
    if section.kind == UNREADABLE:
        parts += ['<p class="unreadable">Unreadable facts: %s. Gather them again with '
                  '<code>virt.hostdev.hostdev_facts</code>.</p>' % escape_html(section.problem), '</section>']
        return parts
    parts.append('<dl class="iommu">')
    for label, value in report.iommu_details(host):
        parts.append('<dt>%s</dt><dd>%s</dd>' % (escape_html(label), escape_html(value or '-')))
    parts.append('</dl>')
    hint = section.iommu.get('hint')
    if hint:
        parts.append('<p class="hint"><strong>Hint:</strong> %s</p>' % escape_html(hint))
    parts += _html_kinds(section) if section.kind == SUMMARY else _html_devices(report, section)
    if picture is not None:
        parts += ['<figure class="topology">', embedded_svg(picture),
                  '<figcaption>PCI topology: IOMMU groups as boxes, parents to children. %s</figcaption>'
                  % _LEGEND, '</figure>']
    parts.append('</section>')
    return parts


def _html_devices(report: 'FleetReport', section: 'Section') -> List[str]:
    rows = [report.device_row(section.hosts[0], device) for device in section.listed]
    if not rows:
        return ['<p>No GPU, NIC or controller.</p>']
    parts = ['<table class="devices">', '<thead><tr><th>Address</th><th>Kind</th><th>Product</th>'
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
    return parts


def _html_kinds(section: 'Section') -> List[str]:
    rows = kind_rows(section.kinds)
    if not rows:
        return ['<p class="summary-facts">Summary facts: no GPU, NIC or controller.</p>']
    parts = ['<p class="summary-facts">Summary facts: devices counted by kind, no device names (gather '
             '<code>facts: full</code> for the devices and their picture).</p>',
             '<table class="kinds">', '<thead><tr><th>Kind</th><th>Model</th><th>IDs</th><th>Devices</th>'
             '<th>Assignable</th><th>Held</th><th>Blockers</th></tr></thead>', '<tbody>']
    parts += ['<tr class="%s"><td>%s</td><td>%s</td><td><code>%s</code></td><td class="num">%s</td>'
              '<td class="num">%s</td><td class="num">%s</td><td>%s</td></tr>' % (
                  row['level'], escape_html(row['kind'] if row['level'] == 'kind' else ''), escape_html(row['model']),
                  escape_html(row['ids']), row['total'], row['assignable'], escape_html(text(row['held'])),
                  escape_html(row['blockers'])) for row in rows]
    parts.append('</tbody></table>')
    return parts


def embedded_svg(svg: str) -> str:
    """dot's SVG without its XML prolog, doctype and comments, to sit inside HTML."""
    start = svg.find('<svg')
    body = svg[start:] if start >= 0 else ''
    return re.sub(r'<!--.*?-->', '', body, flags=re.S).strip()


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
p.unreadable { background: #fff5f5; border-left: 4px solid #c92a2a; padding: 0.4em 0.8em; }
div.hosts, p.summary-facts { color: #495057; margin: 0.5em 0; }
nav a.state-unreadable { border-color: #c92a2a; border-style: dashed; }
tr.model td { color: #495057; }
tr.model td:nth-child(2) { padding-left: 1.5em; }
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
