# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: mdevctl's persistent mdev definitions of a host, read from its files without mdevctl.

mdevctl keeps one JSON file per defined mdev, ``/etc/mdevctl.d/<parent>/<uuid>`` (parent: the
sysfs name, ``mtty`` or ``0000:00:02.0``), with ``mdev_type`` and ``start`` (``auto`` or
``manual``). They are read under the run's root as every other host file (SysfsTree.host_file).
Without the directory at all, nothing is known of persistence (None); with it, an mdev without a
file is not persistent, and one whose file is there but cannot be understood, or whose file may be in a
directory that cannot be listed, is of unknown persistence (``definition_states``): mdevctl may have a
file for it, so it is not "not defined".
"""

import json
import os
import stat
from typing import Any, Dict, List, NamedTuple, Optional, Set, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.model.records import normalize_uuid
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

DEFINITIONS_DIRECTORY = 'etc/mdevctl.d'

# A definition is a few hundred bytes of JSON: a file larger than this is none (and is not read whole).
MAX_DEFINITION_BYTES = 65536


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


class Definitions(Dict[str, Definition]):
    """{uuid: Definition} of every definition file read, and what could not be listed: the parents whose
    directory could not be (unlisted_parents), or mdevctl's directory itself (none_listed). A definition
    may be in what was not listed, so no mdev there is known not to be persistent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unlisted_parents: Set[str] = set()
        self.none_listed = False

    def listed(self, parent: Optional[str] = None) -> bool:
        """Whether every definition of the mdevs of parent (a sysfs name; None: any parent) was listed."""
        if self.none_listed:
            return False
        return not self.unlisted_parents if parent is None else parent not in self.unlisted_parents

    def unlisted_paths(self) -> List[str]:
        """The directories that could not be listed, as warnings name them."""
        if self.none_listed:
            return [DEFINITIONS_DIRECTORY]
        return ['%s/%s' % (DEFINITIONS_DIRECTORY, parent) for parent in sorted(self.unlisted_parents)]


def read_definitions(tree: SysfsTree) -> Optional[Definitions]:
    """The Definitions of mdevctl's directory, or None without it.

    A file that is not a definition (junk JSON, no mdev_type, a directory, a FIFO, more than
    MAX_DEFINITION_BYTES) is a Definition not understood, and a directory that cannot be listed (mdevctl's
    own with a file in its place, a link to nothing, no permission) is unlisted, each with a warning in
    tree.warnings; entries that are not UUIDs (mdevctl's scripts.d) are not definitions, and a regular file
    beside the parents' directories holds none.
    """
    root = tree.host_file(DEFINITIONS_DIRECTORY)
    if not os.path.lexists(root):
        return None
    found = Definitions()
    parents = _listing(tree, root, DEFINITIONS_DIRECTORY, 'any mdev is')
    if parents is None:
        found.none_listed = True
        return found
    for parent in parents:
        directory = os.path.join(root, parent)
        if os.path.isfile(directory):  # a stray file (a note, a backup) holds no definition
            continue
        entries = _listing(tree, directory, '%s/%s' % (DEFINITIONS_DIRECTORY, parent), 'an mdev of parent %s is' % parent)
        if entries is None:
            found.unlisted_parents.add(parent)
            continue
        for entry in entries:
            uuid = normalize_uuid(entry)
            if uuid is None:
                continue
            definition = _definition(tree, os.path.join(directory, entry), uuid, parent)
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


def _listing(tree: SysfsTree, path: str, shown: str, which: str) -> Optional[List[str]]:
    """The sorted entries of a directory, or None with a warning naming it (shown) when it cannot be listed."""
    try:
        return sorted(os.listdir(path))
    except OSError as error:
        tree.warnings.append('%s cannot be listed (%s): whether %s persistent, and its autostart, are unknown'
                             % (shown, error.strerror, which))
        return None


def _definition(tree: SysfsTree, path: str, uuid: str, parent: str) -> Any:
    """A Definition, or the words of why the file at path is none."""
    try:
        status = os.stat(path)
    except OSError as error:
        return 'cannot be read (%s)' % error.strerror
    if stat.S_ISDIR(status.st_mode):
        return 'is a directory'
    if not stat.S_ISREG(status.st_mode):
        return 'is not a regular file'
    if status.st_size > MAX_DEFINITION_BYTES:
        return 'is larger than %d KiB (%d bytes), more than any definition' % (MAX_DEFINITION_BYTES // 1024,
                                                                               status.st_size)
    text = tree.read(path, MAX_DEFINITION_BYTES)
    if text is None:
        return 'cannot be read'
    try:
        values = json.loads(text)
    except ValueError as error:
        return 'is not JSON (%s)' % error
    if not isinstance(values, dict) or not isinstance(values.get('mdev_type'), str) or not values['mdev_type']:
        return 'has no mdev_type'
    return Definition(uuid, parent, values['mdev_type'], values.get('start') == 'auto')


def definition_states(definitions: Optional[Definitions], uuid: str,
                      parent: Optional[str] = None) -> Tuple[Optional[bool], Optional[bool]]:
    """(persistent, autostart) of an mdev (of parent, a sysfs name; None: unknown) by mdevctl's definitions:
    None for what they cannot tell (no mdevctl directory, a file of the UUID not understood, or a directory
    its file may be in that could not be listed)."""
    if definitions is None:
        return None, None
    definition = definitions.get(uuid)
    if definition is not None:
        return (True, bool(definition.autostart)) if definition.understood else (None, None)
    if not definitions.listed(parent):
        return None, None
    return False, False
