# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The query filters over the sample workstation's facts, full and compact (every test on both), a
host without IOMMU and junk; and their documentation."""

from __future__ import annotations

import copy
import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.virt.hostdev.plugins.filter import hostdev_query
from ansible_collections.virt.hostdev.plugins.filter.hostdev_query import (
    FilterModule,
    hostdev_assignable,
    hostdev_device,
    hostdev_group,
    hostdev_group_endpoints,
    hostdev_held_siblings,
    hostdev_of_kind,
    hostdev_pci_class_name,
)
from ansible_collections.virt.hostdev.plugins.filter.hostdev_select import hostdev_select
from ansible_collections.virt.hostdev.plugins.module_utils.model.facts_format import DEVICE_FACTS_MODES
from ansible_collections.virt.hostdev.plugins.module_utils.model.pci_classes import PCI_KINDS

from support.ansible_types import _AnsibleLazyTemplateDict

FILTER_DIR = os.path.dirname(hostdev_query.__file__)


@pytest.fixture(scope='module', params=DEVICE_FACTS_MODES)
def facts(request, sample_facts):
    """ansible_facts.hostdev of the sample workstation, as hostdev_facts sets it, full and compact."""
    return sample_facts(request.param)


def listed(facts, name):
    return any(device['name'] == name for device in facts['devices'])


def without_iommu(facts):
    """The same host with the IOMMU off: no device has a group."""
    changed = copy.deepcopy(facts)
    for device in changed['devices']:
        device['iommu_group'] = None
        if device.get('pci'):
            device['pci']['iommu_group'] = None
    changed['iommu_groups'] = []
    changed['iommu'].update(enabled=False, groups=0)
    return changed


def test_registered_under_their_names():
    assert sorted(FilterModule().filters()) == [
        'hostdev_assignable', 'hostdev_device', 'hostdev_group', 'hostdev_group_endpoints',
        'hostdev_held_siblings', 'hostdev_of_kind', 'hostdev_pci_class_name']


# -- a device by name, a group by number ------------------------------------------

@pytest.mark.parametrize('reference', ['pci_0000_01_00_0', '0000:01:00.0', '01:00.0', {'name': 'pci_0000_01_00_0'}])
def test_a_device_by_name_or_address(facts, reference):
    device = hostdev_device(facts, reference)
    assert device['name'] == 'pci_0000_01_00_0'
    assert device['driver'] == 'nvidia' and device['pci']['class'] == '0x030000'
    assert device is next(item for item in facts['devices'] if item['name'] == 'pci_0000_01_00_0')


def test_usb_references_too(facts):
    assert hostdev_device(facts, '1.3')['name'] == 'usb_1_3'


@pytest.mark.parametrize('reference, message', [
    ('pci_0000_09_00_0', "'pci_0000_09_00_0' is not a node device name"),
    ('09:00.0', 'no PCI device at address 0000:09:00.0'),
    ('pci_0000_01_00', 'similar names: pci_0000_01_00_0, pci_0000_01_00_1'),
    (3, 'needs a device name such as pci_0000_01_00_0 (or a device dict), not the number 3'),
    (None, 'not null'),
    ({'driver': 'nvidia'}, 'not null'),
])
def test_an_unknown_device_fails_naming_it(facts, reference, message):
    with pytest.raises(AnsibleFilterError, match='^hostdev_device: ') as caught:
        hostdev_device(facts, reference)
    assert message in str(caught.value)


def test_every_group_by_number(facts):
    for group in facts['iommu_groups']:
        answer = hostdev_group(facts, group['number'])
        assert answer['number'] == group['number'] and answer['devices'] == group['devices']
        assert sorted(answer['endpoints'] + answer['bridges']) == group['devices']
    assert hostdev_group(facts, 1) == {
        'number': 1, 'devices': ['pci_0000_00_01_0', 'pci_0000_01_00_0', 'pci_0000_01_00_1'],
        'endpoints': ['pci_0000_01_00_0', 'pci_0000_01_00_1'], 'bridges': ['pci_0000_00_01_0']}
    assert hostdev_group(facts, 9)['bridges'] == ['pci_0000_00_1f_0']  # the ISA bridge (0x0601)
    assert hostdev_group(facts, 0)['endpoints'] == []  # the host bridge alone
    assert hostdev_group(facts, '8') == hostdev_group(facts, 8)


@pytest.mark.parametrize('number, message', [
    (42, 'IOMMU group 42 does not exist on this host: it has 10, numbered 0 to 9'),
    (-1, 'IOMMU group -1 does not exist'),
    ('one', "needs an IOMMU group number, not the string 'one'"),
    (True, 'needs an IOMMU group number, not the boolean true'),
    (None, 'needs an IOMMU group number, not null'),
])
def test_an_unknown_group_fails(facts, number, message):
    with pytest.raises(AnsibleFilterError, match='^hostdev_group: ') as caught:
        hostdev_group(facts, number)
    assert message in str(caught.value)


@pytest.mark.parametrize('number', ['\u0668', '\uff18', ' \u0661\u0660 ', '\u00b2'])
def test_a_group_number_is_ascii_digits_only(facts, number):
    """int() reads Arabic-Indic and full-width digits: '\u0668' was group 8."""
    with pytest.raises(AnsibleFilterError) as caught:
        hostdev_group(facts, number)
    assert str(caught.value) == "hostdev_group: needs an IOMMU group number, not the string '%s'" % number
    assert hostdev_group(facts, ' 8 ')['number'] == 8


def test_messages_name_user_types_not_ansibles(facts):
    with pytest.raises(AnsibleFilterError) as caught:
        hostdev_group(facts, _AnsibleLazyTemplateDict(number=1))
    assert str(caught.value) == 'hostdev_group: needs an IOMMU group number, not a dict'
    with pytest.raises(AnsibleFilterError) as caught:
        hostdev_pci_class_name(_AnsibleLazyTemplateDict())
    assert str(caught.value).endswith('not a dict')


def test_no_group_without_iommu(facts):
    with pytest.raises(AnsibleFilterError, match=r'group 1 does not exist on this host: it has no IOMMU groups'):
        hostdev_group(without_iommu(facts), 1)


# -- group members -------------------------------------------------------------------

@pytest.mark.parametrize('device, endpoints', [
    ('pci_0000_01_00_0', ['pci_0000_01_00_0', 'pci_0000_01_00_1']),    # GPU + audio; the root port aside
    ('pci_0000_00_01_0', ['pci_0000_01_00_0', 'pci_0000_01_00_1']),    # the root port itself is no endpoint
    ('pci_0000_04_01_0', ['pci_0000_04_00_0', 'pci_0000_04_01_0']),    # the bridged e1000 pair
    ('pci_0000_00_02_0', ['pci_0000_00_02_0']),
    ('pci_0000_00_00_0', []),                                          # a host bridge alone in group 0
    ('usb_1_3', ['pci_0000_00_14_0']),                                 # inherited from the xHCI
    ('net_enp4s0_00_1b_21_00_00_40', ['pci_0000_04_00_0', 'pci_0000_04_01_0']),
    ('computer', []),                                                  # no group
])
def test_group_endpoints(facts, device, endpoints):
    if not listed(facts, device) and not device.startswith('pci_'):  # compact facts list no interface
        with pytest.raises(AnsibleFilterError, match='is not a node device name'):
            hostdev_group_endpoints(facts, device)
        return
    assert hostdev_group_endpoints(facts, device) == endpoints


def test_group_endpoints_are_hostdev_selects(facts):
    """One rule, two doors: the filter and hostdev_select's group_endpoints key agree on every device."""
    for device in facts['devices']:
        name = device['name']
        selected = hostdev_select(facts['devices'], "[?name=='%s'].group_endpoints[]" % name)
        assert hostdev_group_endpoints(facts, name) == selected, name


