"""The exception root and how a module reports it."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.errors import (
    HostdevError,
    HostdevModelError,
    described,
    reported_to,
)
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import HostLockTimeout

from support.ansible_types import (
    _AnsibleLazyTemplateDict,
    _AnsibleLazyTemplateList,
    _AnsibleTaggedInt,
    _AnsibleTaggedStr,
)


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


@pytest.mark.parametrize('value, words', [
    (None, 'null'), (True, 'the boolean true'), (False, 'the boolean false'), (3, 'the number 3'),
    (1.5, 'the number 1.5'), ('gpu', "the string 'gpu'"), ('', 'an empty string'), ({}, 'a dict'),
    ([], 'a list'), ((1,), 'a list'), ('x' * 100, "the string '%s... (100 characters)'" % ('x' * 80)),
    (_AnsibleLazyTemplateDict(a=1), 'a dict'), (_AnsibleLazyTemplateList([1]), 'a list'),
    (_AnsibleTaggedStr('gpu'), "the string 'gpu'"), (_AnsibleTaggedInt(8), 'the number 8'),
    (b'x', 'a value of type bytes'),
])
def test_a_value_is_described_in_the_users_words(value, words):
    """Never Python's type name (str, NoneType), nor ansible-core's (_AnsibleLazyTemplateDict)."""
    assert described(value) == words
