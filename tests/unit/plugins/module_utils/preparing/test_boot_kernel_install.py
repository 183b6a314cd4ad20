"""/etc/kernel/cmdline as kernel-install reads it."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_kernel_install import kernel_cmdline_refusals
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.kernel_words import UnreadableBootFile


def test_kernel_cmdline_file_with_a_backslash_at_a_line_end_is_refused():
    with pytest.raises(UnreadableBootFile, match='^refusing /etc/kernel/cmdline line 1: the line ends with a '
                                                 'backslash, but this file is no shell file'):
        kernel_cmdline_refusals('root=/dev/sda1 \\\nquiet\n', '/etc/kernel/cmdline')
    kernel_cmdline_refusals('root=/dev/sda1\nquiet\n', '/etc/kernel/cmdline')
