# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hostdev_select filter over the sample workstation's facts."""

from __future__ import annotations

import jmespath
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.virt.hostdev.plugins.filter.hostdev_select import FilterModule, hostdev_select
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host

from support.ansible_types import _AnsibleLazyTemplateList


@pytest.fixture(scope='module')
def devices(sample_sysfs):
    model, _used, _warnings = read_host('sysfs', 'qemu:///system', sample_sysfs)
    return model.facts('sysfs')['devices']


def test_registered_under_its_name():
    assert FilterModule().filters() == {'hostdev_select': hostdev_select}


def test_device_dicts_and_names_both_work(devices):
    by_dicts = hostdev_select(devices, "[?type=='usb_device' && passthrough.eligible]")
    by_names = hostdev_select(devices, "[?type=='usb_device' && passthrough.eligible].name")
    assert by_dicts == by_names == ['usb_1_3']
    assert hostdev_select(devices, "[?name=='usb_1_3'] | [0]") == ['usb_1_3']
    assert hostdev_select(devices, "[0].name") == ['block_sda_Samsung_SSD_870_EVO_1TB_S6PTNS0T123456A']


def test_group_keys_describe_the_whole_group(devices):
    gpu_alone = ("[?type=='pci' && passthrough.eligible && starts_with(pci.class, '0x0302') "
                 "&& length(group_endpoints) == `1`]")
    assert hostdev_select(devices, gpu_alone) == ['pci_0000_00_02_0']
    # the GPU shares group 1 with its audio function and the root port (a bridge)
    assert hostdev_select(devices, "[?name=='pci_0000_01_00_0'].group_endpoints[]") == \
        ['pci_0000_01_00_0', 'pci_0000_01_00_1']
    assert hostdev_select(devices, "[?name=='pci_0000_01_00_0'].group_devices[]") == \
        ['pci_0000_00_01_0', 'pci_0000_01_00_0', 'pci_0000_01_00_1']
    # a child inherits its parent's group
    assert hostdev_select(devices, "[?name=='usb_1_3'].group_devices[]") == ['pci_0000_00_14_0']
    assert 'group_devices' not in devices[0]  # the facts are not changed


def test_nvidia_3d_controller_matches_nothing_on_this_host(devices):
    nvidia_3d = ("[?type=='pci' && passthrough.eligible && pci.vendor_id=='0x10de' "
                 "&& starts_with(pci.class, '0x0302') && length(group_endpoints) == `1`]")
    assert hostdev_select(devices, nvidia_3d) == []
    assert hostdev_select(devices, "[?name=='nothing'] | [0]") == []


def test_sorted_and_unique(devices):
    assert hostdev_select(devices, "[?name=='usb_1_3' || name=='pci_0000_02_00_0'].[name, name][]") == \
        ['pci_0000_02_00_0', 'usb_1_3']


@pytest.mark.parametrize('expression, message', [
    ("[?type=='pci'", 'invalid JMESPath expression'),
    ("[?type=='pci'].pci.iommu_group", 'must yield devices or device names, not the number 0$'),
    ('', 'needs a JMESPath expression'),
])
def test_bad_expressions_fail_clearly(devices, expression, message):
    with pytest.raises(AnsibleFilterError, match=message):
        hostdev_select(devices, expression)


def test_invalid_expression_carries_jmespath_message(devices):
    with pytest.raises(jmespath.exceptions.ParseError) as original:
        jmespath.compile("[?type=='pci'")
    with pytest.raises(AnsibleFilterError) as caught:
        hostdev_select(devices, "[?type=='pci'")
    assert str(original.value) in str(caught.value)


def test_input_must_be_the_device_list():
    with pytest.raises(AnsibleFilterError, match='ansible_facts.hostdev.devices'):
        hostdev_select({'devices': []}, '[]')


def test_an_unreadable_pci_class_is_no_bridge_and_no_failure(devices):
    broken = [dict(device, pci=dict(device['pci'], **{'class': 'bogus'})) if device['name'] == 'pci_0000_00_01_0'
              else device for device in devices]
    assert hostdev_select(broken, "[?name=='pci_0000_01_00_0'].group_endpoints[]") == \
        ['pci_0000_00_01_0', 'pci_0000_01_00_0', 'pci_0000_01_00_1']


def test_ansible_s_own_list_types_work_in_jmespath_functions(devices):
    wrapped = [dict(device, assigned_to=_AnsibleLazyTemplateList(device['assigned_to'])) for device in devices]
    assert hostdev_select(wrapped, "[?type=='pci' && length(assigned_to) > `0`]") == ['pci_0000_02_00_0']


# -- compact facts ---------------------------------------------------------------------------

