# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: mdevctl's persistent mdev definitions of a host, read from its files without mdevctl.

mdevctl keeps one JSON file per defined mdev, ``/etc/mdevctl.d/<parent>/<uuid>`` (parent: the
sysfs name, ``mtty`` or ``0000:00:02.0``), with ``mdev_type`` and ``start`` (``auto`` or
``manual``). They are read under the run's root as every other host file (SysfsTree.host_file).
Without the directory at all, nothing is known of persistence (None); with it, an mdev without a
file is not persistent, and one whose file is there but cannot be understood is of unknown
persistence (``definition_states``): mdevctl has a file for it, so it is not "not defined".
"""

import json
import os
from typing import Any, Dict, NamedTuple, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.model.records import normalize_uuid
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

DEFINITIONS_DIRECTORY = 'etc/mdevctl.d'


class Definition(NamedTuple):
    """One mdevctl definition: its UUID, its parent's sysfs name, its type id, started at boot (type and
    autostart None: a file of that UUID that could not be understood)."""
    uuid: str
    parent_address: str
    type: Optional[str]
    autostart: Optional[bool]

    @property
    def understood(self) -> bool:
        return self.type is not None


def read_definitions(tree: SysfsTree) -> Optional[Dict[str, Definition]]:
    """{uuid: Definition} of every definition file, or None without mdevctl's directory.

    A file that is not a definition (junk JSON, no mdev_type) is a Definition not understood, with a
    warning in tree.warnings; entries that are not UUIDs (mdevctl's scripts.d) are not definitions.
    """
    root = tree.host_file(DEFINITIONS_DIRECTORY)
    if not os.path.isdir(root):
        return None
    found: Dict[str, Definition] = {}
    for parent in tree.listdir(root):
        directory = os.path.join(root, parent)
        if not os.path.isdir(directory):
            continue
        for entry in tree.listdir(directory):
            uuid = normalize_uuid(entry)
            path = os.path.join(directory, entry)
            if uuid is None or not os.path.isfile(path):
                continue
            definition = _definition(tree.read(path), uuid, parent)
            if isinstance(definition, str):
                tree.warnings.append('mdevctl definition %s/%s/%s %s; whether mdev %s is persistent, and its '
                                     'autostart, are unknown' % (DEFINITIONS_DIRECTORY, parent, entry, definition, uuid))
                definition = Definition(uuid, parent, None, None)
            if uuid in found:
                tree.warnings.append('mdev %s is defined under two parents (%s, %s) in %s; the first is kept'
                                     % (uuid, found[uuid].parent_address, parent, DEFINITIONS_DIRECTORY))
            else:
                found[uuid] = definition
    return found


def _definition(text: Optional[str], uuid: str, parent: str) -> Any:
    """A Definition, or the words of why the text is none."""
    if text is None:
        return 'cannot be read'
    try:
        values = json.loads(text)
    except ValueError as error:
        return 'is not JSON (%s)' % error
    if not isinstance(values, dict) or not isinstance(values.get('mdev_type'), str) or not values['mdev_type']:
        return 'has no mdev_type'
    return Definition(uuid, parent, values['mdev_type'], values.get('start') == 'auto')


def definition_states(definitions: Optional[Dict[str, Definition]], uuid: str) -> Tuple[Optional[bool], Optional[bool]]:
    """(persistent, autostart) of an mdev by mdevctl's definitions: None for what they cannot tell (no
    mdevctl directory, or a file of the UUID not understood)."""
    if definitions is None:
        return None, None
    definition = definitions.get(uuid)
    if definition is None:
        return False, False
    if not definition.understood:
        return None, None
    return True, bool(definition.autostart)
