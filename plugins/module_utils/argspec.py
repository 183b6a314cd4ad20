# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: argument-spec pieces shared by the modules. No I/O happens here.

Each piece has its documentation in a doc fragment of the same name
(plugins/doc_fragments/host_source.py for host_source_argument_spec): change
both together.
"""

from typing import Any, Dict

from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import SOURCES
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import DEFAULT_TIMEOUT


def host_source_argument_spec() -> Dict[str, Dict[str, Any]]:
    """The connection and reader options (uri, source, sysfs_root, timeout), as a fresh dict.

    Fresh on every call, so a module may extend or change it without touching
    another module's spec: argument_spec=dict(host_source_argument_spec(), ...).
    """
    return dict(
        uri=dict(type='str', default='qemu:///system'),
        source=dict(type='str', default='auto', choices=list(SOURCES)),
        sysfs_root=dict(type='path'),
        timeout=dict(type='int', default=DEFAULT_TIMEOUT),
    )
