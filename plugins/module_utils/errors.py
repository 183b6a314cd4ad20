# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the one exception root of virt.hostdev, and how a module reports it.

Every failure meant for the user (bad input, an unreadable host, a libvirt
error, a refused assignment) is a HostdevError: a message fit to show, and the
extra result keys a module returns with it. A module catches this one type.
"""

import contextlib
from typing import Any, Iterator


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
