# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
name: hostdev_select
short_description: Select host devices with a JMESPath expression
version_added: 0.1.0
author:
  - virt.hostdev developers (@virt-hostdev)
description:
  - Runs a JMESPath expression over the device list of M(virt.hostdev.hostdev_facts)
    (C(ansible_facts.hostdev.devices)) and returns the sorted, unique names of the devices it selects.
  - Before the search, each device (a copy; the facts are untouched) gets two more keys, so an
    expression can look at a whole IOMMU group. C(group_devices) lists the PCI devices in the device's
    IOMMU group, and C(group_endpoints) the ones of them that are not bridges (PCI class 0x06). Both
    are empty for a device without a group.
  - The expression may yield device dicts (their C(name) is used), names, a single device or name, or
    nothing. Anything else fails, as does an invalid expression (with jmespath's message).
  - The devices of compact facts (O(virt.hostdev.hostdev_facts#module:facts=compact)) have fewer keys and no
    bridges, so there C(group_devices) name no bridges and an expression on a key they lack (such as
    C(passthrough.eligible)) selects nothing. C(!contains(blockers, 'not_eligible')) and C(assignable) select
    on both forms.
requirements:
  - jmespath (on the controller)
options:
  _input:
    description: The devices, C(ansible_facts.hostdev.devices).
    type: list
    elements: dict
    required: true
  expression:
    description: The JMESPath expression.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Every eligible NVIDIA 3D controller whose IOMMU group holds no other endpoint
  ansible.builtin.set_fact:
    gpus: >-
      {{ ansible_facts.hostdev.devices | virt.hostdev.hostdev_select(
           "[?type=='pci' && passthrough.eligible && pci.vendor_id=='0x10de'
              && starts_with(pci.class, '0x0302') && length(group_endpoints) == `1`]") }}

- name: The names of all eligible USB devices of one vendor
  ansible.builtin.set_fact:
    keyboards: >-
      {{ ansible_facts.hostdev.devices | virt.hostdev.hostdev_select(
           "[?type=='usb_device' && usb.vendor_id=='0x046d'].name") }}
'''

RETURN = r'''
_value:
  description: Sorted, unique names of the selected devices.
  type: list
  elements: str
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import model_of_facts
from ansible_collections.virt.hostdev.plugins.plugin_utils.facts_query import device_list, plain

try:
    import jmespath
except ImportError:
    jmespath = None


def with_groups(devices):
    """Copies of the devices with group_devices and group_endpoints added.

    Facts devices are valid device records, so the model answers: group_devices are
    the kernel's members of the device's own or inherited group (its iommu_group
    key), group_endpoints those of them that are not bridges.
    """
    model = model_of_facts(devices)
    result = []
    for device in devices:
        group = model.iommu_group(device['name'])
        copy = dict(device)
        copy['group_devices'] = model.group_devices(group) if group is not None else []
        copy['group_endpoints'] = model.group_endpoints_in(group)
        result.append(copy)
    return result


def _names(found, expression):
    if found is None:
        return []
    items = found if isinstance(found, list) else [found]
    names = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get('name'), str):
            names.append(item['name'])
        elif isinstance(item, str):
            names.append(item)
        else:
            raise AnsibleFilterError(
                'hostdev_select: the expression %r must yield devices or device names, not %s'
                % (expression, type(item).__name__))
    return sorted(set(names))


def hostdev_select(devices, expression):
    if jmespath is None:
        raise AnsibleFilterError('hostdev_select needs the jmespath Python library on the controller '
                                 '(pip install jmespath)')
    device_list(devices, 'hostdev_select')
    if not isinstance(expression, str) or not expression.strip():
        raise AnsibleFilterError('hostdev_select needs a JMESPath expression (a non-empty string)')
    try:
        found = jmespath.search(expression, with_groups(plain(devices)))
    except jmespath.exceptions.JMESPathError as error:
        raise AnsibleFilterError('hostdev_select: invalid JMESPath expression %r: %s'
                                 % (expression, to_native(error)))
    return _names(found, expression)


class FilterModule:
    def filters(self):
        return {'hostdev_select': hostdev_select}
