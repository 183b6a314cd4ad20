"""hostdev_facts in-process: argument rules, result shape and error paths."""

import re
import pytest

from ansible_collections.virt.hostdev.plugins.modules import hostdev_facts

from support.module_run import module_runner


# The sample host's mtty mdevs: ci-runner holds the second.
FREE_MDEV = 'mdev_5e3c1d9a_0f4b_4c2e_8a61_7d2b9e0c4f13_mtty'
HELD_MDEV = 'mdev_c2177883_f1bb_47f0_914d_32a22e3a8804_mtty'


@pytest.fixture()
def run_module(monkeypatch):
    return module_runner(monkeypatch, hostdev_facts.main)


def test_facts_of_the_sample_host(run_module, sample_uri, sample_sysfs):
    result = run_module(uri=sample_uri, source='libvirt', sysfs_root=sample_sysfs)
    assert result['failed'] is False and result['changed'] is False
    hostdev = result['ansible_facts']['hostdev']
    assert result['devices'] == [device['name'] for device in hostdev['devices']]
    assert hostdev['eligible'] == [
        FREE_MDEV, HELD_MDEV, 'pci_0000_00_02_0', 'pci_0000_00_14_0', 'pci_0000_00_17_0', 'pci_0000_00_1f_3', 'pci_0000_01_00_0',
        'pci_0000_01_00_1', 'pci_0000_02_00_0', 'pci_0000_04_00_0', 'pci_0000_04_01_0', 'scsi_0_0_0_0',
        'scsi_1_0_0_0', 'usb_1_3']


@pytest.mark.parametrize('extra', [{'cap': 'pci'}, {'passthrough': True}, {'passthrough': False}])
def test_affected_by_with_another_filter_is_rejected(run_module, sample_uri, extra):
    result = run_module(uri=sample_uri, affected_by='pci_0000_04_00_0', **extra)
    assert result['failed'] is True
    assert 'mutually exclusive' in result['msg'] and 'affected_by' in result['msg']


def test_unknown_source_is_rejected_by_the_argument_spec(run_module):
    result = run_module(source='udev')
    assert result['failed'] is True
    assert 'source' in result['msg'] and 'auto, libvirt, sysfs' in result['msg']


def test_affected_by_unknown_device(run_module, sample_uri):
    result = run_module(uri=sample_uri, affected_by='usb_9_9')
    assert result == dict(result, failed=True, msg="device reference 'usb_9_9' is not a node device name, a PCI "
                          "address, a USB vendor:product, a USB bus.device or a mediated device UUID known on this host")


@pytest.mark.parametrize('reference', ['pci_0000_04_00_0', '0000:04:00.0', '04:00.0', ' 04:00.0 '])
def test_affected_by_takes_every_reference_form(run_module, sample_uri, reference):
    result = run_module(uri=sample_uri, affected_by=reference)
    assert result['failed'] is False
    assert result['devices'] == ['net_enp4s0_00_1b_21_00_00_40', 'net_enp4s1_00_1b_21_00_00_41',
                                 'pci_0000_03_00_0', 'pci_0000_04_01_0']


@pytest.mark.parametrize('reference, affected', [('046d:c31c', ['usb_1_3_1_0']), ('1.3', ['usb_1_3_1_0'])])
def test_affected_by_takes_usb_references(run_module, sample_uri, reference, affected):
    result = run_module(uri=sample_uri, affected_by=reference)
    assert result['failed'] is False and result['devices'] == affected


def test_affected_by_an_address_the_host_lacks_names_it(run_module, sample_uri):
    result = run_module(uri=sample_uri, affected_by='99:00.0')
    assert result == dict(result, failed=True, msg='no PCI device at address 0000:99:00.0 (99:00.0) on this host')


def test_filters_return_sorted_names(run_module, sample_uri):
    result = run_module(uri=sample_uri, cap='usb_device', passthrough=True)
    assert result['devices'] == ['usb_1_3']


@pytest.mark.parametrize('cap', ['no_such_cap', '', 'PCI', 'pci '])
def test_a_capability_libvirt_does_not_use_is_rejected_listing_the_names(run_module, sample_uri, cap):
    """A typo must not look like a host without such devices (an empty list)."""
    result = run_module(uri=sample_uri, cap=cap)
    assert result['failed'] is True
    assert 'cap' in result['msg'] and 'pci, usb_device, usb, net' in result['msg'] and 'fc_host' in result['msg']


def test_every_capability_libvirt_uses_is_accepted(run_module, sample_uri):
    assert run_module(uri=sample_uri, cap='scsi_host')['devices'] == ['scsi_host0', 'scsi_host1']
    assert run_module(uri=sample_uri, cap='mdev')['devices'] == [FREE_MDEV, HELD_MDEV]
    assert run_module(uri=sample_uri, cap='mdev_types')['devices'] == []  # the test driver cannot hold mtty_mtty


