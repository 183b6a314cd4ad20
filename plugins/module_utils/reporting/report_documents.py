# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the fleet report's documents: one Graphviz DOT picture per section of device facts, CSV
(one row per host and device), Markdown, and the HTML page (reporting.report_html), from a
FleetReport's answers. No I/O: the pictures are drawn at the edge (``report_files.render_svg``).
"""

import csv
import io
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.virt.hostdev.plugins.module_utils.model.pci_classes import pci_class_name, pci_subclass_name
from ansible_collections.virt.hostdev.plugins.module_utils.reporting import report_html
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_hosts import DEVICES, NONE, SUMMARY
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_values import (
    BASENAME_RE,
    CSV_COLUMNS,
    DRIFT_KEYS,
    EXTENSIONS,
    FORMATS,
    NO_FACTS,
    STATE_LABELS,
    STATE_STYLES,
    SUMMARY_STATE,
    UNREADABLE_FACTS,
    ReportError,
    count_and_names,
    csv_cell,
    device_kind,
    device_state,
    dot_string,
    escape_markdown,
    kind_rows,
    markdown_code,
    model_ids,
    short_address,
    shortened,
    state_note,
    text,
)

if TYPE_CHECKING:  # the report these functions read (for the type checker only: report imports this file)
    from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report import FleetReport, Section


# -- DOT -----------------------------------------------------------------------


def dot_of(report: 'FleetReport', section: 'Section', prefix: str = 'h') -> Optional[str]:
    """The topology of a section's hosts as DOT: IOMMU groups as clusters, PCI parents as edges;
    None without device facts (summary facts name no device).

    Element ids start with ``prefix`` so several pictures can share one page.
    """
    if section.kind != DEVICES or section.facts is None:
        return None
    devices = [device for device in section.facts['devices'] if device.get('type') == 'pci']
    names = set(text(device.get('name')) for device in devices)
    font = 'Helvetica,Arial,sans-serif'
    lines = [
        'digraph topology {',
        '  graph [id=%s, rankdir=LR, fontname="%s", fontsize=12, nodesep=0.12, ranksep=0.35, '
        'bgcolor="transparent", tooltip=%s];' % (dot_string(prefix + '_graph'), font, dot_string(section.title)),
        '  node [shape=box, style="rounded,filled", fontname="%s", fontsize=11, margin="0.1,0.04"];' % font,
        '  edge [color="#868e96", arrowsize=0.5];',
        '  %s [id=%s, label=%s, shape=box3d, style="", fontsize=13];' % (
            dot_string(prefix + ':root'), dot_string(prefix + '_root'), dot_string(section.title)),
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
    """DOT text per section with device facts, keyed by its first host, ids prefixed with the
    section's position (h1, h2, ...)."""
    sources = {}
    for section in report.sections:
        source = dot_of(report, section, 'h%d' % section.position)
        if source is not None:
            sources[section.hosts[0]] = source
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
            body = (report_html.html_page(report, pictures) if name == 'html' else csv_text(report) if name == 'csv'
                    else markdown_text(report))
            documents['%s.%s' % (basename, EXTENSIONS[name])] = body
    return documents

# -- CSV -------------------------------------------------------------------------


