"""The query and mapping filters in a real playbook: ansible-core hands them its own types
(_AnsibleLazyTemplateDict, _AnsibleTaggedStr, ...), and their messages name the user's."""

import json
import os

import pytest

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks', 'filter_messages.yml')

EXPECTED = {
    'group_of_a_dict': 'hostdev_group: needs an IOMMU group number, not a dict',
    'group_of_arabic_indic_one': "hostdev_group: needs an IOMMU group number, not the string '\u0661'",
    'device_of_a_list': 'hostdev_device: needs a device name such as pci_0000_01_00_0 (or a device dict), not a list',
    'class_name_of_a_dict': 'hostdev_pci_class_name expects a PCI class code such as 0x030000, not a dict',
    'alone_in_facts_of_a_list': 'hostdev_alone_in_group expects ansible_facts.hostdev, the dict '
                                'virt.hostdev.hostdev_facts sets, not a list (hostdev_select is the filter that '
                                'takes ansible_facts.hostdev.devices)',
    'drift_of_a_list_table': 'mapping_drift: the device mappings must be a dict of mapping names, not a list',
    'drift_of_a_device_named_null': 'mapping_drift: expected the facts of virt.hostdev.hostdev_facts '
                                    '(ansible_facts.hostdev or its devices), but the name of device 0 is null, not a '
                                    'node device name such as pci_0000_01_00_0',
    'drift_without_an_address': "mapping_drift: bad device mappings: mapping gpu, host ws1: address is missing: give "
                                "the device's address, as a PCI address (0000:41:00.0), a USB vendor:product "
                                "(046d:c31c) or a USB bus.device (1.3)",
    'select_500_alternatives': 'more than the 150 it may: simplify it',
    'select_500_parentheses': 'nests brackets 500 deep, more than the 32 it may: simplify it',
}


@pytest.fixture(scope='module')
def answers(tmp_path_factory):
    from support import run_playbook
    out = tmp_path_factory.mktemp('filters') / 'answers.json'
    completed = run_playbook(PLAYBOOK, extra_vars={'out': str(out)})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return dict((result['item'], result) for result in json.loads(out.read_text()))


@pytest.mark.parametrize('case', sorted(EXPECTED))
def test_bad_input_gets_a_message_in_the_users_words(answers, case):
    result = answers[case]
    assert result['failed'] is True
    assert EXPECTED[case] in result['msg']
    assert '_Ansible' not in result['msg'] and 'Traceback' not in json.dumps(result)
    assert 'RecursionError' not in result['msg'] and 'recursion depth' not in result['msg']


def test_ignore_given_as_a_string_is_one_property(answers):
    result = answers['device_ignoring_a_string']
    assert result.get('failed') is not True and result['msg'] == 'pci_0000_01_00_0'
