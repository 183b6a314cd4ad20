# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the two ways across the facts format (model.facts_format). No I/O happens here.

- ``host_facts()``: ansible_facts.hostdev of one read of a host, with every listed device's
  blockers (model.refusals): what hostdev_facts returns, and what tests and benchmarks build.
- ``model_of_facts()``: a HostModel of facts again, full or compact, for the filters and tests,
  the device mappings and anything else that reads facts a module returned. Summary facts name no
  device, so they make no model: the error says so.
"""

from collections.abc import Mapping
from typing import Any, Dict, Type

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, described
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import is_summary
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import assignability
from ansible_collections.virt.hostdev.plugins.module_utils.model.vf_table import listed_devices


# What a reader of device facts says of summary facts (model_of_facts, plugin_utils.facts_query).
SUMMARY_HAS_NO_DEVICES = ('summary facts (virt.hostdev.hostdev_facts with facts=summary) count devices but name '
                          'none, and this needs device names: gather the facts with facts=compact or facts=full')


def host_facts(model: HostModel, source: str, mode: str = 'full') -> Dict[str, Any]:
    """ansible_facts.hostdev of a read (a HostModel and the source it came from), full, compact or summary."""
    return model.facts(source, assignability(model, model.facts_names(mode)), mode)


def model_of_facts(facts: Any, error: Type[HostdevError] = HostdevError) -> HostModel:
    """The HostModel of a host's facts, full or compact: ansible_facts.hostdev or its device list.

    The model knows the devices, their tree and IOMMU groups and the IOMMU state; not the domains'
    definitions nor what the host runs on, so it does not compute holders or blockers again: the
    facts' assigned_to, assignable and blockers are what a reader of facts goes by. The VFs of compact
    facts' tables (vf_table) are devices of the model; a table that is none fails with error, naming its PF.

    error: the HostdevError subclass to raise when facts are not facts (a caller's own, such as
    MappingError), with a message naming what was given instead.
    """
    if is_summary(facts):
        raise error(SUMMARY_HAS_NO_DEVICES)
    expected = 'expected the facts of virt.hostdev.hostdev_facts (ansible_facts.hostdev or its devices)'
    devices = facts.get('devices') if isinstance(facts, Mapping) else facts
    if not isinstance(devices, list):
        raise error('%s, not %s' % (
            expected, 'a dict without a devices list' if isinstance(facts, Mapping) else described(facts)))
    for index, device in enumerate(devices):
        # The model sorts and indexes devices by name: a name of another type is junk, named here.
        name = device.get('name') if isinstance(device, Mapping) else None
        if not isinstance(name, str) or not name:
            if not isinstance(device, Mapping):
                wrong = 'device %d of them is %s, not a device (a dict with a name)' % (index, described(device))
            elif 'name' not in device:
                wrong = 'device %d of them has no name' % index
            else:
                wrong = 'the name of device %d is %s, not a node device name such as pci_0000_01_00_0' % (
                    index, described(name))
            raise error('%s, but %s' % (expected, wrong))
    devices = listed_devices(devices, error)  # the VFs of compact facts' tables, a table that is none named
    if not isinstance(facts, Mapping):
        return HostModel.of_facts(devices)
    iommu = facts.get('iommu')
    return HostModel.of_facts(devices, iommu=iommu if isinstance(iommu, Mapping) else None,
                              iommu_groups=facts.get('iommu_groups'))
