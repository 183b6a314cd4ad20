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

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import is_display
from ansible_collections.virt.hostdev.plugins.module_utils.reporting import report_documents
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_values import (
    DEFAULT_TITLE,
    DRIFT_KEYS,
    NO_MAPPINGS,
    device_address,
    device_kind,
    device_state,
    model_ids,
    model_name,
    text,
)

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

    # -- documents (reporting.report_documents owns them) ---------------------------

    def dot(self, host: str, prefix: str = 'h') -> Optional[str]:
        """The host's topology as DOT (report_documents.dot_of); None without facts."""
        return report_documents.dot_of(self, host, prefix)

    def dot_sources(self) -> Dict[str, str]:
        """{host: DOT} of every host with facts (report_documents.dot_sources)."""
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
        return report_documents.html_page(self, pictures)


def _count_and_names(hosts: Sequence[str]) -> str:
    return '%d: %s' % (len(hosts), ', '.join(hosts)) if hosts else '0'