def test_no_group_members_without_iommu(facts):
    off = without_iommu(facts)
    assert all(hostdev_group_endpoints(off, device['name']) == [] for device in off['devices'])
    assert all(hostdev_held_siblings(off, device['name']) == [] for device in off['devices'])


@pytest.mark.parametrize('device, held', [
    ('pci_0000_01_00_0', ['pci_0000_01_00_1']),    # the audio function on snd_hda_intel
    ('pci_0000_01_00_1', ['pci_0000_01_00_0']),    # the GPU on nvidia
    ('pci_0000_00_1f_3', ['pci_0000_00_1f_4']),    # the SMBus controller on i801_smbus
    ('pci_0000_04_00_0', ['pci_0000_04_01_0']),
    ('pci_0000_00_02_0', []),                      # alone
    ('pci_0000_00_01_0', []),                      # a bridge is never assigned
    ('usb_1_3', []),                               # groups do not apply to USB passthrough
])
def test_held_siblings(facts, device, held):
    assert hostdev_held_siblings(facts, device) == held


def test_held_siblings_are_what_group_not_viable_is_about(facts):
    """For every PCI endpoint, blockers has group_not_viable exactly when a sibling is held."""
    for device in facts['devices']:
        if device['type'] == 'pci' and device.get('passthrough', {}).get('reasons') != ['pci_bridge']:
            held = hostdev_held_siblings(facts, device['name'])
            assert ('group_not_viable' in device['blockers']) == bool(held), device['name']


