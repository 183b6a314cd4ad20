# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the mediated devices of one type on a host, as a pool. No I/O happens here.

domain_hostdev's ``pool: {mdev_type: T, parent: P}`` and a device mapping's ``mdev_type`` entry both
name "the mdevs of type T (on parent P)": ``MdevPool`` finds them, says where the type is offered,
and why the pool is empty. Which of them are free for a domain is the assignment's question
(assigning.pools.choose).
"""

from typing import List, NamedTuple, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import mdev_of, mdevs_of, parent_types
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
    parse_pci_address,
    pci_name,
)


class MdevPool(NamedTuple):
    """The mdevs of mdev_type (on parent) on one host."""

    mdev_type: str
    parent: Optional[str]        # the parent's node device name, as asked (None: any parent)
    parent_found: bool           # whether the host has that parent (True without a parent)
    offered_by: List[str]        # node device names of the parents offering the type
    members: List[str]           # node device names of the mdevs of the type, sorted by (parent, UUID)

    def missing(self) -> Optional[str]:
        """Why the host has no mdev of the type and no parent to make one, or None."""
        if not self.parent_found:
            return 'the host has no mdev parent %s' % self.parent
        if self.members or self.offered_by:
            return None
        return 'no mdev parent %s offers type %s and no mdev of it is defined' % (
            self.parent or 'on the host', self.mdev_type)


def parent_node(parent: str) -> str:
    """A parent's node device name: a PCI address (0000:00:02.0, 00:02.0) becomes pci_0000_00_02_0."""
    address = parse_pci_address(parent.strip())
    return pci_name(*address) if address is not None else parent.strip()


def mdev_pool(model: HostModel, mdev_type: str, parent: Optional[str] = None) -> MdevPool:
    """The mdevs of mdev_type on the host (on parent, a node device name or PCI address, when given)."""
    node = parent_node(parent) if parent else None
    if node is not None and node not in model:
        return MdevPool(mdev_type, node, False, [], [])
    records = [model.device(name) for name in model.names()]
    parents = [model.device(node)] if node is not None else records
    offered = sorted(record['name'] for record in parents
                     if any(item.get('type') == mdev_type for item in parent_types(record) or ()))
    candidates = mdevs_of(records, parents[0]) if node is not None else records
    members = sorted((record for record in candidates if mdev_of(record).get('type') == mdev_type),
                     key=lambda record: (record.get('parent') or '', mdev_of(record).get('uuid') or ''))
    return MdevPool(mdev_type, node, True, offered, [record['name'] for record in members])
