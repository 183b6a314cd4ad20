"""The IOMMU's vendor: from the firmware's ACPI tables, the running IOMMU's units, the CPU."""

import os

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.host_files import HostFiles
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.iommu_vendor import (
    detect_vendor,
    vendor_from_acpi_tables,
    vendor_from_cpuinfo,
    vendor_from_iommu_units,
)

from support.fake_host import write


@pytest.mark.parametrize('text, vendor', [
    ('processor\t: 0\nvendor_id\t: GenuineIntel\n', 'intel'),
    ('processor\t: 0\nvendor_id\t: AuthenticAMD\n', 'amd'),
    ('vendor_id : HygonGenuine\n', 'amd'),
    ('processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n', None),
    (None, None),
])
def test_vendor_from_cpuinfo(text, vendor):
    assert vendor_from_cpuinfo(text) == vendor


@pytest.mark.parametrize('names, vendor', [
    (['APIC', 'DMAR', 'FACP'], 'intel'),
    (['APIC', 'IVRS'], 'amd'),
    (['APIC', 'FACP', 'SSDT1'], None),
    (['DMAR', 'IVRS'], None),
    ([], None),
])
def test_vendor_from_acpi_tables(names, vendor):
    assert vendor_from_acpi_tables(names) == vendor


@pytest.mark.parametrize('names, vendor', [
    (['dmar0', 'dmar1'], 'intel'),
    (['ivhd0'], 'amd'),
    (['smmu3.0x0000000009050000'], None),
    (['dmar0', 'ivhd0'], None),
    ([], None),
])
def test_vendor_from_iommu_units(names, vendor):
    assert vendor_from_iommu_units(names) == vendor


# -- read through the host's files ------------------------------------------------------------

def test_vendor_from_the_tables_then_the_units_then_the_cpu_and_what_is_missing(tmp_path):
    files = HostFiles(str(tmp_path))
    assert detect_vendor(files) == (None, [
        '/sys/firmware/acpi/tables is missing', '/sys/class/iommu is missing', '/proc/cpuinfo is missing'])
    write(tmp_path, '/proc/cpuinfo', 'processor\t: 0\nvendor_id\t: AuthenticAMD\n')
    assert detect_vendor(files) == ('amd', [])
    os.makedirs(files.real('/sys/class/iommu/dmar0'))
    assert detect_vendor(files) == ('intel', [])  # the running IOMMU's units before the CPU
    write(tmp_path, '/sys/firmware/acpi/tables/IVRS', 'table')
    assert detect_vendor(files) == ('amd', [])  # the firmware's table first
    os.unlink(files.real('/sys/firmware/acpi/tables/IVRS'))
    os.rmdir(files.real('/sys/class/iommu/dmar0'))
    write(tmp_path, '/proc/cpuinfo', 'processor\t: 0\nCPU implementer\t: 0x41\n')
    assert detect_vendor(files) == (None, [
        'no DMAR or IVRS table (or both) in /sys/firmware/acpi/tables',
        'no dmar* or ivhd* unit in /sys/class/iommu (the IOMMU is off)',
        'the CPU vendor in /proc/cpuinfo is neither Intel nor AMD'])
