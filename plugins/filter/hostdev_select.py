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
  - The expression may nest brackets (C([]), C(()), C({})) at most 32 deep and hold at most 150 operators
    and brackets (C(||), C(&&), C(|), C(!), comparisons, brackets); a bigger one is refused with a message
    saying so, since the JMESPath library would exhaust Python's recursion. A list of alternatives is
    C(contains(['pci_0000_01_00_0', 'pci_0000_02_00_0'], name)).
  - The devices of compact facts (O(virt.hostdev.hostdev_facts#module:facts=compact)) have fewer keys and no
    bridges, so there C(group_devices) name no bridges and an expression on a key they lack (such as
    C(passthrough.eligible)) selects nothing. C(!contains(blockers, 'not_eligible')) and C(assignable) select
    on both forms. The VFs compact facts give as rows of their PF's C(pci.sriov.vfs) table are searched as
    devices of their own, with C(pci.sriov.physical_function), C(vf_index) and C(link), as in full facts.
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

from ansible_collections.virt.hostdev.plugins.module_utils.errors import described, shown
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import model_of_facts
from ansible_collections.virt.hostdev.plugins.module_utils.model.vf_table import listed_devices
from ansible_collections.virt.hostdev.plugins.plugin_utils.facts_query import device_list, plain

try:
    import jmespath
except ImportError:
    jmespath = None

# jmespath parses and evaluates recursively, a few Python frames per bracket level and per operator of
# a chain: 500 alternatives or 500 nested parentheses exhaust Python's recursion limit. These bounds keep
# far below it (with Ansible's own frames on the stack) and far above any selection a playbook writes.
MAX_DEPTH = 32
MAX_OPERATORS = 150
# Inside these quotes, nothing is an operator: raw strings, quoted identifiers, JSON literals.
_QUOTES = ("'", '"', '`')
_OPERATORS = ('||', '&&', '==', '!=', '<=', '>=', '|', '!', '<', '>')


def expression_size(expression):
    """(deepest nesting of brackets, number of operators and brackets) of a JMESPath expression."""
    depth = deepest = count = 0
    index, length = 0, len(expression)
    while index < length:
        char = expression[index]
        if char in _QUOTES:
            index += 1
            while index < length and expression[index] != char:
                index += 2 if expression[index] == '\\' else 1
        elif char in '([{':
            depth += 1
            count += 1
            deepest = max(deepest, depth)
        elif char in ')]}':
            depth -= 1
        else:
            operator = next((op for op in _OPERATORS if expression.startswith(op, index)), None)
            if operator:
                count += 1
                index += len(operator) - 1
        index += 1
    return deepest, count


def _checked(expression):
    """The expression, refused with a clear message when it is no string or too big to evaluate."""
    if not isinstance(expression, str) or not expression.strip():
        raise AnsibleFilterError('hostdev_select needs a JMESPath expression (a non-empty string), not %s'
                                 % described(expression))
    deepest, count = expression_size(expression)
    if deepest > MAX_DEPTH:
        raise AnsibleFilterError(
            'hostdev_select: the expression %s nests brackets %d deep, more than the %d it may: simplify it'
            % (shown(expression), deepest, MAX_DEPTH))
    if count > MAX_OPERATORS:
        raise AnsibleFilterError(
            'hostdev_select: the expression %s has %d operators and brackets, more than the %d it may: '
            "simplify it (a list of alternatives is contains(['pci_0000_01_00_0', 'pci_0000_02_00_0'], name))"
            % (shown(expression), count, MAX_OPERATORS))
    return expression


def with_groups(devices):
    """Copies of the devices with group_devices and group_endpoints added.

    The VFs of compact facts' tables (a PF's pci.sriov.vfs) are selected as devices of their own,
    with the keys they had as compact devices. Facts devices are valid device records, so the model
    answers: group_devices are
    the kernel's members of the device's own or inherited group (its iommu_group
    key), group_endpoints those of them that are not bridges.
    """
    model = model_of_facts(devices)
    result = []
    for device in listed_devices(devices):  # compact facts' VF rows are devices of their own here
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
                % (expression, described(item)))
    return sorted(set(names))


def hostdev_select(devices, expression):
    if jmespath is None:
        raise AnsibleFilterError('hostdev_select needs the jmespath Python library on the controller '
                                 '(pip install jmespath)')
    device_list(devices, 'hostdev_select')
    expression = _checked(expression)
    try:
        found = jmespath.search(expression, with_groups(plain(devices)))
    except jmespath.exceptions.JMESPathError as error:
        raise AnsibleFilterError('hostdev_select: invalid JMESPath expression %r: %s'
                                 % (expression, to_native(error)))
    except RecursionError:  # the bounds above should make this unreachable: still a message, not a traceback
        raise AnsibleFilterError('hostdev_select: the expression %s is too deeply nested to evaluate: simplify it'
                                 % shown(expression))
    return _names(found, expression)


class FilterModule:
    def filters(self):
        return {'hostdev_select': hostdev_select}
