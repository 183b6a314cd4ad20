# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the host's IOMMU posture, read from sysfs and /proc."""

import os
import re
from typing import Any, Dict, Optional, Union

from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

# Kernel command line parameters that shape IOMMU and VFIO behaviour.
IOMMU_ARG_PREFIXES = (
    'intel_iommu', 'amd_iommu', 'iommu', 'iommu.', 'intremap', 'pcie_acs_override',
    'vfio-pci.', 'vfio_pci.', 'vfio_iommu_type1.', 'vfio.', 'rd.driver.pre',
)


def parse_kernel_args(cmdline: Optional[str]) -> Dict[str, Union[str, bool]]:
    """The IOMMU-related parameters of a kernel command line as {name: value or True}."""
    args: Dict[str, Union[str, bool]] = {}
    for token in (cmdline or '').split():
        name, sep, value = token.partition('=')
        if any(name == prefix or (prefix.endswith('.') and name.startswith(prefix))
               for prefix in IOMMU_ARG_PREFIXES):
            args[name] = value if sep else True
    return args


def interrupt_remapping_from(interrupts_text: Optional[str]) -> Optional[bool]:
    """True when /proc/interrupts routes interrupts through a remapping domain (IR-*)."""
    if interrupts_text is None:
        return None
    return bool(re.search(r'\bIR-', interrupts_text))


def read_iommu_state(tree: SysfsTree) -> Dict[str, Any]:
    """The host's IOMMU posture: on or off, groups, kernel arguments, remapping."""
    iommu_units = tree.listdir(tree.path('class', 'iommu'))
    # An mdev of an emulated IOMMU (mtty, mdpy) gets a group of its own, IOMMU on or off: not the IOMMU's.
    mdev_root = tree.path('bus', 'mdev', 'devices')
    mdev_groups = set(tree.link_name(os.path.join(mdev_root, entry, 'iommu_group')) for entry in tree.listdir(mdev_root))
    groups = [entry for entry in tree.listdir(tree.path('kernel', 'iommu_groups'))
              if entry.isdigit() and entry not in mdev_groups]
    enabled = bool(iommu_units or groups)
    kernel_args = parse_kernel_args(tree.read(tree.host_file('proc/cmdline')))
    remapping = interrupt_remapping_from(tree.read(tree.host_file('proc/interrupts')))
    if remapping is False and not enabled:
        remapping = None
    unsafe = tree.read(tree.path('module', 'vfio_iommu_type1', 'parameters', 'allow_unsafe_interrupts'))
    return {
        'enabled': enabled,
        'groups': len(groups),
        'units': iommu_units,
        'kernel_args': kernel_args,
        'interrupt_remapping': remapping,
        'unsafe_interrupts': None if unsafe is None else unsafe in ('Y', '1'),
        'acs_override': 'pcie_acs_override' in kernel_args,
    }
