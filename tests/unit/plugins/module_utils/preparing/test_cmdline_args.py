"""The IOMMU arguments a kernel command line should hold: conflicts removed, what is missing added."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import (
    CmdlineSpec,
    edited_tokens,
    satisfied,
)

from support.cmdline_specs import ABSENT, AMD, AMD_PT, INTEL, INTEL_PT


def test_spec_rejects_unknown_state_and_vendor():
    with pytest.raises(ValueError):
        CmdlineSpec('on')
    with pytest.raises(ValueError):
        CmdlineSpec('present', 'arm')


@pytest.mark.parametrize('spec, before, after', [
    (INTEL, 'ro quiet', 'ro quiet intel_iommu=on'),
    (INTEL_PT, 'ro quiet', 'ro quiet intel_iommu=on iommu=pt'),
    # AMD's IOMMU has no on option (amd_iommu=on is "Unknown option"): only what turns it off goes
    (AMD, 'ro quiet', 'ro quiet'),
    (AMD, 'ro amd_iommu=off iommu=off quiet', 'ro quiet'),
    (AMD_PT, 'ro amd_iommu=off,fullflush quiet', 'ro amd_iommu=fullflush quiet iommu=pt'),
    (CmdlineSpec('present', None), 'ro iommu=off quiet', 'ro quiet'),
    # conflicts go, whichever vendor they name
    (INTEL, 'intel_iommu=off ro amd_iommu=off iommu=off', 'ro intel_iommu=on'),
    # the off option of a combined value goes, its other options stay
    (INTEL, 'intel_iommu=off,igfx_off ro', 'intel_iommu=igfx_off ro intel_iommu=on'),
    # already there, also inside a combined value
    (INTEL_PT, 'intel_iommu=on,sm_on iommu=pt', 'intel_iommu=on,sm_on iommu=pt'),
    # duplicates of what is added collapse to the first
    (INTEL_PT, 'intel_iommu=on ro intel_iommu=on iommu=pt iommu=pt', 'intel_iommu=on ro iommu=pt'),
    (INTEL_PT, 'iommu=nopt', 'intel_iommu=on iommu=pt'),
    (INTEL, 'iommu=nopt', 'iommu=nopt intel_iommu=on'),
    # absent removes what present adds, and nothing else
    (ABSENT, 'ro intel_iommu=on iommu=pt amd_iommu=on quiet', 'ro quiet'),
    (ABSENT, 'intel_iommu=on,igfx_off iommu=soft intel_iommu=off', 'intel_iommu=igfx_off iommu=soft intel_iommu=off'),
])
def test_edited_tokens(spec, before, after):
    assert edited_tokens(before.split(), spec) == after.split()
    assert edited_tokens(after.split(), spec) == after.split()  # idempotent
    assert satisfied(after.split(), spec)


def test_satisfied():
    assert not satisfied('ro intel_iommu=off'.split(), INTEL)
    assert not satisfied('ro'.split(), INTEL)
    assert satisfied('ro intel_iommu=on'.split(), INTEL)
    assert not satisfied('ro intel_iommu=on'.split(), ABSENT)
    assert satisfied([], ABSENT)
