# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The questions the query filters and tests answer on ansible_facts.hostdev (controller side).

The facts' devices are device records (HostModel.device_facts made them), so a HostModel
built from them answers group questions exactly as hostdev_facts and domain_hostdev do.

Keys read, of each device: name, type, parent, iommu_group, pci.class, pci.address,
passthrough.reasons, driver, assigned_to, assignable; and iommu_groups. Only name is required
(and assignable by FactsQuery.assignable). Compact facts (hostdev_facts with facts=compact) leave
out the bridges and most keys (facts_format.COMPACT_DEVICE_KEYS): HostModel.of_facts makes up for
them, so the answers on compact facts are those on full facts. A PCI device's group is then its
top-level iommu_group and its address comes from its name; a PCI device that iommu_groups names and
the devices leave out is a bridge; a device without a class is of no kind, and an endpoint. The VFs
compact facts list as rows of their PF's table are devices here (vf_table.listed_devices).
"""

from collections.abc import Mapping
from typing import Any, Dict, List, Optional

from ansible.errors import AnsibleFilterError

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, HostdevModelError, described, shown
from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import (
    holds_its_group,
    is_pci_endpoint,
    is_pci_kind,
    pci_slot,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import is_summary
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import SUMMARY_HAS_NO_DEVICES, model_of_facts
from ansible_collections.virt.hostdev.plugins.module_utils.model.pci_classes import pci_kind_prefixes
from ansible_collections.virt.hostdev.plugins.module_utils.model.vf_table import listed_devices


def device_list(devices: Any, plugin: str, where: str = 'ansible_facts.hostdev.devices') -> List[Mapping]:
    """devices, checked: a list of dicts that each have a string name."""
    if is_summary(devices):
        raise AnsibleFilterError('%s: %s' % (plugin, SUMMARY_HAS_NO_DEVICES))
    if not isinstance(devices, list):
        raise AnsibleFilterError('%s expects the list %s, not %s' % (plugin, where, described(devices)))
    for index, device in enumerate(devices):
        if not isinstance(device, Mapping) or not isinstance(device.get('name'), str):
            raise AnsibleFilterError('%s: item %d of %s is not a device (a dict with a name): %s'
                                     % (plugin, index, where, _device_text(device)))
    return devices


def _device_text(device: Any) -> str:
    """What is wrong with an item of a device list, in the user's words."""
    if not isinstance(device, Mapping):
        return described(device)
    if 'name' not in device:
        return 'a dict without a name'
    return 'a dict whose name is %s' % described(device['name'])


