# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the hosts' facts as the fleet report takes them. No I/O.

- ``intake(facts)``: what a host's value is: no facts, unreadable facts (and what is wrong with
  them: one malformed host must not stop the report of a fleet), facts that list devices (full or
  compact), or summary facts.
- ``wanted_ids()`` and ``named()``: the PCI ids whose names the facts lack (compact facts carry
  ids only, a host without pci.ids none), and the facts with the names the controller found for them.
- ``identity()``: what makes two hosts identical for the report (the same devices in the same
  state, the same IOMMU), so that they share one section.
"""

import json
from collections.abc import Mapping
from typing import Any, Callable, Iterable, List, Optional, Set, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, described
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import is_summary
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import CAPABILITY_KEYS, normalize_hex_id
from ansible_collections.virt.hostdev.plugins.module_utils.model.vf_table import listed_devices

# What a host's value is.
NONE, UNREADABLE, DEVICES, SUMMARY = 'none', 'unreadable', 'devices', 'summary'

# {(vendor id, product id): (vendor name, product name)}, ids as '10de' (lower case, four digits).
Ids = Tuple[str, str]
Names = Mapping[Ids, Tuple[Optional[str], Optional[str]]]
NameSource = Callable[[Set[Ids]], Names]

# The types the report relies on, by key: a value of another type makes the host's facts unreadable.
_STR, _INT, _BOOL, _LIST, _DICT, _NULL = (str,), (int,), (bool,), (list,), (Mapping,), (type(None),)
FACTS_TYPES = {'source': _STR + _NULL, 'iommu': _DICT + _NULL, 'iommu_groups': _LIST + _NULL}
IOMMU_TYPES = {'enabled': _BOOL + _NULL, 'groups': _INT + _NULL, 'units': _LIST + _NULL, 'hint': _STR + _NULL,
               'kernel_args': _DICT + _NULL, 'interrupt_remapping': _BOOL + _NULL, 'acs_override': _BOOL + _NULL}
DEVICE_TYPES = dict({'name': _STR, 'type': _STR + _NULL, 'parent': _STR + _NULL, 'driver': _STR + _NULL,
                     'iommu_group': _INT + _NULL, 'assigned_to': _LIST + _NULL, 'assignable': _BOOL + _NULL,
                     'blockers': _LIST + _NULL, 'passthrough': _DICT + _NULL},
                    **dict((key, _DICT + _NULL) for key in CAPABILITY_KEYS))
PCI_TYPES = dict(dict((key, _STR + _NULL) for key in ('address', 'class', 'vendor_id', 'product_id', 'vendor', 'product')),
                 boot_vga=_BOOL + _NULL)
KIND_TYPES = {'total': _INT, 'assignable': _INT, 'held': _INT + _NULL, 'blockers': _DICT, 'models': _LIST}
MODEL_TYPES = {'ids': _STR + _NULL, 'name': _STR + _NULL, 'total': _INT, 'assignable': _INT, 'blockers': _DICT}
# The words of a type, for what a value should have been (errors.described says what it is).
_TYPE_WORDS = ((bool, 'a boolean'), (int, 'a number'), (str, 'a string'), (list, 'a list'), (Mapping, 'a dict'),
               (type(None), 'null'))
_PROBLEMS_SHOWN = 3


def _wrong(where: str, value: Any, types: Tuple[type, ...]) -> Optional[str]:
    # bool is an int to Python, never to the facts
    if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
        return None
    return '%s is %s, not %s' % (where, described(value), ' or '.join(
        words for kind, words in _TYPE_WORDS if kind in types))


def _checked(prefix: str, values: Mapping, types: Mapping[str, Tuple[type, ...]]) -> List[str]:
    """The values of the keys of types that have another type, named prefix + key."""
    return [problem for problem in (_wrong(prefix + key, values[key], types[key]) for key in types if key in values)
            if problem]


def _device_problems(index: int, device: Any) -> List[str]:
    if not isinstance(device, Mapping):
        return ['devices[%d] is %s, not a dict' % (index, described(device))]
    name = device.get('name')
    where = 'device %s' % name if isinstance(name, str) else 'devices[%d]' % index
    if 'name' not in device:
        return ['%s has no name' % where]
    problems = _checked(where + ': ', device, DEVICE_TYPES)
    if not problems and isinstance(device.get('pci'), Mapping):
        problems = _checked(where + ': pci.', device['pci'], PCI_TYPES)
    for key in ('assigned_to', 'blockers'):
        if not problems and isinstance(device.get(key), list) and not all(isinstance(item, str) for item in device[key]):
            problems.append('%s: %s has an item that is not a string' % (where, key))
    return problems


def _summary_problems(kinds: Mapping) -> List[str]:
    problems = []
    for kind, entry in kinds.items():
        if not isinstance(entry, Mapping):
            problems.append('kinds.%s is %s, not a dict' % (kind, described(entry)))
            continue
        problems += _checked('kinds.%s.' % kind, entry, KIND_TYPES)
        models = entry.get('models')
        for index, model in enumerate(models if isinstance(models, list) else []):
            if not isinstance(model, Mapping):
                problems.append('kinds.%s.models[%d] is %s, not a dict' % (kind, index, described(model)))
            else:
                problems += _checked('kinds.%s.models[%d].' % (kind, index), model, MODEL_TYPES)
    return problems


def facts_problems(facts: Mapping) -> List[str]:
    """What makes a host's facts unreadable for the report, in the user's terms; [] when nothing does."""
    problems = _checked('', facts, FACTS_TYPES)
    if isinstance(facts.get('iommu'), Mapping):
        problems += _checked('iommu.', facts['iommu'], IOMMU_TYPES)
    if is_summary(facts):
        return problems + _summary_problems(facts['kinds'])
    if not isinstance(facts.get('devices'), list):
        return problems + ['devices is %s, not a list' % described(facts.get('devices'))]
    for index, device in enumerate(facts['devices']):
        problems += _device_problems(index, device)
        if len(problems) > _PROBLEMS_SHOWN:
            break
    return problems


def intake(facts: Any) -> Tuple[str, Any]:
    """(what it is, its facts or what is wrong) of a host's value: (NONE, None), (UNREADABLE, message),
    (DEVICES, facts) or (SUMMARY, facts). A value that is not a dict, or an empty one, is no facts; a dict
    that is neither facts that list devices nor summary facts, or whose values have the wrong types, is
    unreadable."""
    if not isinstance(facts, Mapping) or not facts:
        return NONE, None
    if not is_summary(facts) and 'devices' not in facts:
        return UNREADABLE, 'neither a device list nor summary facts (keys: %s)' % ', '.join(sorted(map(str, facts)))
    if not is_summary(facts) and isinstance(facts.get('devices'), list):
        try:  # compact facts' VF rows are devices the report lists (a copy: the facts are not changed)
            facts = dict(facts, devices=listed_devices(facts['devices']))
        except HostdevError as error:
            return UNREADABLE, error.message
    problems = facts_problems(facts)
    if problems:
        more = len(problems) - _PROBLEMS_SHOWN
        return UNREADABLE, '; '.join(problems[:_PROBLEMS_SHOWN]) + ('; and more' if more > 0 else '')
    return (SUMMARY if is_summary(facts) else DEVICES), facts


# -- names from the controller ---------------------------------------------------------


def _ids(vendor_id: Any, product_id: Any) -> Optional[Ids]:
    vendor, product = normalize_hex_id(vendor_id), normalize_hex_id(product_id)
    if vendor is None or product is None or len(vendor) != 6 or len(product) != 6:
        return None
    return vendor[2:], product[2:]


def _model_ids(model: Mapping) -> Optional[Ids]:
    ids = model.get('ids')
    return _ids(*ids.split(':', 1)) if isinstance(ids, str) and ':' in ids else None


def wanted_ids(kind: str, facts: Any) -> Iterable[Ids]:
    """The ids of the PCI devices (or summary models) of a host's facts that have no names."""
    if kind == DEVICES:
        for device in facts['devices']:
            pci = device.get('pci')
            if device.get('type') == 'pci' and isinstance(pci, Mapping) and not (pci.get('vendor') and pci.get('product')):
                ids = _ids(pci.get('vendor_id'), pci.get('product_id'))
                if ids:
                    yield ids
    elif kind == SUMMARY:
        for entry in facts['kinds'].values():
            for model in entry['models']:
                ids = _model_ids(model) if not model.get('name') else None
                if ids:
                    yield ids


