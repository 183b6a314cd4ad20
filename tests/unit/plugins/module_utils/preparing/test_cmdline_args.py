"""The IOMMU arguments of a kernel command line: tokens, one line kept byte for byte, GRUB's files, grubby."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import (
    CmdlineSpec,
    edit_grub_files,
    edit_value,
    edited_tokens,
    effective_grub_cmdline,
    grubby_entries,
    grubby_tokens,
    grubby_updates,
    satisfied,
    shell_assignments,
    vendor_from_acpi_tables,
    vendor_from_cpuinfo,
)

INTEL = CmdlineSpec('present', 'intel')
INTEL_PT = CmdlineSpec('present', 'intel', passthrough=True)
AMD = CmdlineSpec('present', 'amd')
ABSENT = CmdlineSpec('absent')


@pytest.mark.parametrize('text, vendor', [
    ('processor\t: 0\nvendor_id\t: GenuineIntel\n', 'intel'),
    ('processor\t: 0\nvendor_id\t: AuthenticAMD\n', 'amd'),
    ('vendor_id : HygonGenuine\n', 'amd'),
    ('processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n', None),
    (None, None),
])
def test_vendor_from_cpuinfo(text, vendor):
    assert vendor_from_cpuinfo(text) == vendor


def test_spec_rejects_unknown_state_and_vendor():
    with pytest.raises(ValueError):
        CmdlineSpec('on')
    with pytest.raises(ValueError):
        CmdlineSpec('present', 'arm')


@pytest.mark.parametrize('spec, before, after', [
    (INTEL, 'ro quiet', 'ro quiet intel_iommu=on'),
    (INTEL_PT, 'ro quiet', 'ro quiet intel_iommu=on iommu=pt'),
    (AMD, 'ro quiet', 'ro quiet amd_iommu=on'),
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


GRUB = '''# comment GRUB_CMDLINE_LINUX="x"
GRUB_DEFAULT=0
GRUB_CMDLINE_LINUX_DEFAULT="quiet  splash intel_iommu=off"
GRUB_CMDLINE_LINUX="console=ttyS0 iommu=off"  # trailing comment
#GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_TERMINAL=console
'''


def test_grub_edits_only_argument_tokens():
    (after,) = edit_grub_files([GRUB], INTEL_PT)
    assert after == GRUB.replace('"quiet  splash intel_iommu=off"', '"quiet  splash intel_iommu=on iommu=pt"') \
                        .replace('"console=ttyS0 iommu=off"', '"console=ttyS0"')
    assert edit_grub_files([after], INTEL_PT) == [after]
    (removed,) = edit_grub_files([after], ABSENT)
    assert removed == GRUB.replace('"quiet  splash intel_iommu=off"', '"quiet  splash"') \
                          .replace('"console=ttyS0 iommu=off"', '"console=ttyS0"')


@pytest.mark.parametrize('line, expected', [
    ("GRUB_CMDLINE_LINUX_DEFAULT='quiet'\n", "GRUB_CMDLINE_LINUX_DEFAULT='quiet intel_iommu=on'\n"),
    ('GRUB_CMDLINE_LINUX_DEFAULT=quiet\n', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n'),
    ('GRUB_CMDLINE_LINUX_DEFAULT=\n', 'GRUB_CMDLINE_LINUX_DEFAULT=intel_iommu=on\n'),
    ('export GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n', 'export GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n'),
    ('  GRUB_CMDLINE_LINUX_DEFAULT=""\n', '  GRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=on"\n'),
    # an escaped quote does not end the value
    ('GRUB_CMDLINE_LINUX_DEFAULT="x=\\"a b\\" quiet"\n', 'GRUB_CMDLINE_LINUX_DEFAULT="x=\\"a b\\" quiet intel_iommu=on"\n'),
    # a value on two lines (a removed token takes the whitespace before it along)
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet\n  intel_iommu=off splash"\n', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash intel_iommu=on"\n'),
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet\n  splash intel_iommu=off"\n', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet\n  splash intel_iommu=on"\n'),
])
def test_grub_quoting(line, expected):
    assert edit_grub_files([line], INTEL) == [expected]


def test_grub_without_default_line_gets_one():
    text = 'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="ro intel_iommu=off"'
    assert edit_grub_files([text], INTEL) == ['GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="ro"\n'
                                              'GRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=on"\n']


def test_grub_arguments_already_in_cmdline_linux_are_enough():
    text = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="intel_iommu=on"\n'
    assert edit_grub_files([text], INTEL) == [text]


def test_grub_d_override_is_the_one_edited():
    main = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=off"\n'
    cloud = 'GRUB_CMDLINE_LINUX_DEFAULT="console=tty1 console=ttyS0"\n'
    assert effective_grub_cmdline([main, cloud]) == 'console=tty1 console=ttyS0'
    assert edit_grub_files([main, cloud], INTEL) == [
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n',
        'GRUB_CMDLINE_LINUX_DEFAULT="console=tty1 console=ttyS0 intel_iommu=on"\n']


def test_effective_cmdline_expands_references():
    texts = ['GRUB_CMDLINE_LINUX="ro"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n',
             'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT intel_iommu=on ${GRUB_CMDLINE_LINUX} $OTHER"\n']
    assert effective_grub_cmdline(texts) == 'ro quiet intel_iommu=on ro $OTHER'
    assert edit_grub_files(texts, INTEL) == texts


def test_shell_assignments_skip_comments_and_other_variables():
    found = shell_assignments(GRUB)
    assert [(item.name, GRUB[item.start:item.end]) for item in found] == [
        ('GRUB_CMDLINE_LINUX_DEFAULT', 'quiet  splash intel_iommu=off'),
        ('GRUB_CMDLINE_LINUX', 'console=ttyS0 iommu=off')]


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
    assert grubby_updates(entries, AMD) == [('/boot/vmlinuz-5.14.0-427.el9.x86_64', ['amd_iommu=on'], []),
                                            ('/boot/vmlinuz-5.14.0-362.el9.x86_64', ['amd_iommu=on'], ['iommu=off'])]
    done = [(kernel, ' '.join(edited_tokens(args.split(), AMD))) for kernel, args in entries]
    assert grubby_updates(done, AMD) == []
    assert grubby_updates(done, ABSENT) == [('ALL', [], ['amd_iommu=on'])]


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


@pytest.mark.parametrize('names, vendor', [
    (['APIC', 'DMAR', 'FACP'], 'intel'),
    (['APIC', 'IVRS'], 'amd'),
    (['APIC', 'FACP', 'SSDT1'], None),
    (['DMAR', 'IVRS'], None),
    ([], None),
])
def test_vendor_from_acpi_tables(names, vendor):
    assert vendor_from_acpi_tables(names) == vendor