@pytest.mark.parametrize('source', ['sysfs', 'libvirt'])
def test_a_wrong_sysfs_root_fails_naming_it(run_module, sample_uri, tmp_path, source):
    result = run_module(uri=sample_uri, source=source, sysfs_root=str(tmp_path))
    assert result['failed'] is True
    assert result['msg'].startswith('sysfs_root %s is not a sysfs tree' % tmp_path)
    assert 'ansible_facts' not in result


def test_facts_say_what_can_be_taken_now(run_module, sample_uri, sample_sysfs):
    hostdev = run_module(uri=sample_uri, source='libvirt', sysfs_root=sample_sysfs)['ansible_facts']['hostdev']
    devices = dict((device['name'], device) for device in hostdev['devices'])
    assert devices['pci_0000_00_17_0']['passthrough']['eligible'] is True
    assert devices['pci_0000_00_17_0']['blockers'] == ['host_in_use']
    assert devices['pci_0000_02_00_0']['blockers'] == ['assigned_elsewhere']  # held by ci-runner
    assert devices[HELD_MDEV]['blockers'] == ['assigned_elsewhere'] and devices[HELD_MDEV]['assigned_to'] == ['ci-runner']
    assert hostdev['assignable'] == [FREE_MDEV, 'pci_0000_00_02_0', 'pci_0000_00_14_0', 'scsi_0_0_0_0', 'usb_1_3']


# -- facts: full or compact ------------------------------------------------------------

def test_compact_facts_are_the_summary_and_devices_stay_the_filters(run_module, sample_uri, sample_sysfs):
    full = run_module(uri=sample_uri, source='libvirt', sysfs_root=sample_sysfs)
    compact = run_module(uri=sample_uri, source='libvirt', sysfs_root=sample_sysfs, facts='compact')
    assert run_module(uri=sample_uri, source='libvirt', sysfs_root=sample_sysfs, facts='full') == full
    assert compact['devices'] == full['devices']  # all names: the filters choose them, not the facts
    hostdev = compact['ansible_facts']['hostdev']
    assert [device['name'] for device in hostdev['devices']] == [
        FREE_MDEV, HELD_MDEV, 'pci_0000_00_02_0', 'pci_0000_00_14_0', 'pci_0000_00_17_0', 'pci_0000_00_1f_3', 'pci_0000_00_1f_4',
        'pci_0000_01_00_0', 'pci_0000_01_00_1', 'pci_0000_02_00_0', 'pci_0000_04_00_0', 'pci_0000_04_01_0',
        'scsi_0_0_0_0', 'scsi_1_0_0_0', 'usb_1_3']
    assert hostdev['assignable'] == full['ansible_facts']['hostdev']['assignable']
    assert 'eligible' not in hostdev and 'passthrough' not in hostdev['devices'][0]
    filtered = run_module(uri=sample_uri, source='libvirt', sysfs_root=sample_sysfs, facts='compact', cap='usb_device')
    assert filtered['devices'] == ['usb_1_3', 'usb_usb1', 'usb_usb2']
    assert filtered['ansible_facts']['hostdev'] == hostdev


def test_summary_facts_name_no_device_unless_a_filter_asks(run_module, sample_uri, sample_sysfs):
    full = run_module(uri=sample_uri, source='libvirt', sysfs_root=sample_sysfs)
    summary = run_module(uri=sample_uri, source='libvirt', sysfs_root=sample_sysfs, facts='summary')
    assert summary['failed'] is False and summary['devices'] == []
    hostdev = summary['ansible_facts']['hostdev']
    assert list(hostdev) == ['source', 'iommu', 'kinds'] and hostdev['kinds'] == full['ansible_facts']['hostdev']['kinds']
    assert 'pci_0000' not in str(hostdev)  # no device name anywhere
    for extra, names in (({'cap': 'usb_device'}, ['usb_1_3', 'usb_usb1', 'usb_usb2']),
                         ({'passthrough': True}, full['ansible_facts']['hostdev']['eligible']),
                         ({'affected_by': 'pci_0000_01_00_0'}, ['pci_0000_00_01_0', 'pci_0000_01_00_1'])):
        filtered = run_module(uri=sample_uri, source='libvirt', sysfs_root=sample_sysfs, facts='summary', **extra)
        assert filtered['devices'] == names and filtered['ansible_facts']['hostdev'] == hostdev, extra


def test_an_unknown_facts_form_is_rejected(run_module, sample_uri):
    result = run_module(uri=sample_uri, facts='small')
    assert result['failed'] is True
    assert 'facts' in result['msg'] and 'full, compact, summary' in result['msg']


def returned(doc):
    """{key: its RETURN entry} of a contains block."""
    return doc['contains']