def test_free_drivers_and_domains(facts):
    changed = copy.deepcopy(facts)
    audio = next(device for device in changed['devices'] if device['name'] == 'pci_0000_01_00_1')
    audio['driver'] = 'vfio-pci'
    assert hostdev_held_siblings(changed, 'pci_0000_01_00_0') == []
    audio['driver'] = None
    assert hostdev_held_siblings(changed, 'pci_0000_01_00_0') == []
    audio['assigned_to'] = ['other-vm']
    assert hostdev_held_siblings(changed, 'pci_0000_01_00_0') == ['pci_0000_01_00_1']


# -- kinds ---------------------------------------------------------------------------

@pytest.mark.parametrize('kind, devices, assignable', [
    ('gpu', ['pci_0000_00_02_0', 'pci_0000_01_00_0'], ['pci_0000_00_02_0']),
    ('nic', ['pci_0000_02_00_0', 'pci_0000_04_00_0', 'pci_0000_04_01_0'], []),
    ('usb_controller', ['pci_0000_00_14_0'], ['pci_0000_00_14_0']),
    ('sata', ['pci_0000_00_17_0'], []),                       # the root disk hangs below it
    ('audio', ['pci_0000_00_1f_3', 'pci_0000_01_00_1'], []),
    ('nvme', [], []),
    ('0x0c05', ['pci_0000_00_1f_4'], []),
    ('0x06', ['pci_0000_00_00_0', 'pci_0000_00_01_0', 'pci_0000_00_1c_0', 'pci_0000_00_1c_4',
              'pci_0000_00_1f_0', 'pci_0000_03_00_0'], []),
])
def test_devices_of_a_kind_and_the_assignable_ones(facts, kind, devices, assignable):
    assert hostdev_of_kind(facts, kind) == devices
    assert hostdev_assignable(facts, kind) == assignable


def test_every_assignable_device_without_a_kind(facts):
    assert hostdev_assignable(facts) == facts['assignable'] == [
        'mdev_5e3c1d9a_0f4b_4c2e_8a61_7d2b9e0c4f13_mtty', 'pci_0000_00_02_0', 'pci_0000_00_14_0', 'scsi_0_0_0_0', 'usb_1_3']


