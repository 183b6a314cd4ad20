"""host_facts: facts that are not facts get a message naming what is wrong, never a TypeError."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import model_of_facts

EXPECTED = 'expected the facts of virt.hostdev.hostdev_facts (ansible_facts.hostdev or its devices), '
GPU = {'name': 'pci_0000_01_00_0', 'type': 'pci', 'iommu_group': 1}


@pytest.mark.parametrize('facts, words', [
    ('ws1', "not the string 'ws1'"),
    (None, 'not null'),
    ({'source': 'sysfs'}, 'not a dict without a devices list'),
    ({'devices': [GPU, {'name': None, 'type': 'pci'}]},
     'but the name of device 1 is null, not a node device name such as pci_0000_01_00_0'),
    ({'devices': [{'name': 5}, GPU]}, 'but the name of device 0 is the number 5, not a node device name such as '
                                      'pci_0000_01_00_0'),
    ([GPU, {'type': 'pci'}], 'but device 1 of them has no name'),
    ([GPU, 'pci_0000_02_00_0'], "but device 1 of them is the string 'pci_0000_02_00_0', not a device (a dict with "
                                "a name)"),
])
def test_facts_that_are_not_facts_are_named(facts, words):
    with pytest.raises(HostdevError) as caught:
        model_of_facts(facts)
    assert caught.value.message == EXPECTED + words


def test_the_error_type_is_the_callers():
    class Mine(HostdevError):
        pass
    with pytest.raises(Mine):
        model_of_facts([{'name': None}], Mine)