def test_return_documents_every_device_key_with_its_type_and_form():
    """RETURN says what the model gives: every key of a device (contains, typed), and which of
    them compact facts keep (returned: always; the others say in full facts)."""
    import yaml

    from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import (
        COMPACT_CAPABILITY_KEYS,
        COMPACT_DEVICE_KEYS,
        COMPACT_LINK_KEYS,
        COMPACT_SRIOV_KEYS,
    )
    from ansible_collections.virt.hostdev.plugins.module_utils.model.records import (
        CAPABILITIES,
        SRIOV_KEYS,
        SRIOV_LINK_KEYS,
        SRIOV_VGPU_KEYS,
    )

    doc = yaml.safe_load(hostdev_facts.RETURN)
    hostdev = returned(returned(doc['ansible_facts'])['hostdev'])
    devices = returned(hostdev['devices'])
    capability_keys = dict(CAPABILITIES.values())
    assert sorted(devices) == sorted(
        ['name', 'type', 'parent', 'path', 'driver', 'children', 'iommu_group', 'assigned_to', 'held_by_network',
         'passthrough', 'assignable', 'blockers', 'host_use'] + list(capability_keys))
    for key, entry in devices.items():
        assert entry['type'] in ('str', 'int', 'bool', 'list', 'dict'), key
        assert entry['description'] and entry['returned'], key
    assert sorted(key for key, entry in devices.items() if entry['returned'] == 'always') == \
        sorted(COMPACT_DEVICE_KEYS)
    for key, fields in capability_keys.items():
        contains = returned(devices[key])
        assert list(contains) == list(fields), key
        kept = [field for field, entry in contains.items() if entry['returned'] == 'always']
        assert kept == list(COMPACT_CAPABILITY_KEYS.get(key, ())) or devices[key]['returned'].endswith(
            'in full facts') and key not in COMPACT_CAPABILITY_KEYS, key
        for field, entry in contains.items():
            assert entry['type'] in ('str', 'int', 'bool', 'list', 'dict'), (key, field)
    sriov = returned(returned(devices['pci'])['sriov'])
    compact_only = [key for key, entry in sriov.items() if entry['returned'] == 'in compact facts']
    assert compact_only == ['vfs'] and list(sriov) == list(SRIOV_KEYS) + compact_only
    assert [key for key, entry in sriov.items() if entry['returned'] in ('always', 'in compact facts')] == \
        list(COMPACT_SRIOV_KEYS)
    from ansible_collections.virt.hostdev.plugins.module_utils.model.vf_table import VF_COLUMNS
    table = ' '.join(sriov['vfs']['description'])
    assert re.findall(r'C\((\w+)\)', table)[1:len(VF_COLUMNS) + 1] == list(VF_COLUMNS)  # after C(columns)
    assert sriov['vfs']['sample']['columns'] == list(VF_COLUMNS)
    link, vgpu = returned(sriov['link']), returned(sriov['vgpu'])
    assert list(link) == list(SRIOV_LINK_KEYS) and list(vgpu) == list(SRIOV_VGPU_KEYS)
    assert [key for key, entry in link.items() if entry['returned'] == 'always'] == list(COMPACT_LINK_KEYS)
    assert hostdev['eligible']['returned'] == 'in full facts'


def test_facts_tell_the_truth_of_mdevs_and_their_parent(run_module, sample_sysfs, tmp_path):
    """From sysfs and mdevctl: a defined mdev that does not exist is mdev_inactive, one on a parent the host
    lacks mdev_parent_gone too; the parent with mdevs is has_mdevs; compact facts keep all of them."""
    import os
    import shutil
    root = str(tmp_path / 'host')
    shutil.copytree(os.path.dirname(sample_sysfs), root, symlinks=True)
    for parent, uuid in (('mtty', '0d4f2b6e-9a1c-4e83-b5d7-6c2a8f1e3b90'), ('css', '6e3c1d9a-0f4b-4c2e-8a61-7d2b9e0c4f13')):
        os.makedirs(os.path.join(root, 'etc', 'mdevctl.d', parent), exist_ok=True)
        with open(os.path.join(root, 'etc', 'mdevctl.d', parent, uuid), 'w') as handle:
            handle.write('{"mdev_type": "mtty-1", "start": "manual"}')
    for form in ('full', 'compact'):
        result = run_module(source='sysfs', sysfs_root=os.path.join(root, 'sys'), facts=form)
        devices = dict((device['name'], device) for device in result['ansible_facts']['hostdev']['devices'])
        assert devices['mdev_0d4f2b6e_9a1c_4e83_b5d7_6c2a8f1e3b90_mtty']['blockers'] == ['mdev_inactive'], form
        assert devices['mdev_6e3c1d9a_0f4b_4c2e_8a61_7d2b9e0c4f13_css']['blockers'] == ['mdev_inactive', 'mdev_parent_gone']
        assert devices[FREE_MDEV]['assignable'] is True and devices[HELD_MDEV]['assigned_to'] == ['ci-runner']
        assert 'has_mdevs' in devices['mtty_mtty']['blockers']
        inactive = devices['mdev_0d4f2b6e_9a1c_4e83_b5d7_6c2a8f1e3b90_mtty']['mdev']
        assert (inactive['active'], inactive['persistent'], inactive['autostart']) == (False, True, False)