@pytest.mark.parametrize('kind, message', [
    ('gpus', "unknown device kind 'gpus': the kinds are accelerator, audio, fibre_channel, gpu, multimedia, nic, "
             "nvme, raid, sas, sata, storage, usb_controller, or a PCI class prefix"),
    (3, 'needs a device kind such as gpu, nic, usb_controller or nvme, not the number 3'),
])
def test_an_unknown_kind_fails_listing_the_kinds(facts, kind, message):
    for plugin in (hostdev_of_kind, hostdev_assignable):
        with pytest.raises(AnsibleFilterError, match='^%s: ' % plugin.__name__) as caught:
            plugin(facts, kind)
        assert message in str(caught.value)


def test_an_unknown_kind_fails_on_an_empty_host_too():
    with pytest.raises(AnsibleFilterError, match='unknown device kind'):
        hostdev_of_kind({'devices': []}, 'gpus')


def test_facts_without_assignable_fail_naming_the_devices(facts):
    old = copy.deepcopy(facts)
    for device in old['devices']:
        del device['assignable']
    with pytest.raises(AnsibleFilterError, match=r'^hostdev_assignable: pci_0000_00_02_0, pci_0000_01_00_0 have no '
                                                 r'assignable key: gather the facts again'):
        hostdev_assignable(old, 'gpu')
    assert hostdev_of_kind(old, 'gpu') == ['pci_0000_00_02_0', 'pci_0000_01_00_0']  # it needs no assignable


# -- compact facts: the same answers as full facts ------------------------------------------

def test_compact_facts_give_the_answers_of_full_facts(sample_facts):
    full, compact = sample_facts('full'), sample_facts('compact')
    assert len(compact['devices']) < len(full['devices'])
    for device in compact['devices']:
        name = device['name']
        assert hostdev_group_endpoints(compact, name) == hostdev_group_endpoints(full, name), name
        assert hostdev_held_siblings(compact, name) == hostdev_held_siblings(full, name), name
        assert hostdev_device(compact, name) == device
    for group in full['iommu_groups']:
        assert hostdev_group(compact, group['number']) == hostdev_group(full, group['number'])
    for kind in sorted(PCI_KINDS) + ['0x06', '0x0c05', '0x0c03', '0x0403']:
        assert hostdev_of_kind(compact, kind) == hostdev_of_kind(full, kind), kind
        assert hostdev_assignable(compact, kind) == hostdev_assignable(full, kind), kind
    assert hostdev_assignable(compact) == hostdev_assignable(full) == compact['assignable']
    # a bridge is known by its group (compact facts name it in iommu_groups only), not as a device
    assert hostdev_group_endpoints(compact, 'pci_0000_00_01_0') == ['pci_0000_01_00_0', 'pci_0000_01_00_1']
    with pytest.raises(AnsibleFilterError, match=r'^hostdev_device: pci_0000_00_01_0 is a PCI bridge, which '
                                                 r'compact facts leave out'):
        hostdev_device(compact, 'pci_0000_00_01_0')


def test_devices_with_nothing_but_a_name():
    bare = {'devices': [{'name': 'pci_0000_01_00_0'}, {'name': 'usb_1_3'}]}
    assert hostdev_device(bare, 'pci_0000_01_00_0') == {'name': 'pci_0000_01_00_0'}
    assert hostdev_group_endpoints(bare, 'pci_0000_01_00_0') == []
    assert hostdev_held_siblings(bare, 'usb_1_3') == []
    assert hostdev_of_kind(bare, 'gpu') == []
    with pytest.raises(AnsibleFilterError, match='no assignable key'):
        hostdev_assignable(bare)


# -- junk input --------------------------------------------------------------------------