@pytest.mark.parametrize('expression', [
    "[?type=='pci' && !contains(blockers, 'not_eligible') && starts_with(pci.class, '0x0302') "
    "&& length(group_endpoints) == `1`]",
    "[?assignable]",
    "[?type=='usb_device' && usb.vendor_id=='0x046d']",
    "[?length(assigned_to) > `0`]",
    "[?contains(blockers, 'group_not_viable')].group_endpoints[]",
    "[?type=='pci' && pci.vendor_id=='0x10de' && driver=='nvidia']",
    "[?iommu_group==`9` && !contains(blockers, 'not_eligible')]",
])
def test_expressions_on_the_compact_keys_select_alike_on_both_forms(sample_facts, expression):
    full, compact = sample_facts('full')['devices'], sample_facts('compact')['devices']
    selected = hostdev_select(compact, expression)
    assert selected and selected == hostdev_select(full, expression)


def test_group_devices_of_compact_facts_lack_the_bridges(sample_facts):
    """The devices alone do not name the bridges compact facts leave out; group_endpoints are whole."""
    compact = sample_facts('compact')['devices']
    assert hostdev_select(compact, "[?name=='pci_0000_01_00_0'].group_devices[]") == \
        hostdev_select(compact, "[?name=='pci_0000_01_00_0'].group_endpoints[]") == \
        ['pci_0000_01_00_0', 'pci_0000_01_00_1']
    assert hostdev_select(compact, "[?name=='usb_1_3'].group_devices[]") == ['pci_0000_00_14_0']
    # the keys only full facts have select nothing here
    assert hostdev_select(compact, "[?passthrough.eligible]") == []


@pytest.mark.parametrize('expression, words', [
    ('[?' + ' || '.join(["name=='x'"] * 500) + ']', 'has 1000 operators and brackets, more than the 150 it may'),
    ('(' * 500 + 'name' + ')' * 500, 'nests brackets 500 deep, more than the 32 it may'),
    ('[' * 40 + 'name' + ']' * 40, 'nests brackets 40 deep, more than the 32 it may'),
    ('@' + '[]' * 500, 'has 500 operators and brackets'),
    ('!' * 500 + 'name', 'has 500 operators and brackets'),
])
def test_a_huge_expression_is_refused_before_it_exhausts_the_recursion(devices, expression, words):
    """500 alternatives or 500 nested parentheses raised RecursionError from inside jmespath."""
    with pytest.raises(AnsibleFilterError) as caught:
        hostdev_select(devices, expression)
    assert str(caught.value).startswith('hostdev_select: the expression %s... (%d characters) '
                                        % (expression[:80], len(expression)))
    assert words in str(caught.value) and 'simplify it' in str(caught.value)


def test_the_bounds_leave_room_for_any_real_selection(devices):
    many = '[?' + ' || '.join(["name=='pci_0000_0%d_00_0'" % bus for bus in range(5)] * 14) + ']'
    assert hostdev_select(devices, many) == [
        'pci_0000_00_00_0', 'pci_0000_01_00_0', 'pci_0000_02_00_0', 'pci_0000_03_00_0', 'pci_0000_04_00_0']
    deep = '[?' + '(' * 30 + "name=='usb_1_3'" + ')' * 30 + ']'
    assert hostdev_select(devices, deep) == ['usb_1_3']


def test_brackets_and_operators_inside_literals_do_not_count(devices):
    """Raw strings, quoted identifiers and JSON literals are data, however many brackets they hold."""
    junk = '(((|| [[ && !'
    assert hostdev_select(devices, "[?name=='%s' || \"x%s\" || `\"%s\"` == name]" % (junk * 40, junk * 40, junk * 40)) == []


@pytest.mark.parametrize('expression, words', [
    (None, 'not null'), (3, 'not the number 3'), (['[0]'], 'not a list'), ('  ', "not the string '  '")])
def test_the_expression_must_be_a_string(devices, expression, words):
    with pytest.raises(AnsibleFilterError) as caught:
        hostdev_select(devices, expression)
    assert str(caught.value) == 'hostdev_select needs a JMESPath expression (a non-empty string), %s' % words


def test_compact_facts_vf_rows_are_selected_as_devices(tmp_path):
    """Compact facts give a PF's VFs as rows of its pci.sriov.vfs table: the expressions on VFs that work
    on full facts select the same VFs there."""
    from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import host_facts

    from fixtures.synthetic_host import synthetic_sriov_sysfs
    model, used, _warnings = read_host('sysfs', 'qemu:///system', synthetic_sriov_sysfs(str(tmp_path), pfs=2, vfs=4))
    full, compact = host_facts(model, used, 'full'), host_facts(model, used, 'compact')
    assert all(device['pci']['sriov']['physical_function'] is None for device in compact['devices'])  # in tables
    for expression in ("[?pci.sriov.physical_function=='0000:82:00.0' && assignable]",
                       "[?pci.sriov.physical_function=='0000:81:00.0' && pci.sriov.vf_index==`3`]",
                       "[?type=='pci' && length(group_endpoints) == `1` && !contains(blockers, 'not_eligible')]"):
        selected = hostdev_select(compact['devices'], expression)
        assert selected and selected == hostdev_select(full['devices'], expression), expression
    assert hostdev_select(compact['devices'], "[?pci.sriov.vf_index==`3`]") == ['pci_0000_81_10_3', 'pci_0000_82_10_3']
