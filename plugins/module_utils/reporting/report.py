# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the fleet report. Hosts' facts in; HTML, CSV, Markdown and Graphviz DOT text out. No I/O.

``FleetReport`` takes ``{inventory_hostname: ansible_facts.hostdev, or None}`` once (full, compact
or summary facts; reporting.report_hosts says what each value is, and a host with malformed facts is
listed as unreadable, naming what was wrong) and answers from it: the fleet summary, the sections
(identical hosts share one: the same devices in the same state), the listed devices per host, one
DOT graph per section (IOMMU groups as clusters, the PCI tree as edges) and the three documents.
Compact facts carry ids only: a ``names`` source given by the caller (the module reads the
controller's pci.ids) names them. The pictures are drawn at the edge (``report_files.render_svg``);
``html()`` embeds the SVG text it is given per section.

Every string that comes from a host (device, product, vendor, driver and domain names,
hints) is escaped for where it goes: HTML-escaped, CSV-quoted and kept from being read as
a spreadsheet formula, Markdown-escaped, DOT-quoted (dot escapes it again in its SVG).
"""

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import kinds_of
from ansible_collections.virt.hostdev.plugins.module_utils.reporting import report_documents, report_html
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_hosts import (
    DEVICES,
    NONE,
    SUMMARY,
    UNREADABLE,
    NameSource,
    identity,
    intake,
    named,
    wanted_ids,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_values import (
    DEFAULT_TITLE,
    DISPLAY_KINDS,
    DRIFT_KEYS,
    NO_MAPPINGS,
    count_and_names,
    device_address,
    device_kind,
    device_state,
    model_ids,
    text,
)

# -- the fleet ----------------------------------------------------------------------


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


class Section:
    """Hosts the report shows as one: their form of facts (report_hosts: NONE, UNREADABLE, DEVICES,
    SUMMARY), their facts (or what is wrong with them), the devices listed and the kinds counted."""

    def __init__(self, position: int, kind: str, facts: Any, hosts: List[str]) -> None:
        self.position = position
        self.kind = kind
        self.hosts = hosts
        self.facts = facts if kind in (DEVICES, SUMMARY) else None
        self.problem = facts if kind == UNREADABLE else None
        self.listed = [device for device in facts['devices'] if device_kind(device) is not None] \
            if kind == DEVICES else []
        self.kinds = (facts['kinds'] if kind == SUMMARY else kinds_of(self.listed) if kind == DEVICES
                      else {})  # type: Mapping[str, Mapping[str, Any]]

    @property
    def title(self) -> str:
        """The first host's name, and how many identical ones there are besides."""
        first = self.hosts[0]
        return first if len(self.hosts) == 1 else '%s and %d identical hosts' % (first, len(self.hosts) - 1)

    @property
    def iommu(self) -> Mapping[str, Any]:
        return (self.facts or {}).get('iommu') or {}


class FleetReport:
    """The report over one set of hosts: ``hosts`` maps each inventory name to its facts or None.

    names: the names of PCI ids the facts leave unnamed, as report_hosts.NameSource gives them (the
    module reads the controller's pci.ids); None leaves the ids as they are.
    """

    def __init__(self, hosts: Mapping[str, Any], title: str = DEFAULT_TITLE,
                 drift: Optional[Sequence[Mapping[str, Any]]] = None, names: Optional[NameSource] = None) -> None:
        self.title = title
        self.hosts = sorted(hosts)
        taken = dict((host, intake(hosts[host])) for host in self.hosts)
        if names is not None:
            wanted = set(ids for kind, facts in taken.values() for ids in wanted_ids(kind, facts))
            found = names(wanted) if wanted else {}
            taken = dict((host, (kind, named(kind, facts, found))) for host, (kind, facts) in taken.items())
        self.sections = []  # type: List[Section]
        by_identity = {}  # type: Dict[str, Section]
        self.section_of = {}  # type: Dict[str, Section]
        for host in self.hosts:
            kind, facts = taken[host]
            key = identity(kind, facts)
            if key not in by_identity:
                by_identity[key] = Section(len(self.sections) + 1, kind, facts, [])
                self.sections.append(by_identity[key])
            by_identity[key].hosts.append(host)
            self.section_of[host] = by_identity[key]
        self.facts = dict((host, self.section_of[host].facts) for host in self.hosts)
        self.listed = dict((host, self.section_of[host].listed) for host in self.hosts)
        self.drift = normalized_drift(drift)
        self.summary = self._summary()

    def iommu(self, host: str) -> Mapping[str, Any]:
        return self.section_of[host].iommu

    def hosts_of(self, *kinds: str) -> List[str]:
        return [host for host in self.hosts if self.section_of[host].kind in kinds]

    def _summary(self) -> Dict[str, Any]:
        with_facts = self.hosts_of(DEVICES, SUMMARY)
        models = {}  # type: Dict[str, Dict[str, Any]]
        hints = {}  # type: Dict[str, List[str]]
        totals = {'gpus': 0, 'free_gpus': 0, 'displays': 0, 'held': 0}
        for section in self.sections:
            count = len(section.hosts)
            if section.iommu.get('hint'):
                hints.setdefault(text(section.iommu['hint']), []).extend(section.hosts)
            for kind, entry in section.kinds.items():
                totals['held'] += (entry.get('held') or 0) * count
                totals['displays'] += entry['total'] * count if kind in DISPLAY_KINDS else 0
            gpu = section.kinds.get('gpu') or {'total': 0, 'assignable': 0, 'models': []}
            totals['gpus'] += gpu['total'] * count
            totals['free_gpus'] += gpu['assignable'] * count
            for found in gpu['models']:
                ids, name = text(found.get('ids')), text(found.get('name'))
                model = models.setdefault(ids or name, {'model': '', 'ids': ids, 'free': 0, 'total': 0, 'free_on': []})
                model['model'] = model['model'] or name  # a host that has its name names it
                model['total'] += found['total'] * count
                model['free'] += found['assignable'] * count
                if found['assignable']:
                    model['free_on'] += section.hosts
        for model in models.values():
            model.update(model=model['model'] or model['ids'] or 'unknown model', free_on=sorted(set(model['free_on'])))
        gpu_models = sorted(models.values(), key=lambda model: (-model['free'], model['model'], model['ids']))
        return dict(totals, **{
            'hosts': len(self.hosts),
            'with_facts': with_facts,
            'summary_facts': self.hosts_of(SUMMARY),
            'without_facts': self.hosts_of(NONE),
            'unreadable': dict((host, self.section_of[host].problem) for host in self.hosts_of(UNREADABLE)),
            'iommu_off': [host for host in with_facts if not self.iommu(host).get('enabled')],
            'hints': [{'hint': hint, 'hosts': sorted(hosts)} for hint, hosts in sorted(hints.items())],
            'gpu_models': gpu_models,
            'sections': len(self.sections),
            'drift': None if self.drift is None else len(self.drift),
            'drift_hosts': [] if self.drift is None else sorted(set(entry['host'] for entry in self.drift)),
        })

    # -- shared answers of the documents --------------------------------------------

    def iommu_text(self, host: str) -> str:
        iommu = self.iommu(host)
        if not iommu.get('enabled'):
            return 'off'
        units = text(iommu.get('units'))
        return 'on, %s groups%s' % (text(iommu.get('groups')), ' (%s)' % units if units else '')

    def iommu_details(self, host: str) -> List[Tuple[str, str]]:
        """(label, value) rows about a host's IOMMU, after the one-line state; summary facts have fewer."""
        iommu = self.iommu(host)
        remapping = iommu.get('interrupt_remapping')
        kernel_args = iommu.get('kernel_args') or {}
        rows = [
            ('IOMMU', self.iommu_text(host)),
            ('Interrupt remapping', 'unknown' if remapping is None else text(remapping)),
            ('ACS override', text(bool(iommu.get('acs_override')))),
            ('Kernel arguments', ' '.join(
                key if value is True else '%s=%s' % (key, text(value))
                for key, value in sorted(kernel_args.items())) if isinstance(kernel_args, Mapping) else ''),
            ('Read through', text((self.facts[host] or {}).get('source'))),
        ]
        if self.section_of[host].kind == SUMMARY:
            return [row for row in rows if row[0] not in ('ACS override', 'Kernel arguments')]
        return rows

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
            ('Without facts', count_and_names(summary['without_facts'])),
            ('Unreadable facts', count_and_names(sorted(summary['unreadable']))),
            ('IOMMU off', count_and_names(summary['iommu_off'])),
            ('Free GPUs', '%d of %d' % (summary['free_gpus'], summary['gpus'])),
            ('Boot VGA and BMC displays', str(summary['displays'])),
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
            'count': 1,
        }

    # -- documents (reporting.report_documents owns them) ---------------------------

    def dot(self, host: str, prefix: str = 'h') -> Optional[str]:
        """The topology of the host's section as DOT (report_documents.dot_of); None without device facts."""
        return report_documents.dot_of(self, self.section_of[host], prefix)

    def dot_sources(self) -> Dict[str, str]:
        """{first host of a section: DOT} of every section with device facts (report_documents.dot_sources)."""
        return report_documents.dot_sources(self)

    def documents(self, formats: Sequence[str], basename: str,
                  pictures: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        """{file name: text} for each asked format (report_documents.documents)."""
        return report_documents.documents(self, formats, basename, pictures)

    def csv(self) -> str:
        return report_documents.csv_text(self)

    def markdown(self) -> str:
        return report_documents.markdown_text(self)

    def html(self, pictures: Optional[Mapping[str, str]] = None) -> str:
        return report_html.html_page(self, pictures)