@pytest.mark.parametrize('junk, message', [
    ([], 'not a list (hostdev_select is the filter that takes ansible_facts.hostdev.devices)'),
    ({'hostdev': {'devices': []}}, 'not ansible_facts itself (pass ansible_facts.hostdev)'),
    ({'source': 'sysfs', 'iommu': {}}, 'not a dict without a devices list (keys: iommu, source)'),
    ({'devices': {'pci_0000_01_00_0': {}}}, 'not a dict without a devices list'),
    (None, 'not null'),
    ('pci_0000_01_00_0', "not the string 'pci_0000_01_00_0'"),
])
def test_input_must_be_the_facts_dict(junk, message):
    with pytest.raises(AnsibleFilterError, match='^hostdev_group_endpoints expects ansible_facts.hostdev, the dict '
                                                 'virt.hostdev.hostdev_facts sets, ') as caught:
        hostdev_group_endpoints(junk, 'pci_0000_01_00_0')
    assert message in str(caught.value)


@pytest.mark.parametrize('device', ['pci_0000_01_00_0', 7, {'type': 'pci'}, {'name': 3}])
def test_every_device_must_have_a_name(device):
    with pytest.raises(AnsibleFilterError, match=r'^hostdev_of_kind: item 1 of ansible_facts.hostdev.devices is not '
                                                 r'a device \(a dict with a name\)'):
        hostdev_of_kind({'devices': [{'name': 'computer'}, device]}, 'gpu')


def test_junk_values_inside_devices_do_not_break_the_model():
    junk = {'iommu': 'on', 'devices': [
        {'name': 'pci_0000_01_00_0', 'type': 'pci', 'parent': ['computer'], 'iommu_group': 'one',
         'pci': 'nvidia', 'passthrough': 'yes', 'usb': [1]},
        {'name': 'usb_1_3', 'type': 'usb_device', 'parent': 'pci_0000_01_00_0', 'scsi': 'sda'},
    ]}
    assert hostdev_group_endpoints(junk, 'usb_1_3') == []
    assert hostdev_of_kind(junk, 'gpu') == []
    assert hostdev_held_siblings(junk, 'pci_0000_01_00_0') == []


# -- class names ---------------------------------------------------------------------------

@pytest.mark.parametrize('pci_class, name', [
    ('0x030000', 'VGA controller'), ('0x030200', '3D controller'), ('0x038000', 'display controller'),
    ('0x020000', 'Ethernet controller'), ('0x010802', 'NVMe controller'), ('0x0c0330', 'USB controller'),
    ('0x010601', 'SATA controller'), ('0x040300', 'audio device'), ('0x0b4000', 'processor'),
    ('0x088000', 'generic system peripheral'), ('0xff0000', None), ('junk', None), (None, None),
])
def test_pci_class_names(pci_class, name):
    assert hostdev_pci_class_name(pci_class) == name


def test_a_class_name_needs_a_class_code():
    with pytest.raises(AnsibleFilterError, match='^hostdev_pci_class_name expects a PCI class code such as '
                                                 '0x030000, not a dict'):
        hostdev_pci_class_name({'class': '0x030000'})


# -- documentation ---------------------------------------------------------------------------

@pytest.mark.parametrize('name', sorted(FilterModule().filters()))
def test_every_filter_has_its_documentation(name):
    with open(os.path.join(FILTER_DIR, name + '.yml')) as handle:
        doc = yaml.safe_load(handle)
    assert doc['DOCUMENTATION']['name'] == name
    assert doc['DOCUMENTATION']['version_added'] == '0.1.0'
    assert doc['RETURN']['_value']['type']
    examples = yaml.safe_load(doc['EXAMPLES'])
    assert examples and all('virt.hostdev.%s' % name in str(task) for task in examples[:1])


def test_the_documented_kinds_are_the_models():
    with open(os.path.join(FILTER_DIR, 'hostdev_of_kind.yml')) as handle:
        text = yaml.safe_load(handle)['DOCUMENTATION']['options']['kind']['description'][0]
    documented = sorted(word[2:-1] for word in text.split() if word.startswith('V(') and not word.startswith('V(0x'))
    assert documented == sorted(PCI_KINDS)
