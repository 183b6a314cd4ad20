# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel command line specs the preparing tests ask for, declared once."""

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import CmdlineSpec

INTEL = CmdlineSpec('present', 'intel')
INTEL_PT = CmdlineSpec('present', 'intel', passthrough=True)
AMD = CmdlineSpec('present', 'amd')
AMD_PT = CmdlineSpec('present', 'amd', passthrough=True)
ABSENT = CmdlineSpec('absent')
