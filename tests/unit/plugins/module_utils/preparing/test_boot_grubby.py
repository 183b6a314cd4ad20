"""grubby's boot entries: what --info=ALL says, and the calls that give each entry what the spec wants."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_grubby import (
    grubby_entries,
    grubby_tokens,
    grubby_updates,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import edited_tokens, satisfied

from support.cmdline_specs import ABSENT, AMD, AMD_PT, INTEL, INTEL_PT

GRUBBY_INFO = '''index=0
kernel="/boot/vmlinuz-5.14.0-427.el9.x86_64"
args="ro crashkernel=auto rhgb quiet"
root="UUID=1"
index=1
kernel="/boot/vmlinuz-5.14.0-362.el9.x86_64"
args="ro iommu=off quiet"
root="UUID=1"
'''


def test_grubby_entries_and_arguments():
    entries = grubby_entries(GRUBBY_INFO)
    assert entries == [('/boot/vmlinuz-5.14.0-427.el9.x86_64', 'ro crashkernel=auto rhgb quiet'),
                       ('/boot/vmlinuz-5.14.0-362.el9.x86_64', 'ro iommu=off quiet')]
    # the entries need different changes: one call each
    assert grubby_updates(entries, AMD_PT) == [('/boot/vmlinuz-5.14.0-427.el9.x86_64', ['iommu=pt'], []),
                                               ('/boot/vmlinuz-5.14.0-362.el9.x86_64', ['iommu=pt'], ['iommu=off'])]
    done = [(kernel, ' '.join(edited_tokens(args.split(), AMD_PT))) for kernel, args in entries]
    assert grubby_updates(done, AMD_PT) == []
    assert grubby_updates(done, ABSENT) == [('ALL', [], ['iommu=pt'])]
    # AMD without passthrough: only the entry with iommu=off changes
    assert grubby_updates(entries, AMD) == [('/boot/vmlinuz-5.14.0-362.el9.x86_64', [], ['iommu=off'])]


@pytest.mark.parametrize('before, spec, after', [
    # grubby --args would replace intel_iommu=igfx_off: the added option joins it
    ('ro intel_iommu=igfx_off quiet', INTEL, 'ro intel_iommu=igfx_off,on quiet'),
    ('ro intel_iommu=off,igfx_off', INTEL, 'ro intel_iommu=igfx_off,on'),
    ('intel_iommu=igfx_off intel_iommu=sm_on ro', INTEL, 'intel_iommu=igfx_off,sm_on,on ro'),
    ('ro iommu=soft', INTEL_PT, 'ro iommu=soft,pt intel_iommu=on'),
    # nothing added beside one of its key: as edited_tokens
    ('ro intel_iommu=on,igfx_off', INTEL, 'ro intel_iommu=on,igfx_off'),
    ('ro intel_iommu=on,igfx_off', ABSENT, 'ro intel_iommu=igfx_off'),
    ('ro intel_iommu=off', INTEL, 'ro intel_iommu=on'),
])
def test_grubby_tokens_never_leave_two_arguments_of_an_added_key(before, spec, after):
    tokens = grubby_tokens(before.split(), spec)
    assert ' '.join(tokens) == after
    assert satisfied(tokens, spec)  # what the check after grubby reads back is already right


def test_grubby_updates_join_options_grubby_would_replace():
    entries = [('/boot/vmlinuz-a', 'ro intel_iommu=igfx_off'), ('/boot/vmlinuz-b', 'ro')]
    assert grubby_updates(entries, INTEL) == [('/boot/vmlinuz-a', ['intel_iommu=igfx_off,on'], ['intel_iommu=igfx_off']),
                                              ('/boot/vmlinuz-b', ['intel_iommu=on'], [])]
    same = [('/boot/vmlinuz-a', 'ro intel_iommu=igfx_off'), ('/boot/vmlinuz-b', 'ro intel_iommu=igfx_off')]
    assert grubby_updates(same, INTEL) == [('ALL', ['intel_iommu=igfx_off,on'], ['intel_iommu=igfx_off'])]
