# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that answer one question each on ansible_facts.hostdev.

Their documentation is in the YAML file of each filter beside this one (hostdev_device.yml,
...); the answers come from plugin_utils/facts_query.py.
"""

from typing import Any, Dict, List, Mapping, Optional

from ansible.errors import AnsibleFilterError

from ansible_collections.virt.hostdev.plugins.module_utils.errors import described
from ansible_collections.virt.hostdev.plugins.module_utils.model.pci_classes import pci_class_name, pci_subclass_name
from ansible_collections.virt.hostdev.plugins.plugin_utils.facts_query import FactsQuery


def hostdev_device(facts: Any, device: Any) -> Mapping:
    return FactsQuery(facts, 'hostdev_device').device(device)


def hostdev_group(facts: Any, number: Any) -> Dict[str, Any]:
    return FactsQuery(facts, 'hostdev_group').group(number)


def hostdev_group_endpoints(facts: Any, device: Any) -> List[str]:
    return FactsQuery(facts, 'hostdev_group_endpoints').group_endpoints(device)


def hostdev_held_siblings(facts: Any, device: Any) -> List[str]:
    return FactsQuery(facts, 'hostdev_held_siblings').held_siblings(device)


def hostdev_of_kind(facts: Any, kind: Any) -> List[str]:
    return FactsQuery(facts, 'hostdev_of_kind').of_kind(kind)


def hostdev_assignable(facts: Any, kind: Optional[str] = None) -> List[str]:
    return FactsQuery(facts, 'hostdev_assignable').assignable(kind)


def hostdev_pci_class_name(pci_class: Any) -> Optional[str]:
    if pci_class is not None and not isinstance(pci_class, str):
        raise AnsibleFilterError('hostdev_pci_class_name expects a PCI class code such as 0x030000, not %s'
                                 % described(pci_class))
    return pci_subclass_name(pci_class) or pci_class_name(pci_class)


class FilterModule:
    def filters(self):
        return {
            'hostdev_assignable': hostdev_assignable,
            'hostdev_device': hostdev_device,
            'hostdev_group': hostdev_group,
            'hostdev_group_endpoints': hostdev_group_endpoints,
            'hostdev_held_siblings': hostdev_held_siblings,
            'hostdev_of_kind': hostdev_of_kind,
            'hostdev_pci_class_name': hostdev_pci_class_name,
        }
