"""A kernel command line as the kernel reads it, and one line rewritten keeping its bytes."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import satisfied
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.kernel_words import (
    UnreadableBootFile,
    edit_value,
    kernel_argument,
    kernel_arguments,
)

from support.cmdline_specs import ABSENT, INTEL, INTEL_PT


@pytest.mark.parametrize('before, after', [
    ('', 'intel_iommu=on iommu=pt'),
    ('  ', '  intel_iommu=on iommu=pt'),
    ('quiet', 'quiet intel_iommu=on iommu=pt'),
    ('quiet\n', 'quiet intel_iommu=on iommu=pt\n'),
    ('intel_iommu=off  quiet', 'quiet intel_iommu=on iommu=pt'),
    ('quiet   intel_iommu=off\tsplash  ', 'quiet\tsplash intel_iommu=on iommu=pt  '),
    (' a  b\t\tc iommu=pt intel_iommu=on ', ' a  b\t\tc iommu=pt intel_iommu=on '),
])
def test_edit_value_changes_only_argument_tokens(before, after):
    assert edit_value(before, INTEL_PT) == after
    assert edit_value(after, INTEL_PT) == after


def test_edit_value_keeps_other_bytes_when_removing():
    assert edit_value('a  intel_iommu=on  b\n', ABSENT) == 'a  b\n'
    assert edit_value('iommu=pt a', ABSENT) == 'a'
    assert edit_value('iommu=pt', ABSENT) == ''


@pytest.mark.parametrize('word, argument', [
    ('iommu=off', 'iommu=off'),
    ('"iommu=off"', 'iommu=off'),
    ('iommu="off"', 'iommu=off'),
    ('acpi_osi="!Windows 2012"', 'acpi_osi=!Windows 2012'),
    ('"acpi_osi=!Windows 2012"', 'acpi_osi=!Windows 2012'),
    ('"quiet"', 'quiet'),
    ('a"b', 'a"b'),
])
def test_kernel_argument_strips_quotes_as_the_kernel_does(word, argument):
    assert kernel_argument(word) == argument


def test_kernel_arguments_split_at_whitespace_outside_quotes():
    assert kernel_arguments('ro  "iommu=off" acpi_osi="!Windows 2012"\n quiet') == [
        'ro', 'iommu=off', 'acpi_osi=!Windows 2012', 'quiet']
    with pytest.raises(UnreadableBootFile, match=r'^refusing /etc/kernel/cmdline line 2: a double quote \("\) that is '
                                                 r'never closed, so the kernel would take the rest'):
        kernel_arguments('ro\nquiet "iommu=off\n', '/etc/kernel/cmdline')


def test_edit_value_sees_quoted_arguments():
    """A quoted "iommu=off" was not seen: the IOMMU stayed off and nothing said so."""
    assert edit_value('ro "iommu=off" quiet\n', INTEL) == 'ro quiet intel_iommu=on\n'
    assert edit_value('ro intel_iommu="off,igfx_off" quiet', INTEL) == 'ro intel_iommu=igfx_off quiet intel_iommu=on'
    assert edit_value('ro "intel_iommu=on" x="a b"', INTEL) == 'ro "intel_iommu=on" x="a b"'
    assert satisfied(kernel_arguments('ro "intel_iommu=on"'), INTEL)
