# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hostdev_assign role end to end: ansible-playbook, a real libvirtd, the sample host's sysfs; its
selections and mappings on full and on compact facts."""

from __future__ import annotations

import json
import os

import libvirt
import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import DEVICE_FACTS_MODES
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import hostdev_elements

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks', 'assign_role.yml')

IGPU_ALONE = ("[?type=='pci' && passthrough.eligible && starts_with(pci.class, '0x0302') "
              "&& length(group_endpoints) == `1`]")
NVIDIA_3D_ALONE = ("[?type=='pci' && passthrough.eligible && pci.vendor_id=='0x10de' "
                   "&& starts_with(pci.class, '0x0302') && length(group_endpoints) == `1`]")


@pytest.fixture()
def domain(scratch):
    return scratch(prefix='role')


@pytest.fixture()
def role(run_playbook, libvirtd, host, tmp_path):
    """role(check=False, play_vars=None, facts='full', **hostdev_assign_vars) -> (outcome dict, PlaybookResult).

    play_vars: more extra vars, as named (an inventory's hostdev_mappings, say). facts: the facts the
    role gathers for a selection or a mapping (hostdev_facts' facts option, through module_defaults)."""
    counter = [0]

    def run(check=False, play_vars=None, facts='full', **variables):
        counter[0] += 1
        out = tmp_path / ('role-%d.json' % counter[0])
        extra = {'hostdev_assign_uri': libvirtd, 'hostdev_assign_source': 'sysfs',
                 'hostdev_assign_sysfs_root': host, 'assign_out': str(out), 'assign_facts': facts}
        extra.update(play_vars or {})
        extra.update(('hostdev_assign_%s' % key, value) for key, value in variables.items())
        completed = run_playbook(PLAYBOOK, extra_vars=extra, check=check)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        return json.loads(out.read_text()), completed
    return run


def sources(dom):
    return [source for _element, source in
            hostdev_elements(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))]


def test_gpu_with_its_audio_plan_apply_idempotent_remove(role, domain):
    before = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    outcome, completed = role(check=True, domain=domain.name(), devices=['01:00.0'], include_group=True)
    assert outcome['failed'] is False, outcome
    assert outcome['result']['changed'] is True
    assert domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before
    assert '"add": [' in completed.stdout and 'pci_0000_01_00_1' in completed.stdout  # the plan is shown
    assert '"affected": [' in completed.stdout and '"impact": []' in completed.stdout

    outcome, _completed = role(domain=domain.name(), devices=['01:00.0'], include_group=True)
    assert outcome['result']['changed'] is True
    assert outcome['plan']['added'] == ['pci_0000_01_00_0', 'pci_0000_01_00_1']
    assert [s['address'] for s in sources(domain)] == ['0000:01:00.0', '0000:01:00.1']

    outcome, _completed = role(domain=domain.name(), devices=['01:00.0'], include_group=True)
    assert outcome['result']['changed'] is False

    outcome, _completed = role(domain=domain.name(), devices=['01:00.0'], include_group=True, state='absent')
    assert outcome['result']['changed'] is True and sources(domain) == []


# The same selection in the keys compact facts have too (compact facts have no passthrough key).
IGPU_ALONE_EITHER = ("[?type=='pci' && !contains(blockers, 'not_eligible') && starts_with(pci.class, '0x0302') "
                     "&& length(group_endpoints) == `1`]")
# Devices the role's facts list on the sample host: all of them, or the compact summary (both with the
# mtty parent and its two mdevs, which compact facts keep).
FACTS_DEVICES = {'full': 36, 'compact': 16}


@pytest.mark.parametrize('facts, select', [('full', IGPU_ALONE), ('full', IGPU_ALONE_EITHER),
                                           ('compact', IGPU_ALONE_EITHER)])
def test_select_with_jmespath(role, domain, facts, select):
    outcome, _completed = role(domain=domain.name(), select=select, facts=facts)
    assert outcome['failed'] is False, outcome
    assert outcome['facts_devices'] == FACTS_DEVICES[facts]
    assert outcome['result']['devices'] == ['pci_0000_00_02_0']
    assert [s['address'] for s in sources(domain)] == ['0000:00:02.0']


def test_nic_behind_a_bridge_shows_its_impact(role, domain):
    outcome, completed = role(domain=domain.name(), devices=['04:00.0', '04:01.0'])
    assert outcome['failed'] is False, outcome
    assert [entry['interface'] for entry in outcome['plan']['impact']] == ['enp4s0', 'enp4s1']
    assert 'network interface enp4s0' in completed.stdout + completed.stderr  # the warning


def test_selection_matching_nothing_fails_clearly(role, domain):
    outcome, _completed = role(domain=domain.name(), select=NVIDIA_3D_ALONE)
    assert outcome['failed'] is True
    assert outcome['task'] == 'Fail when the selection matches no device'
    assert 'hostdev_assign_select matched no device' in outcome['result']['msg']
    assert sources(domain) == []


def test_invalid_jmespath_fails_with_its_message(role, domain):
    outcome, _completed = role(domain=domain.name(), select="[?type=='pci'")
    assert outcome['failed'] is True
    assert 'invalid JMESPath expression' in outcome['result']['msg']
    assert 'Incomplete expression' in outcome['result']['msg']  # jmespath's own words


@pytest.mark.parametrize('variables', [{}, {'devices': ['1.3'], 'select': '[]'}])
def test_devices_or_select_exactly_one(role, domain, variables):
    outcome, _completed = role(domain=domain.name(), **variables)
    assert outcome['failed'] is True
    assert 'exactly one of hostdev_assign_devices' in outcome['result']['msg']


def test_refusal_reaches_the_user_before_any_edit(role, domain):
    outcome, _completed = role(domain=domain.name(), devices=['01:00.0'])
    assert outcome['failed'] is True and outcome['task'] == 'Validate and apply the change (only plan it in check mode)'
    assert 'pci_0000_01_00_1 (driver snd_hda_intel)' in outcome['result']['msg']
    assert sources(domain) == []


def test_argument_spec_rejects_bad_values(role, domain):
    outcome, _completed = role(domain=domain.name(), devices=['1.3'], state='gone')
    assert outcome['failed'] is True
    assert 'hostdev_assign_state' in outcome['result']['msg'] and 'present, absent' in outcome['result']['msg']


def test_usb_keyboard_and_scsi_disk_assign_idempotently_and_remove(role, domain):
    devices = ['046d:c31c', 'scsi_0_0_0_0']
    outcome, _completed = role(domain=domain.name(), devices=devices)
    assert outcome['failed'] is False, outcome
    assert outcome['result']['changed'] is True
    assert outcome['plan']['added'] == ['scsi_0_0_0_0', 'usb_1_3']
    assert sorted(sources(domain), key=lambda source: source['type']) == [
        {'type': 'scsi', 'adapter': 'scsi_host0', 'bus': 0, 'target': 0, 'unit': 0},
        {'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31c', 'bus': None, 'device': None}]
    outcome, _completed = role(domain=domain.name(), devices=devices)
    assert outcome['result']['changed'] is False
    outcome, _completed = role(domain=domain.name(), devices=devices, state='absent')
    assert outcome['result']['changed'] is True and outcome['result']['removed'] == ['scsi_0_0_0_0', 'usb_1_3']
    assert sources(domain) == []


def test_the_root_disk_is_refused_by_the_role(role, domain):
    outcome, _completed = role(domain=domain.name(), devices=['scsi_1_0_0_0'])
    assert outcome['failed'] is True
    assert 'is in use by the host: mounted at /, mounted at /boot/efi, swap' in outcome['result']['msg']
    assert sources(domain) == []


# The sample host's GPU and keyboard as an inventory maps them; the play runs on localhost.
MAPPINGS = {
    'gpu-a4000': {'description': 'RTX A4000', 'vendor_id': '10de', 'product_id': '24B0',
                  'hosts': {'localhost': {'address': '0000:01:00.0', 'subsystem_vendor_id': '0x10DE',
                                          'subsystem_id': '14ad', 'iommu_group': 1, 'driver': 'nvidia'},
                            'hv2': {'address': '0000:41:00.0', 'iommu_group': 12}}},
    'keyboard': {'hosts': {'localhost': {'address': '046d:c31c'}}},
}
REFUSED_TASK = 'Resolve the mappings, refusing drift and hosts they do not map'


@pytest.mark.parametrize('facts', DEVICE_FACTS_MODES)
def test_a_mapping_assigns_the_mapped_devices(role, domain, facts):
    # hostdev_assign_mappings defaults to the inventory's hostdev_mappings
    outcome, _completed = role(domain=domain.name(), mapping=['gpu-a4000', 'keyboard'], include_group=True,
                               play_vars={'hostdev_mappings': MAPPINGS}, facts=facts)
    assert outcome['failed'] is False, outcome
    assert outcome['facts_devices'] == FACTS_DEVICES[facts]
    assert outcome['result']['changed'] is True
    assert outcome['result']['added'] == ['pci_0000_01_00_0', 'pci_0000_01_00_1', 'usb_1_3']
    assert sorted(str(s.get('address') or s.get('vendor_id')) for s in sources(domain)) == \
        ['0000:01:00.0', '0000:01:00.1', '0x046d']
    outcome, _completed = role(domain=domain.name(), mapping='gpu-a4000', include_group=True, mappings=MAPPINGS)
    assert outcome['failed'] is False and outcome['result']['changed'] is False, outcome


@pytest.mark.parametrize('facts', DEVICE_FACTS_MODES)
def test_a_drifted_mapping_is_refused_naming_the_drift(role, domain, facts):
    before = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    drifted = {'gpu-a4000': dict(MAPPINGS['gpu-a4000'], hosts={
        'localhost': {'address': '0000:01:00.0', 'iommu_group': 12, 'driver': 'vfio-pci'}})}
    outcome, _completed = role(domain=domain.name(), mapping='gpu-a4000', include_group=True, mappings=drifted,
                               facts=facts)
    assert outcome['failed'] is True and outcome['task'] == REFUSED_TASK, outcome
    assert ('refusing device mappings on localhost: '
            'mapping gpu-a4000 on localhost: iommu_group expected 12, found 1; '
            'mapping gpu-a4000 on localhost: driver expected vfio-pci, found nvidia') in outcome['result']['msg']
    assert domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before


def test_a_mapping_without_this_host_is_refused(role, domain):
    elsewhere = {'gpu-a4000': dict(MAPPINGS['gpu-a4000'], hosts={'hv2': {'address': '0000:41:00.0'}})}
    outcome, _completed = role(domain=domain.name(), mapping='gpu-a4000', play_vars={'hostdev_mappings': elsewhere})
    assert outcome['failed'] is True and outcome['task'] == REFUSED_TASK, outcome
    assert 'host localhost is not in mapping gpu-a4000 (mapped hosts: hv2)' in outcome['result']['msg']
    assert sources(domain) == []


@pytest.mark.parametrize('variables', [{'mapping': 'keyboard', 'devices': ['1.3']},
                                       {'mapping': ['keyboard'], 'select': '[]'}])
def test_a_mapping_excludes_devices_and_select(role, domain, variables):
    outcome, _completed = role(domain=domain.name(), mappings=MAPPINGS, **variables)
    assert outcome['failed'] is True
    assert 'exactly one of hostdev_assign_devices' in outcome['result']['msg']
    assert 'hostdev_assign_mapping' in outcome['result']['msg']


def test_a_pool_of_vfs_as_interfaces_picked_kept_and_released(role, domain, tmp_path):
    from fixtures.sample_host import build_tree
    from fixtures.sriov_host import NET_PF, add_sriov

    from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import interface_settings

    tree = add_sriov(build_tree(str(tmp_path / 'sriov-host')), vfs=3)
    options = dict(domain=domain.name(), sysfs_root=tree, pool={'pf': NET_PF, 'count': 2}, interface={'vlan': 100})
    outcome, completed = role(**options)
    assert outcome['failed'] is False, outcome
    assert outcome['result']['added'] == ['pci_0000_06_10_0', 'pci_0000_06_10_2']
    assert '"interfaces": [' in completed.stdout  # the role shows what it gave
    elements = hostdev_elements(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert [(element.tag, interface_settings(element)['vlan']) for element, _source in elements] == [
        ('interface', 100), ('interface', 100)]

    outcome, _completed = role(**options)
    assert outcome['result']['changed'] is False and outcome['result']['devices'] == [
        'pci_0000_06_10_0', 'pci_0000_06_10_2']

    outcome, _completed = role(**dict(options, state='absent'))
    assert outcome['result']['removed'] == ['pci_0000_06_10_0', 'pci_0000_06_10_2'] and sources(domain) == []


def test_a_pool_of_an_mdev_type_assigned_kept_and_released(role, domain):
    # The sample workstation's mtty_mtty has two active mtty-2 mdevs (no domain of this libvirtd holds them).
    pool = {'mdev_type': 'mtty-2', 'parent': 'mtty_mtty', 'count': 2}
    outcome, _completed = role(domain=domain.name(), pool=pool, mdev_start=True)
    assert outcome['failed'] is False, outcome
    assert outcome['result']['changed'] is True and outcome['result']['started'] == []
    assert sorted(source['uuid'] for source in sources(domain)) == [
        '5e3c1d9a-0f4b-4c2e-8a61-7d2b9e0c4f13', 'c2177883-f1bb-47f0-914d-32a22e3a8804']
    outcome, _completed = role(domain=domain.name(), pool=pool, mdev_start=True)
    assert outcome['result']['changed'] is False
    outcome, _completed = role(domain=domain.name(), pool=pool, state='absent')
    assert outcome['result']['changed'] is True and sources(domain) == []