def csv_text(report: 'FleetReport') -> str:
    """One row per listed device of each host; a host without facts, or with unreadable facts, has one
    row that says so in state; a host with summary facts one row per kind (per model for the kinds
    counted by model), of ``count`` devices, ``assignable`` of them assignable."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator='\r\n')
    writer.writerow(CSV_COLUMNS)
    counted = {}  # type: Dict[int, List[Dict[str, Any]]]
    for host in report.hosts:
        section = report.section_of[host]
        if section.kind == DEVICES:
            rows = [report.device_row(host, device) for device in section.listed]
        elif section.kind == SUMMARY:
            if section.position not in counted:
                counted[section.position] = _summary_rows(report, host)
            rows = [dict(row, host=host) for row in counted[section.position]]
        else:
            state = NO_FACTS if section.kind == NONE else '%s: %s' % (UNREADABLE_FACTS, section.problem)
            rows = [dict(dict.fromkeys(CSV_COLUMNS, ''), host=host, state=state)]
        writer.writerows([csv_cell(row[column]) for column in CSV_COLUMNS] for row in rows)
    return out.getvalue()


def _summary_rows(report: 'FleetReport', host: str) -> List[Dict[str, Any]]:
    rows = kind_rows(report.section_of[host].kinds)
    with_models = set(row['kind'] for row in rows if row['level'] == 'model')
    return [dict(dict.fromkeys(CSV_COLUMNS, ''), iommu='on' if report.iommu(host).get('enabled') else 'off',
                 kind=row['kind'], product=row['model'], ids=row['ids'], assignable=row['assignable'],
                 blockers=row['blockers'], state=SUMMARY_STATE, count=row['total'])
            for row in rows if row['level'] == 'model' or row['kind'] not in with_models]

# -- Markdown ----------------------------------------------------------------------


def markdown_text(report: 'FleetReport') -> str:
    lines = ['# ' + escape_markdown(report.title), '', '## Fleet summary', '']
    lines += _markdown_table(('Summary', ''),
                             [(label, escape_markdown(value)) for label, value in report.summary_rows()])
    if report.summary['hints']:
        lines += ['', '### Hints', '']
        lines += _markdown_table(('Hint', 'Hosts'), [(escape_markdown(entry['hint']),
                                                      escape_markdown(count_and_names(entry['hosts'])))
                                                     for entry in report.summary['hints']])
    lines += ['', '### GPUs per model', '']
    if report.summary['gpu_models']:
        lines += _markdown_table(('Model', 'IDs', 'Free', 'Total', 'Free on'), [
            (escape_markdown(model['model']), markdown_code(model['ids']), str(model['free']),
             str(model['total']), escape_markdown(count_and_names(model['free_on'])))
            for model in report.summary['gpu_models']])
    else:
        lines.append('No GPU on the hosts with facts.')
    lines += ['', '## Drift', '']
    if report.drift:
        lines += _markdown_table(('Host', 'Mapping', 'Property', 'Expected', 'Found'), [
            tuple(escape_markdown(entry[key]) for key in DRIFT_KEYS) for entry in report.drift])
    else:
        lines.append(escape_markdown(report.drift_sentence()))
    for section in report.sections:
        lines += ['', '## ' + escape_markdown(section.title), ''] + _markdown_section(report, section)
    return '\n'.join(lines) + '\n'


def _markdown_section(report: 'FleetReport', section: 'Section') -> List[str]:
    host = section.hosts[0]
    lines = ['%d identical hosts: %s' % (len(section.hosts), escape_markdown(', '.join(section.hosts))), ''] \
        if len(section.hosts) > 1 else []
    if section.kind == NONE:
        return lines + ['No hostdev facts: gather them with `virt.hostdev.hostdev_facts`.']
    if section.problem is not None:
        return lines + ['Unreadable facts: %s. Gather them again with `virt.hostdev.hostdev_facts`.'
                        % escape_markdown(section.problem)]
    lines += ['- **%s**: %s' % (label, escape_markdown(value or '-')) for label, value in report.iommu_details(host)]
    hint = section.iommu.get('hint')
    if hint:
        lines.append('- **Hint**: ' + escape_markdown(hint))
    lines.append('')
    if section.kind == SUMMARY:
        rows = kind_rows(section.kinds)
        if not rows:
            return lines + ['Summary facts: no GPU, NIC or controller.']
        return lines + ['Summary facts: devices counted by kind, no device names.', ''] + _markdown_table(
            ('Kind', 'Model', 'IDs', 'Devices', 'Assignable', 'Held', 'Blockers'),
            [(escape_markdown(row['kind'] if row['level'] == 'kind' else ''), escape_markdown(row['model']),
              markdown_code(row['ids']), str(row['total']), str(row['assignable']), text(row['held']),
              escape_markdown(row['blockers'])) for row in rows])
    rows = [report.device_row(host, device) for device in section.listed]
    if not rows:
        return lines + ['No GPU, NIC or controller.']
    return lines + _markdown_table(
        ('Address', 'Kind', 'Product', 'IDs', 'Group', 'Driver', 'Held by', 'Assignable', 'Blockers'),
        [(markdown_code(row['address']), escape_markdown(row['kind']), escape_markdown(row['product']),
          markdown_code(row['ids']), escape_markdown(row['iommu_group']), markdown_code(row['driver']),
          escape_markdown(row['assigned_to']), 'yes' if row['assignable'] else 'no',
          escape_markdown(row['blockers'])) for row in rows])


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ['| %s |' % ' | '.join(header), '|%s' % ('---|' * len(header))]
    lines += ['| %s |' % ' | '.join(row) for row in rows]
    return lines
