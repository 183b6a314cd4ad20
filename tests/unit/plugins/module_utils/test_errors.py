"""The exception root and how a module reports it."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, HostdevModelError, reported_to
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import HostLockTimeout


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self):
        self.failure = None

    def fail_json(self, **result):
        self.failure = result
        raise Failed()


def test_a_hostdev_error_fails_the_module_with_its_message_and_result_keys():
    module = FakeModule()
    with pytest.raises(Failed):
        with reported_to(module):
            raise HostdevError('2 problems', problems=[{'code': 'iommu_off'}], rolled_back=True)
    assert module.failure == {'msg': '2 problems', 'problems': [{'code': 'iommu_off'}], 'rolled_back': True}


def test_other_exceptions_are_not_hidden():
    module = FakeModule()
    with pytest.raises(KeyError):
        with reported_to(module):
            raise KeyError('bug')
    assert module.failure is None


@pytest.mark.parametrize('subclass', [HostdevModelError, HostLockTimeout])
def test_every_failure_of_the_collection_shares_the_root(subclass):
    assert issubclass(subclass, HostdevError)
