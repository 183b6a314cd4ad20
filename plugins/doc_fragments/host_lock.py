# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The lock is plugins/module_utils/host_lock.py: its DEFAULT_TIMEOUT and the message of HostLockTimeout
# are quoted here (tests/unit/plugins/doc_fragments/test_host_lock_notes.py checks both).


class ModuleDocFragment:
    """What the modules that take the host lock say of it: where it is, how long a run waits, what fails."""

    # No option of its own: Ansible needs the key in a fragment all the same.
    DOCUMENTATION = r'''
options: {}
notes:
  - The host lock is C(/run/virt-hostdev/lock), in a directory created with mode C(0700) by the user that runs
    the module (root, so use C(become)). A second run on the same host waits at most 300 seconds for the lock
    while another virt.hostdev change holds it, then fails with C(another virt.hostdev change on this host held the
    lock /run/virt-hostdev/lock for more than 300 s; try again when it has finished (fuser /run/virt-hostdev/lock
    shows the process holding it)). A run fails at once, without waiting, when that directory is a symbolic link,
    belongs to another user or is writable by group or others, or when the lock file is a symbolic link, not a
    regular file or owned by another user.
'''
