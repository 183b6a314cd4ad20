"""Domains from libvirt's state files, read without the daemon."""

from ansible_collections.virt.hostdev.plugins.module_utils.reading.domain_files import read_domain_files
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree


def test_domains_from_libvirt_state_files(sample_sysfs):
    assert read_domain_files(SysfsTree(sample_sysfs)) == [
        {'name': 'ci-runner', 'active': True, 'hostdevs': [{'type': 'pci', 'address': '0000:02:00.0'}]}]
