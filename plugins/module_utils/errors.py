# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the one exception root of virt.hostdev, and how a module reports it.

Every failure meant for the user (bad input, an unreadable host, a libvirt
error, a refused assignment) is a HostdevError: a message fit to show, and the
extra result keys a module returns with it. A module catches this one type.
"""

import contextlib
from collections.abc import Mapping
from typing import Any, Iterator

# How much of a user's input a message quotes: enough to recognise it, never a flood.
QUOTE_LIMIT = 80


def shown(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """A user's input as a message quotes it: cut to limit characters, saying how long it was."""
    text = str(value)
    if len(text) <= limit:
        return text
    return '%s... (%d characters)' % (text[:limit], len(text))


def described(value: Any) -> str:
    """What a user's value is, in the words of YAML and JSON: null, the number 3, the string 'x', a list, a dict.

    Never Python's type name: ansible-core hands plugins its own subclasses (_AnsibleLazyTemplateDict,
    _AnsibleTaggedStr), which mean nothing to the user who wrote the value.
    """
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'the boolean %s' % ('true' if value else 'false')
    if isinstance(value, (int, float)):
        return 'the number %s' % shown(value)
    if isinstance(value, str):
        return "the string '%s'" % shown(value) if value else 'an empty string'
    if isinstance(value, Mapping):
        return 'a dict'
    if isinstance(value, (list, tuple)):
        return 'a list'
    return 'a value of type %s' % type(value).__name__


class HostdevError(Exception):
    """A failure with a message fit for the user; result: extra keys for the module's failure."""

    def __init__(self, message: str, **result: Any) -> None:
        super().__init__(message)
        self.message = message
        self.result = result


@contextlib.contextmanager
def reported_to(module: Any) -> Iterator[None]:
    """Fail the AnsibleModule with the message and result keys of a HostdevError in the block."""
    try:
        yield
    except HostdevError as error:
        module.fail_json(msg=error.message, **error.result)


class HostdevModelError(HostdevError):
    """A question the model cannot answer because the input names something wrong."""


class UnknownDeviceError(HostdevModelError):
    pass


class DeviceReferenceError(HostdevModelError):
    pass


class UnknownKindError(HostdevModelError):
    pass
