# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""assignment: pure validation and planning against the sample workstation."""

from __future__ import annotations

import copy
import os
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import (
    AssignmentRequest,
    plan_assignment,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import holds_its_group
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import build_hostdev
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import (
    assignability,
    blockers,
    problems_message,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_via_sysfs

from fixtures.mdev_records import MTTY, MTTY1, UUIDS, mdev_model, mdevs
from fixtures.mdev_records import held as mdev_held
from fixtures.sample_host import build_tree

EMPTY = "<domain type='qemu'><name>guest</name><devices/></domain>"
GPU, AUDIO, ROOT_PORT = 'pci_0000_01_00_0', 'pci_0000_01_00_1', 'pci_0000_00_01_0'
NIC, E1000_A, E1000_B, PCI_BRIDGE = 'pci_0000_02_00_0', 'pci_0000_04_00_0', 'pci_0000_04_01_0', 'pci_0000_03_00_0'
IGPU, XHCI, KEYBOARD, DISK = 'pci_0000_00_02_0', 'pci_0000_00_14_0', 'usb_1_3', 'scsi_0_0_0_0'


def rebind(sys_root, address, driver):
    """Point a fake PCI device's driver link at another driver (None: unbind)."""
    link = os.path.join(sys_root, 'bus', 'pci', 'devices', address)
    device = os.path.realpath(link)
    driver_link = os.path.join(device, 'driver')
    if os.path.lexists(driver_link):
        os.unlink(driver_link)
    if driver:
        target = os.path.join(sys_root, 'bus', 'pci', 'drivers', driver)
        os.makedirs(target, exist_ok=True)
        os.symlink(os.path.relpath(target, device), driver_link)


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    root = build_tree(str(tmp_path_factory.mktemp('host')))
    found = read_via_sysfs(root)
    records, iommu = found.records, found.iommu
    return root, records, iommu


def model_of(sample, domains=(), iommu=None, records=None):
    _root, base, base_iommu = sample
    return HostModel(copy.deepcopy(records or base), domains=domains,
                     iommu=base_iommu if iommu is None else iommu)


def domain_xml(*records, name='guest'):
    body = ''.join(build_hostdev(record) for record in records)
    return "<domain type='qemu'><name>%s</name><devices>%s</devices></domain>" % (name, body)


def plan_of_request(model, domain, devices, active=False, config_xml=None, live_xml=None, **options):
    """plan_assignment of the request (domain, devices, options) on a domain in this state."""
    return plan_assignment(model, AssignmentRequest(domain, devices, **options), active=active,
                           config_xml=config_xml, live_xml=live_xml)


def codes(plan):
    return sorted(item['code'] for item in plan.problems)


# -- references ------------------------------------------------------------

@pytest.mark.parametrize('reference, name', [
    ('pci_0000_02_00_0', NIC), ('0000:02:00.0', NIC), ('02:00.0', NIC),
    ('046d:c31c', KEYBOARD), ('1.3', KEYBOARD), ('scsi_0_0_0_0', DISK)])
def test_each_reference_form_resolves(sample, reference, name):
    plan = plan_of_request(model_of(sample), 'guest', [reference], config_xml=EMPTY)
    assert plan.devices == [name]
    assert plan.problems == [] and plan.added == [name]


def test_unknown_and_ambiguous_references_fail_naming_them(sample):
    records = copy.deepcopy(sample[1])
    twin = copy.deepcopy(next(r for r in records if r['name'] == KEYBOARD))
    twin['name'] = 'usb_1_4'
    twin['usb']['device'] = 4
    records.append(twin)
    plan = plan_of_request(model_of(sample, records=records), 'guest',
                           ['046d:c31c', '09:00.0', 'pci_0000_01_00'], config_xml=EMPTY)
    assert codes(plan) == ['unresolved_reference'] * 3
    text = problems_message(plan.problems)
    assert 'ambiguous' in text and 'usb_1_3' in text and 'usb_1_4' in text
    assert '0000:09:00.0' in text
    assert "'pci_0000_01_00'" in text and 'pci_0000_01_00_0' in text  # candidates
    assert plan.problems[0]['device'] == '046d:c31c'


def test_usb_not_unique_gets_bus_and_device(sample):
    records = copy.deepcopy(sample[1])
    twin = copy.deepcopy(next(r for r in records if r['name'] == KEYBOARD))
    twin.update(name='usb_1_4')
    twin['usb']['device'] = 4
    records.append(twin)
    plan = plan_of_request(model_of(sample, records=records), 'guest', ['1.4'], config_xml=EMPTY)
    element = ET.fromstring(plan.edits[0]['xml'])
    assert element.find('source/address').attrib == {'bus': '1', 'device': '4'}
    assert any('not unique' in warning for warning in plan.warnings)
    # unique: vendor and product only
    plan = plan_of_request(model_of(sample), 'guest', ['1.3'], config_xml=EMPTY)
    assert ET.fromstring(plan.edits[0]['xml']).find('source/address') is None


# -- refusals ---------------------------------------------------------------

def test_not_eligible_gives_reason_codes(sample):
    plan = plan_of_request(model_of(sample), 'guest', ['00:1f.4', '00:01.0', 'usb_usb1'], config_xml=EMPTY)
    assert codes(plan).count('not_eligible') == 3
    text = problems_message(plan.problems)
    assert 'pci_smbus' in text and 'pci_bridge' in text and 'usb_root_hub' in text and 'usb_hub' in text


def test_iommu_off_refused_with_hint_unless_force(sample):
    off = {'enabled': False, 'groups': 0}
    plan = plan_of_request(model_of(sample, iommu=off), 'guest', [NIC], config_xml=EMPTY)
    assert codes(plan) == ['iommu_off']
    message = plan.problems[0]['message']
    assert 'intel_iommu=on' in message and 'AMD needs no argument' in message and 'VT-d' in message and NIC in message
    assert plan_of_request(model_of(sample, iommu=off), 'guest', [NIC], config_xml=EMPTY, force=True).problems == []
    # USB and SCSI do not need the IOMMU
    assert plan_of_request(model_of(sample, iommu=off), 'guest', [KEYBOARD, DISK], config_xml=EMPTY).problems == []


def test_gpu_without_its_audio_is_refused_naming_sibling_and_driver(sample):
    plan = plan_of_request(model_of(sample), 'guest', ['01:00.0'], config_xml=EMPTY)
    assert codes(plan) == ['group_not_viable']
    message = plan.problems[0]['message']
    assert '%s (driver snd_hda_intel)' % AUDIO in message
    assert 'include_group: true' in message and 'group 1' in message
    assert 'bridges in the group (%s) never need assigning' % ROOT_PORT in message
    assert plan.affected == [ROOT_PORT, AUDIO]


def test_include_group_adds_endpoints_not_bridges(sample):
    plan = plan_of_request(model_of(sample), 'guest', ['01:00.0'], include_group=True, config_xml=EMPTY)
    assert plan.problems == []
    assert plan.devices == [GPU, AUDIO]
    assert plan.added == [GPU, AUDIO]
    assert plan.affected == [ROOT_PORT]
    plan = plan_of_request(model_of(sample), 'guest', [E1000_A], include_group=True, config_xml=EMPTY)
    assert plan.devices == [E1000_A, E1000_B] and PCI_BRIDGE not in plan.devices
    assert [entry['interface'] for entry in plan.impact] == ['enp4s0', 'enp4s1']


def test_sibling_free_when_on_vfio_or_no_driver(sample, tmp_path):
    root = build_tree(str(tmp_path))
    for driver in ('vfio-pci', 'pci-stub', None):
        rebind(root, '0000:01:00.1', driver)
        found = read_via_sysfs(root)
        records, iommu = found.records, found.iommu
        plan = plan_of_request(HostModel(records, iommu=iommu), 'guest', [GPU], config_xml=EMPTY)
        assert plan.problems == [], driver
    # free by driver but held by another domain: not free
    held = [{'name': 'other', 'active': False, 'hostdevs': [{'type': 'pci', 'address': '0000:01:00.1'}]}]
    plan = plan_of_request(HostModel(records, domains=held, iommu=iommu), 'guest', [GPU], config_xml=EMPTY)
    assert codes(plan) == ['assigned_elsewhere', 'group_not_viable']
    assert 'held by domain other' in plan.problems[0]['message'] + plan.problems[1]['message']


@pytest.mark.parametrize('driver, holders, holds', [
    (None, [], False), ('vfio-pci', [], False), ('pci-stub', [], False),
    ('snd_hda_intel', [], True), ('vfio-pci', ['other'], True), (None, ['other'], True),
])
def test_holds_its_group_by_host_driver_or_another_domain(driver, holders, holds):
    # the one rule group_not_viable and the held_siblings filter share
    assert holds_its_group(driver, holders) is holds


def test_sibling_already_in_this_domain_counts_as_in_the_assignment(sample):
    audio = next(r for r in sample[1] if r['name'] == AUDIO)
    mine = [{'name': 'guest', 'active': False, 'hostdevs': [{'type': 'pci', 'address': '0000:01:00.1'}]}]
    plan = plan_of_request(model_of(sample, domains=mine), 'guest', [GPU], config_xml=domain_xml(audio))
    assert plan.problems == [] and plan.added == [GPU]


def test_device_held_by_another_domain_names_it(sample):
    domains = [{'name': 'ci-runner', 'active': True, 'hostdevs': [{'type': 'pci', 'address': '0000:02:00.0'}]},
               {'name': 'backup', 'active': False,
                'hostdevs': [{'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31c',
                              'bus': None, 'device': None}]}]
    plan = plan_of_request(model_of(sample, domains=domains), 'guest', [NIC, '1.3'], config_xml=EMPTY)
    assert codes(plan) == ['assigned_elsewhere', 'assigned_elsewhere']
    text = problems_message(plan.problems)
    assert '%s is already assigned to domain ci-runner' % NIC in text
    assert '%s is already assigned to domain backup' % KEYBOARD in text
    # the same domain holding it is not a conflict
    assert plan_of_request(model_of(sample, domains=domains), 'ci-runner', [NIC], config_xml=EMPTY).problems == []


def test_affected_device_held_by_another_domain_is_named(sample, tmp_path):
    root = build_tree(str(tmp_path))
    rebind(root, '0000:04:01.0', 'vfio-pci')
    found = read_via_sysfs(root)
    records, iommu = found.records, found.iommu
    domains = [{'name': 'router', 'active': False, 'hostdevs': [{'type': 'pci', 'address': '0000:04:01.0'}]}]
    plan = plan_of_request(HostModel(records, domains=domains, iommu=iommu), 'guest', [E1000_A], config_xml=EMPTY)
    assert 'assigned_elsewhere' in codes(plan)
    assert '%s, which this assignment takes from the host (IOMMU group 8), is assigned to domain router' \
        % E1000_B in problems_message(plan.problems)


def test_display_hotplug_refused_unless_force(sample):
    plan = plan_of_request(model_of(sample), 'guest', [IGPU], live=True, active=True,
                           config_xml=EMPTY, live_xml=EMPTY)
    assert codes(plan) == ['display_hotplug']
    assert 'class 0x030200' in plan.problems[0]['message'] and 'live: false' in plan.problems[0]['message']
    assert plan_of_request(model_of(sample), 'guest', [IGPU], live=True, active=True, force=True,
                           config_xml=EMPTY, live_xml=EMPTY).problems == []
    assert plan_of_request(model_of(sample), 'guest', [IGPU], live=False, config_xml=EMPTY).problems == []
    # a NIC can be hot-plugged
    assert plan_of_request(model_of(sample), 'guest', [NIC], live=True, active=True,
                           config_xml=EMPTY, live_xml=EMPTY).problems == []


def test_every_problem_is_reported_at_once(sample):
    off = {'enabled': False}
    domains = [{'name': 'ci-runner', 'active': True, 'hostdevs': [{'type': 'pci', 'address': '0000:02:00.0'}]}]
    plan = plan_of_request(model_of(sample, domains=domains, iommu=off), 'guest',
                           ['nope', '00:1f.4', NIC, GPU, IGPU], live=True, active=True,
                           config_xml=EMPTY, live_xml=EMPTY)
    # group 1 (GPU without audio) and group 9 (SMBus beside the PCH audio) both fail
    assert codes(plan) == ['assigned_elsewhere', 'display_hotplug', 'display_hotplug', 'group_not_viable',
                           'group_not_viable', 'iommu_off', 'not_eligible', 'unresolved_reference']
    assert problems_message(plan.problems).startswith('8 problems, nothing was changed: (1) ')


# -- targets and the plan -------------------------------------------------

def test_live_on_stopped_domain_is_a_warning_and_config_false_is_a_problem(sample):
    plan = plan_of_request(model_of(sample), 'guest', [NIC], live=True, config_xml=EMPTY)
    assert plan.targets == ['config'] and plan.problems == []
    assert any('not running' in warning for warning in plan.warnings)
    plan = plan_of_request(model_of(sample), 'guest', [NIC], live=True, config=False, config_xml=EMPTY)
    assert codes(plan) == ['nothing_to_change']
    plan = plan_of_request(model_of(sample), 'guest', [NIC], live=False, config=False, config_xml=EMPTY)
    assert 'nothing_to_change' in codes(plan)


def test_transient_domain_needs_config_false(sample):
    plan = plan_of_request(model_of(sample), 'guest', [NIC], config_xml=None, active=True, live_xml=EMPTY)
    assert codes(plan) == ['transient_domain']
    plan = plan_of_request(model_of(sample), 'guest', [NIC], config=False, live=True, active=True,
                           config_xml=None, live_xml=EMPTY)
    assert plan.problems == [] and plan.targets == ['live']


def test_running_domain_gets_one_edit_per_target_and_only_where_missing(sample):
    nic = next(r for r in sample[1] if r['name'] == NIC)
    plan = plan_of_request(model_of(sample), 'guest', [NIC], live=True, active=True,
                           config_xml=domain_xml(nic), live_xml=EMPTY)
    assert [(edit['action'], edit['target']) for edit in plan.edits] == [('attach', 'live')]
    assert plan.diff['before'] == plan.diff['after']  # config unchanged


def test_idempotent_when_present_matched_by_source(sample):
    nic = next(r for r in sample[1] if r['name'] == NIC)
    stored = ("<domain type='qemu'><name>guest</name><devices><hostdev mode='subsystem' type='pci' "
              "managed='yes'><driver name='vfio'/><source><address domain='0' bus='2' slot='0' function='0'/>"
              "</source><alias name='hostdev0'/><address type='pci' domain='0x0000' bus='0x01' slot='0x00' "
              "function='0x0'/></hostdev></devices></domain>")
    plan = plan_of_request(model_of(sample), 'guest', [NIC], config_xml=stored)
    assert plan.changed is False and plan.edits == []
    assert plan.diff['before'] == plan.diff['after'] != ''
    assert build_hostdev(nic) not in plan.diff['before']  # the domain's own XML is shown


def test_managed_mismatch_is_left_alone_with_a_warning(sample):
    nic = next(r for r in sample[1] if r['name'] == NIC)
    config = domain_xml(nic).replace("managed=\"yes\"", "managed=\"no\"")
    plan = plan_of_request(model_of(sample), 'guest', [NIC], config_xml=config)
    assert not plan.changed and any("managed='no'" in warning for warning in plan.warnings)


def test_scsi_is_never_managed_even_with_managed_true(sample):
    plan = plan_of_request(model_of(sample), 'guest', [DISK], managed=True, config_xml=EMPTY)
    element = ET.fromstring(plan.edits[0]['xml'])
    assert element.get('type') == 'scsi' and element.get('managed') is None
    assert plan.impact == [{'name': 'block_sda_Samsung_SSD_870_EVO_1TB_S6PTNS0T123456A', 'type': 'storage',
                            'parent': DISK, 'block': '/dev/sda', 'model': 'Samsung SSD 870'}]
    assert any('disk /dev/sda' in warning for warning in plan.warnings)


def test_impact_of_a_controller_lists_usb_devices_and_of_a_nic_its_interface(sample):
    plan = plan_of_request(model_of(sample), 'guest', [XHCI], config_xml=EMPTY)
    assert KEYBOARD in [entry['name'] for entry in plan.impact]
    assert {'usb': '046d:c31c'}.items() <= next(e for e in plan.impact if e['name'] == KEYBOARD).items()
    plan = plan_of_request(model_of(sample), 'guest', [NIC], config_xml=EMPTY)
    assert plan.impact[0]['interface'] == 'enp2s0' and plan.impact[0]['type'] == 'net'
    assert plan.affected == ['net_enp2s0_a8_a1_59_00_00_01']


def test_diff_predicts_after(sample):
    nic = next(r for r in sample[1] if r['name'] == NIC)
    plan = plan_of_request(model_of(sample), 'guest', [KEYBOARD], config_xml=domain_xml(nic))
    assert plan.diff['before'] == build_hostdev(nic) + '\n'
    assert plan.diff['after'] == build_hostdev(nic) + '\n' + plan.edits[0]['xml'] + '\n'


def test_absent_detaches_the_element_as_the_domain_has_it(sample):
    stored = ("<domain type='qemu'><name>guest</name><devices>"
              "<hostdev mode='subsystem' type='usb' managed='no'><source><vendor id='0x046d'/>"
              "<product id='0xc31c'/></source><address type='usb' bus='0' port='1'/></hostdev>"
              "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x02' "
              "slot='0x00' function='0x0'/></source></hostdev></devices></domain>")
    plan = plan_of_request(model_of(sample), 'guest', ['046d:c31c'], state='absent', config_xml=stored)
    assert plan.problems == [] and plan.removed == [KEYBOARD]
    detached = ET.fromstring(plan.edits[0]['xml'])
    assert detached.get('managed') == 'no' and detached.find('address').get('port') == '1'
    assert 'c31c' in plan.diff['before'] and 'c31c' not in plan.diff['after']
    assert '0x02' in plan.diff['after']
    # absent again: nothing to do
    plan = plan_of_request(model_of(sample), 'guest', [KEYBOARD], state='absent', config_xml=EMPTY)
    assert not plan.changed


def test_absent_skips_host_validation(sample):
    off = {'enabled': False}
    nic = next(r for r in sample[1] if r['name'] == NIC)
    plan = plan_of_request(model_of(sample, iommu=off), 'guest', [GPU, NIC], state='absent',
                           config_xml=domain_xml(nic))
    assert plan.problems == [] and plan.removed == [NIC] and plan.impact == []


def test_bad_state_is_a_programming_error(sample):
    with pytest.raises(ValueError):
        plan_of_request(model_of(sample), 'guest', [NIC], state='gone', config_xml=EMPTY)


def test_absent_removes_devices_the_host_no_longer_has(sample):
    stored = ("<domain type='qemu'><name>guest</name><devices>"
              "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x0a' "
              "slot='0x00' function='0x0'/></source></hostdev>"
              "<hostdev mode='subsystem' type='usb' managed='yes'><source><vendor id='0x1234'/>"
              "<product id='0xabcd'/></source></hostdev></devices></domain>")
    plan = plan_of_request(model_of(sample), 'guest', ['0a:00.0', '1234:abcd', '7.7'], state='absent',
                           config_xml=stored)
    assert plan.problems == []
    assert plan.removed == ['0a:00.0', '1234:abcd'] and plan.diff['after'] == ''
    assert len([w for w in plan.warnings if 'is not on this host' in w]) == 2
    # present still refuses an unknown address, and a name that is no address is refused either way
    assert codes(plan_of_request(model_of(sample), 'guest', ['0a:00.0'], config_xml=stored)) == \
        ['unresolved_reference']
    assert codes(plan_of_request(model_of(sample), 'guest', ['gone-dev'], state='absent', config_xml=stored)) == \
        ['unresolved_reference']


# -- what the host runs on ----------------------------------------------------

SATA, ROOT_DISK = 'pci_0000_00_17_0', 'scsi_1_0_0_0'
ROOT_BLOCK = 'block_sdb_CT500MX500SSD1_2113E5901234'


def test_controller_of_the_root_disk_is_refused_naming_the_disk_and_its_uses(sample):
    plan = plan_of_request(model_of(sample), 'guest', [SATA], config_xml=EMPTY)
    assert codes(plan) == ['host_in_use']
    problem_ = plan.problems[0]
    assert problem_['device'] == ROOT_BLOCK
    assert problem_['message'] == (
        'disk /dev/sdb (%s), which this assignment takes from the host, is in use by the host: '
        'mounted at /, mounted at /boot/efi, swap; force: true overrides' % ROOT_BLOCK)
    assert plan.edits and problems_message(plan.problems).startswith('1 problem, nothing was changed')


def test_root_disk_itself_is_refused_and_a_data_disk_is_not(sample):
    assert codes(plan_of_request(model_of(sample), 'guest', [ROOT_DISK], config_xml=EMPTY)) == ['host_in_use']
    assert plan_of_request(model_of(sample), 'guest', [DISK], config_xml=EMPTY).problems == []


def test_force_takes_the_root_disk_anyway(sample):
    plan = plan_of_request(model_of(sample), 'guest', [ROOT_DISK], config_xml=EMPTY, force=True)
    assert plan.problems == [] and plan.added == [ROOT_DISK]


def test_default_route_interface_is_in_use(sample):
    records = copy.deepcopy(sample[1])
    for record in records:
        if record['name'] == 'net_enp4s1_00_1b_21_00_00_41':
            record['host_use'] = ['default route']
    plan = plan_of_request(model_of(sample, records=records), 'guest', [E1000_A], include_group=True,
                           config_xml=EMPTY)
    assert codes(plan) == ['host_in_use']
    assert plan.problems[0]['message'].startswith(
        'network interface enp4s1 (net_enp4s1_00_1b_21_00_00_41), which this assignment takes from the host, '
        'is in use by the host: default route')


def test_removal_is_never_refused_for_host_use(sample):
    root_disk = model_of(sample).device(ROOT_DISK)
    plan = plan_of_request(model_of(sample), 'guest', [ROOT_DISK], state='absent',
                           config_xml=domain_xml(root_disk))
    assert plan.problems == [] and plan.removed == [ROOT_DISK]


# -- assignable and blockers: "can I take this device now?" from the facts ------

def test_facts_say_which_eligible_devices_cannot_be_taken_now_and_why(sample):
    model = model_of(sample)
    facts = model.facts('sysfs', assignability(model))
    devices = dict((device['name'], device) for device in facts['devices'])
    sata = devices['pci_0000_00_17_0']  # the controller of the root disk
    assert sata['passthrough']['eligible'] is True
    assert (sata['assignable'], sata['blockers']) == (False, ['host_in_use'])
    assert (devices[GPU]['assignable'], devices[GPU]['blockers']) == (False, ['group_not_viable'])
    assert (devices[IGPU]['assignable'], devices[IGPU]['blockers']) == (True, [])
    assert devices['net_enp2s0_a8_a1_59_00_00_01']['blockers'] == ['not_eligible']
    assert facts['assignable'] == sorted(facts['assignable'])
    # (no domain holds the NIC nor the mtty mdevs here: model_of reads no domains)
    mdevs = sorted(name for name in devices if name.startswith('mdev_'))
    assert len(mdevs) == 2 and facts['assignable'] == mdevs + ['pci_0000_00_02_0', 'pci_0000_00_14_0', NIC,
                                                               'scsi_0_0_0_0', 'usb_1_3']
    assert set(facts['assignable']) <= set(facts['eligible'])


def test_blockers_follow_the_host_state(sample):
    held = [{'name': 'other', 'active': False, 'hostdevs': [{'type': 'pci', 'address': '0000:00:02.0'}]}]
    assert blockers(model_of(sample, domains=held), IGPU) == ['assigned_elsewhere']
    iommu_off = dict(sample[2], enabled=False)
    assert blockers(model_of(sample, iommu=iommu_off), IGPU) == ['iommu_off']
    assert blockers(model_of(sample, iommu=iommu_off), KEYBOARD) == []  # USB needs no IOMMU


def test_blockers_are_the_codes_domain_hostdev_refuses_with(sample):
    """One source of truth: for every device, the facts' blockers are exactly the problem codes
    of assigning that device alone to a new, empty domain."""
    model = model_of(sample)
    found = assignability(model)
    for name in model.names():
        plan = plan_of_request(model, 'new-domain', [name], config_xml=EMPTY)
        assert found[name] == sorted(set(codes(plan))), name


# -- mediated devices (fixtures.mdev_records) --------------------------------------------------------------

MDEV_STORED = ("<hostdev mode='subsystem' type='mdev' managed='no' model='vfio-pci' display='off'><source>"
               "<address uuid='{uuid}'/></source><alias name='hostdev0'/>"
               "<address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/></hostdev>")


def mdev_domain(*uuids):
    return "<domain type='kvm'><name>guest</name><devices>%s</devices></domain>" % ''.join(
        MDEV_STORED.format(uuid=uuid.upper()) for uuid in uuids)


def test_an_mdev_by_uuid_or_name_is_attached_as_an_mdev_hostdev():
    model = mdev_model()
    result = plan_assignment(model, AssignmentRequest('guest', [UUIDS[1].upper(), MTTY1]), config_xml=EMPTY)
    assert result.problems == [] and result.devices == [MTTY[1], MTTY1] and result.affected == []
    element = ET.fromstring(result.edits[0]['xml'])
    assert (element.get('type'), element.get('model'), element.get('managed')) == ('mdev', 'vfio-pci', None)
    assert element.find('source/address').get('uuid') == UUIDS[1]
    assert '<address uuid="%s" />' % UUIDS[1] in result.diff['after']


def test_an_mdev_the_domain_has_matches_by_uuid_a_rerun_changes_nothing_and_absent_removes_it():
    model = mdev_model()
    stored = mdev_domain(UUIDS[1])  # upper case, a guest address, an alias: libvirt's own form
    rerun = plan_assignment(model, AssignmentRequest('guest', [MTTY[1]]), config_xml=stored)
    assert rerun.problems == [] and rerun.edits == [] and rerun.warnings == [] and not rerun.changed
    removed = plan_assignment(model, AssignmentRequest('guest', [UUIDS[1]], state='absent'), config_xml=stored)
    # Detached with its XML as the domain stores it (libvirt matches what it stores).
    assert removed.removed == [MTTY[1]] and UUIDS[1].upper() in removed.edits[0]['xml']
    assert '<alias name="hostdev0"' in removed.edits[0]['xml']


def test_an_mdev_another_domain_names_is_assigned_elsewhere():
    model = mdev_model(domains=[mdev_held('other', MTTY[2])])
    result = plan_assignment(model, AssignmentRequest('guest', [MTTY[2]]), config_xml=EMPTY)
    assert [(item['code'], item['device']) for item in result.problems] == [('assigned_elsewhere', MTTY[2])]


def test_an_inactive_mdev_is_refused_without_mdev_start():
    model = mdev_model(mdevs(inactive=[MTTY[2]]))
    result = plan_assignment(model, AssignmentRequest('guest', [MTTY[2]]), config_xml=EMPTY)
    assert [(item['code'], item['device']) for item in result.problems] == [('mdev_inactive', MTTY[2])]
    assert result.started == []


def test_mdev_start_plans_the_start_of_inactive_mdevs_before_the_edits_and_shows_it():
    model = mdev_model(mdevs(inactive=[MTTY[2], MTTY[3]]))
    request = AssignmentRequest('guest', [MTTY[1], MTTY[2]], mdev_start=True)
    result = plan_assignment(model, request, config_xml=EMPTY)
    assert result.problems == [] and result.started == [MTTY[2]] and result.added == [MTTY[1], MTTY[2]]
    assert result.result()['started'] == [MTTY[2]] and result.changed
    assert result.diff['after'].startswith('<!-- mdev %s is started first' % MTTY[2])
    # Held already but inactive: the domain could not start, so a present request starts it, and only that.
    held_inactive = plan_assignment(model, AssignmentRequest('guest', [MTTY[3]], mdev_start=True),
                                    config_xml=mdev_domain(UUIDS[3]))
    assert held_inactive.edits == [] and held_inactive.started == [MTTY[3]] and held_inactive.changed
    # Started (active now): the rerun changes nothing.
    started = mdev_model(mdevs())
    assert not plan_assignment(started, AssignmentRequest('guest', [MTTY[3]], mdev_start=True),
                               config_xml=mdev_domain(UUIDS[3])).changed
    # Removal starts nothing.
    assert plan_assignment(model, AssignmentRequest('guest', [MTTY[3]], mdev_start=True, state='absent'),
                           config_xml=mdev_domain(UUIDS[3])).started == []


def test_an_mdev_of_unknown_state_is_assigned_with_a_warning_and_never_started():
    """Some drivers cannot tell an mdev's state: refusing would refuse every mdev there, so it passes, said."""
    model = mdev_model(mdevs(unknown=[MTTY[2]]))
    result = plan_assignment(model, AssignmentRequest('guest', [MTTY[2], MTTY[1]], mdev_start=True), config_xml=EMPTY)
    assert result.problems == [] and sorted(result.added) == [MTTY[1], MTTY[2]] and result.started == []
    assert [warning for warning in result.warnings if 'could not be read' in warning] == [
        'mdev %s (%s, type mtty-2): whether it exists on its parent mtty now could not be read, so it is taken as asked; '
        'if it is only defined, a running guest cannot take it and a domain with it cannot start (start it with '
        'virt.hostdev.mdevs, or virsh nodedev-start)' % (MTTY[2], UUIDS[2])]
    assert not [warning for warning in plan_assignment(model, AssignmentRequest('guest', [MTTY[2]], state='absent'),
                                                       config_xml=mdev_domain(UUIDS[2])).warnings
                if 'could not be read' in warning]


def test_mdev_start_cannot_start_an_mdev_that_is_not_defined():
    model = mdev_model(mdevs(inactive=[MTTY[2]], transient=[MTTY[2]]))
    result = plan_assignment(model, AssignmentRequest('guest', [MTTY[2]], mdev_start=True), config_xml=EMPTY)
    assert result.started == [] and [item['code'] for item in result.problems] == ['mdev_inactive']
