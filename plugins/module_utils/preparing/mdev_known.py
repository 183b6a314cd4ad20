# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: what this machine's files say of the mdevs of a set (mdevs module), before anything is planned.

A reader (libvirt's driver, say) may not tell an mdev's active, persistent or autostart state:
``known_states`` finds them out from /sys/bus/mdev/devices and mdevctl's definitions
(reading.mdev_definitions). ``filed_unknown`` refuses to make anew an mdev that mdevctl may well
have defined already: its file there but not understood, or in a directory that cannot be listed.
What stays unknown is never guessed: the plan refuses what depends on it (mdev_state_unknown).
"""

import os
from typing import Dict, List

from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import STATE_KEYS, mdev_of, state_of
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import mdev_name
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import Problem, problem
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.mdev_plan import MdevPlan
from ansible_collections.virt.hostdev.plugins.module_utils.reading.mdev_definitions import (
    DEFINITIONS_DIRECTORY,
    definition_states,
    read_definitions,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree


def known_states(model: HostModel, tree: SysfsTree, mdevctl: bool) -> Dict[str, Dict[str, bool]]:
    """{uuid: states} of the mdevs whose reader could not tell a state, found out on this machine: active from
    /sys/bus/mdev/devices/<uuid>, persistent and autostart from mdevctl's definitions (read only when needed).
    Without /etc/mdevctl.d they stay unknown where mdevctl is installed; without mdevctl too, nothing defined
    any (libvirt defines through mdevctl), so none is persistent. What stays unknown, the plan refuses to act on."""
    unknown = [mdev_of(model.device(name)) for name in model.names()
               if mdev_of(model.device(name)) and any(state_of(model.device(name), key) is None for key in STATE_KEYS)]
    definitions = read_definitions(tree) if unknown else None
    known: Dict[str, Dict[str, bool]] = {}
    for mdev in unknown:
        uuid = str(mdev.get('uuid'))
        known[uuid] = {'active': os.path.lexists(tree.path('bus', 'mdev', 'devices', uuid))}
        if definitions is None and not mdevctl:
            known[uuid].update(persistent=False, autostart=False)
        else:  # a definition file not understood, or not listed, leaves them unknown
            persistent, autostart = definition_states(definitions, uuid, mdev.get('parent_address'))
            known[uuid].update((key, value) for key, value in (('persistent', persistent), ('autostart', autostart))
                               if value is not None)
    return known


def filed_unknown(model: HostModel, plan: MdevPlan, tree: SysfsTree) -> List[Problem]:
    """mdev_state_unknown for each mdev the plan makes anew (no reader lists it) that may well be defined: its mdevctl
    file is there but not understood (an mdevctl define cut short leaves one empty), or a directory of mdevctl's that
    may hold it (a UUID may be defined under any parent) cannot be listed. Defining or creating it would guess."""
    listed = set(mdev_of(model.device(name)).get('uuid') for name in model.names())
    new = dict((action.uuid, action.parent_address) for action in plan.actions
               if action.action in ('define', 'create') and action.uuid not in listed)
    definitions = read_definitions(tree) if new else None
    if definitions is None:
        return []
    problems = []
    for uuid in sorted(new):
        if uuid in definitions and not definitions[uuid].understood:
            parent = definitions[uuid].parent_address
            why = ('its file %s/%s/%s is not an mdevctl definition this run understands (an mdevctl define cut short?)'
                   % (DEFINITIONS_DIRECTORY, parent, uuid), 'repair or remove that file')
        elif uuid in definitions or definitions.listed():
            continue
        else:
            parent = new[uuid] or 'unknown'
            why = ('%s cannot be listed, and its mdevctl definition may be there' % ', '.join(
                definitions.unlisted_paths()), 'make that a directory root can list (mdevctl keeps one per parent)')
        problems.append(problem('mdev_state_unknown', mdev_name(uuid, parent), (
            'whether mediated device %s is persistent could not be read: %s, so this run cannot define or create it '
            'without guessing; nothing was planned for it: check it with mdevctl list --defined, then %s')
            % ((uuid,) + why)))
    return problems
