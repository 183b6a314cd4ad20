# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: which vendor's IOMMU a host has (intel or amd), for the argument that turns it on.

``detect_vendor()`` asks, in this order, the firmware's ACPI tables, the running IOMMU's units and
the CPU, through ``HostFiles`` (paths under its root); the ``vendor_from_*`` functions read one
source's names or text and do no I/O.
"""

import re
from typing import List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.host_files import HostFiles

# /proc/cpuinfo vendor_id -> vendor (Hygon's Dhyana CPUs carry AMD's IOMMU).
CPU_VENDORS = {'GenuineIntel': 'intel', 'AuthenticAMD': 'amd', 'HygonGenuine': 'amd'}
# The ACPI table the firmware describes each vendor's IOMMU with (/sys/firmware/acpi/tables):
# the DMA remapping table of Intel VT-d, the I/O virtualization reporting structure of AMD-Vi.
ACPI_IOMMU_TABLES = {'DMAR': 'intel', 'IVRS': 'amd'}
# The names the running kernel gives each vendor's IOMMU units in /sys/class/iommu.
IOMMU_UNIT_PREFIXES = {'dmar': 'intel', 'ivhd': 'amd'}
# Where the vendor of the IOMMU is read, in this order.
ACPI_TABLES = '/sys/firmware/acpi/tables'
IOMMU_UNITS = '/sys/class/iommu'
CPUINFO = '/proc/cpuinfo'


def vendor_from_acpi_tables(names: List[str]) -> Optional[str]:
    """intel or amd from the names of the ACPI tables (/sys/firmware/acpi/tables) when they describe
    exactly one vendor's IOMMU; None otherwise (no such table, or both).

    The table says which IOMMU the platform has, whatever the CPU: a virtual machine with a
    virtual Intel IOMMU may run on an AMD CPU (QEMU's default TCG CPU says AuthenticAMD).
    """
    found = set(ACPI_IOMMU_TABLES[name] for name in names if name in ACPI_IOMMU_TABLES)
    return found.pop() if len(found) == 1 else None


def vendor_from_iommu_units(names: List[str]) -> Optional[str]:
    """intel or amd from the names of the running IOMMU units (/sys/class/iommu: dmar0, ivhd0) when
    they are all one vendor's; None otherwise (the IOMMU is off, or another kind such as an SMMU)."""
    found = set(vendor for name in names for prefix, vendor in IOMMU_UNIT_PREFIXES.items()
                if name.startswith(prefix))
    return found.pop() if len(found) == 1 else None


def vendor_from_cpuinfo(text: Optional[str]) -> Optional[str]:
    """intel or amd from the first vendor_id of /proc/cpuinfo; None when unknown (ARM, no file)."""
    match = re.search(r'^vendor_id\s*:\s*(\S+)', text or '', re.M)
    return CPU_VENDORS.get(match.group(1)) if match else None


def detect_vendor(files: HostFiles) -> Tuple[Optional[str], List[str]]:
    """(intel, amd or None; when None, what each source said). The IOMMU the firmware describes (its
    ACPI table), else the running IOMMU's units, else the CPU's vendor: a virtual machine's virtual
    IOMMU need not match its CPU."""
    said = []
    for path, vendor_from, missing in (
            (ACPI_TABLES, vendor_from_acpi_tables, 'no DMAR or IVRS table (or both) in %s' % ACPI_TABLES),
            (IOMMU_UNITS, vendor_from_iommu_units, 'no dmar* or ivhd* unit in %s (the IOMMU is off)' % IOMMU_UNITS)):
        if not files.exists(path):
            said.append('%s is missing' % path)
            continue
        vendor = vendor_from(files.listdir(path))
        if vendor:
            return vendor, []
        said.append(missing)
    cpuinfo = files.read(CPUINFO)
    vendor = vendor_from_cpuinfo(cpuinfo)
    if vendor:
        return vendor, []
    said.append('%s is missing' % CPUINFO if cpuinfo is None
                else 'the CPU vendor in %s is neither Intel nor AMD' % CPUINFO)
    return None, said