def plain(value: Any) -> Any:
    """value with every dict, list, string and number as the plain Python type.

    ansible-core 2.19 hands plugins its own subclasses (lazy lists and dicts, tagged strings),
    and jmespath checks the arguments of its functions by exact type name: length() of such
    a list fails with "invalid type for value".
    """
    if isinstance(value, Mapping):
        return dict((plain(key), plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value


class FactsQuery:
    """One host's facts (ansible_facts.hostdev), its model, and the plugins' answers.

    plugin: the name of the filter or test asking, which every error message starts with.
    """

    def __init__(self, facts: Any, plugin: str) -> None:
        self.plugin = plugin
        if is_summary(facts):
            raise AnsibleFilterError('%s: %s' % (plugin, SUMMARY_HAS_NO_DEVICES))
        if not isinstance(facts, Mapping) or not isinstance(facts.get('devices'), list):
            raise AnsibleFilterError('%s expects ansible_facts.hostdev, the dict virt.hostdev.hostdev_facts sets, '
                                     'not %s' % (plugin, self._described(facts)))
        devices = device_list(facts['devices'], plugin)
        try:
            self.model = model_of_facts(facts)
            devices = listed_devices(devices)  # with the VFs of compact facts' tables
        except HostdevError as error:
            raise self.error(error.message)
        self.devices: Dict[str, Mapping] = {}
        for device in devices:
            self.devices.setdefault(device['name'], device)  # the first report wins, as in HostModel

    @staticmethod
    def _described(facts: Any) -> str:
        if isinstance(facts, list):
            return 'a list (hostdev_select is the filter that takes ansible_facts.hostdev.devices)'
        if isinstance(facts, Mapping):
            if isinstance(facts.get('hostdev'), Mapping):
                return 'ansible_facts itself (pass ansible_facts.hostdev)'
            return 'a dict without a devices list (keys: %s)' % shown(', '.join(sorted(str(key) for key in facts)))
        return described(facts)

    def error(self, message: str) -> AnsibleFilterError:
        """The error to raise: message, prefixed with the plugin name."""
        return AnsibleFilterError('%s: %s' % (self.plugin, message))

    # -- devices and groups -------------------------------------------------

    def name(self, reference: Any) -> str:
        """The node device name of a device name, a device dict, or a reference the role takes
        (PCI address, USB vendor:product or bus.device)."""
        if isinstance(reference, Mapping):
            reference = reference.get('name')
        if not isinstance(reference, str):
            raise self.error('needs a device name such as pci_0000_01_00_0 (or a device dict), not %s'
                             % described(reference))
        try:
            return self.model.resolve_reference(reference)
        except HostdevModelError as error:
            raise self.error(str(error))

    def device(self, reference: Any) -> Mapping:
        name = self.name(reference)
        if name not in self.devices:
            raise self.error('%s is a PCI bridge, which compact facts leave out (only iommu_groups names it): '
                             'gather with virt.hostdev.hostdev_facts and facts=full to see it' % name)
        return self.devices[name]

    def group(self, number: Any) -> Dict[str, Any]:
        """{number, devices, endpoints, bridges} of IOMMU group number: sorted PCI device names."""
        # Only ASCII digits make a number: int() also reads Arabic-Indic and full-width ones.
        if isinstance(number, str) and number.strip().isdigit() and number.strip().isascii():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int):
            raise self.error('needs an IOMMU group number, not %s' % described(number))
        devices = self.model.group_devices(number)
        if not devices:
            groups = sorted(self.model.iommu_groups())
            known = ('it has %d, numbered %s to %s' % (len(groups), groups[0], groups[-1]) if groups
                     else 'it has no IOMMU groups (is the IOMMU on?)')
            raise self.error('IOMMU group %d does not exist on this host: %s' % (number, known))
        return {'number': number, 'devices': devices, 'endpoints': self.model.group_endpoints_in(number),
                'bridges': self.model.group_bridges(number)}

    def group_endpoints(self, reference: Any) -> List[str]:
        """Sorted PCI endpoints of the device's own or inherited IOMMU group; [] without one."""
        return self.model.group_endpoints_in(self.model.iommu_group(self.name(reference)))

    def _endpoint_group(self, name: str) -> List[str]:
        """The endpoints of name's group when name is a PCI endpoint with a group, else []."""
        if not is_pci_endpoint(self.model.device(name)):
            return []
        return self.model.group_endpoints_in(self.model.iommu_group(name))

    def alone_in_group(self, reference: Any) -> bool:
        name = self.name(reference)
        return self._endpoint_group(name) == [name]

    def group_within_slot(self, reference: Any) -> bool:
        name = self.name(reference)
        slot = pci_slot(self.model.device(name))
        members = self._endpoint_group(name)
        return slot is not None and bool(members) and all(
            pci_slot(self.model.device(member)) == slot for member in members)

    def held_siblings(self, reference: Any) -> List[str]:
        """The other endpoints of the device's group that a host driver or a domain holds."""
        name = self.name(reference)
        # For a new domain, every holder of a sibling counts.
        return [member for member in self._endpoint_group(name) if member != name
                and holds_its_group(self.devices[member].get('driver'), self.devices[member].get('assigned_to') or [])]

    # -- kinds ------------------------------------------------------------------

    def of_kind(self, kind: Any) -> List[str]:
        """Sorted names of the PCI devices of a kind (pci_classes.PCI_KINDS or a class prefix)."""
        if not isinstance(kind, str):
            raise self.error('needs a device kind such as gpu, nic, usb_controller or nvme, not %s' % described(kind))
        try:
            pci_kind_prefixes(kind)
        except HostdevModelError as error:
            raise self.error(str(error))
        return [name for name in self.model.names() if is_pci_kind(self.model.device(name), kind)]

    def assignable(self, kind: Optional[str] = None) -> List[str]:
        """Sorted names of the devices (of a kind) that can be taken now: their assignable key."""
        # Bridges compact facts leave out are not in self.devices: they are never assignable.
        names = [name for name in (self.model.names() if kind is None else self.of_kind(kind)) if name in self.devices]
        unknown = [name for name in names if not isinstance(self.devices[name].get('assignable'), bool)]
        if unknown:
            listed = ', '.join(unknown[:5]) + (', ...' if len(unknown) > 5 else '')
            raise self.error('%s %s no assignable key: gather the facts again with virt.hostdev.hostdev_facts '
                             '0.1.0 or later' % (listed, 'has' if len(unknown) == 1 else 'have'))
        return [name for name in names if self.devices[name]['assignable']]
