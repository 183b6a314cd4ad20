# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests on a device's IOMMU group in ansible_facts.hostdev.

Their documentation is in the YAML file of each test beside this one; the answers come
from plugins/plugin_utils/facts_query.py.
"""

from typing import Any

from ansible_collections.virt.hostdev.plugins.plugin_utils.facts_query import FactsQuery


def hostdev_alone_in_group(device: Any, facts: Any) -> bool:
    return FactsQuery(facts, 'hostdev_alone_in_group').alone_in_group(device)


def hostdev_group_within_slot(device: Any, facts: Any) -> bool:
    return FactsQuery(facts, 'hostdev_group_within_slot').group_within_slot(device)


class TestModule:
    def tests(self):
        return {
            'hostdev_alone_in_group': hostdev_alone_in_group,
            'hostdev_group_within_slot': hostdev_group_within_slot,
        }