def named(kind: str, facts: Any, names: Names) -> Any:
    """The facts with the names found for their ids where they had none (copies; the facts are not changed)."""
    if not names or kind not in (DEVICES, SUMMARY):
        return facts
    if kind == SUMMARY:
        kinds = dict((key, dict(entry, models=[_named_model(model, names) for model in entry['models']]))
                     for key, entry in facts['kinds'].items())
        return dict(facts, kinds=kinds)
    return dict(facts, devices=[_named_device(device, names) for device in facts['devices']])


def _named_device(device: Mapping, names: Names) -> Mapping:
    pci = device.get('pci')
    if device.get('type') != 'pci' or not isinstance(pci, Mapping):
        return device
    found = names.get(_ids(pci.get('vendor_id'), pci.get('product_id')) or ('', ''))
    if not found:
        return device
    filled = dict(pci)
    for key, name in zip(('vendor', 'product'), found):
        if not filled.get(key) and name:
            filled[key] = name
    return dict(device, pci=filled)


def _named_model(model: Mapping, names: Names) -> Mapping:
    found = names.get(_model_ids(model) or ('', '')) if not model.get('name') else None
    name = ' '.join(part for part in found or () if part)
    return dict(model, name=name) if name else model


# -- identical hosts -------------------------------------------------------------------


def identity(kind: str, facts: Any) -> str:
    """What two hosts must share to be shown as one: the form of their facts, and for facts the IOMMU
    state with every device and its state (summary facts: the counts). Domain definitions that hold
    nothing, and the lists derived from the devices, do not count."""
    if kind in (NONE, UNREADABLE):
        return json.dumps([kind, facts])
    keys = ('source', 'iommu', 'kinds') if kind == SUMMARY else ('source', 'iommu', 'devices', 'iommu_groups')
    return json.dumps([kind] + [facts.get(key) for key in keys], sort_keys=True, default=str)
