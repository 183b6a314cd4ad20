# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The argument spec of these options is host_files_argument_spec() in
# plugins/module_utils/host_files.py: change both together. The default of command_timeout
# differs per module, so each module documents it.


class ModuleDocFragment:
    """The options of the modules that change the files a host boots with."""

    DOCUMENTATION = r'''
options:
  root:
    description:
      - The root of the filesystem whose files are read and written, V(/) on a real host.
      - Meant for tests on a fake tree laid out like a host (C(etc/), C(proc/), C(sys/), C(boot/)).
        The commands the module runs (found on E(PATH), then in the sbin directories) still act on
        the running system with the host's own paths, so never point it at another system's tree.
    type: path
    default: /
notes:
  - Files are written atomically (a temporary file in the same directory, then a rename), keeping the
    mode and owner of the file they replace. A symbolic link where the module reads or writes a file, or
    at any directory below O(root) on the way to it, is refused, naming it, so a planted link never makes
    the module read or write another file. A FIFO, socket or device where a file is expected is refused
    without being opened (it could block), in check mode too.
  - Each command runs under C(timeout) with the limit of O(command_timeout), which must be above 0 (checked
    before anything changes); one that does not finish in time is asked to stop, killed with every process
    it started when it ignores that, and the task fails saying it timed out.
'''
