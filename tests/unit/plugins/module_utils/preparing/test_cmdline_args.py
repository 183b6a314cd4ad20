"""The IOMMU arguments of a kernel command line: tokens, one line kept byte for byte, GRUB's files, grubby."""

import subprocess

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import (
    CmdlineSpec,
    UnreadableBootFile,
    edit_grub_files,
    edit_value,
    edited_tokens,
    effective_grub_arguments,
    effective_grub_cmdline,
    grubby_entries,
    grubby_tokens,
    grubby_updates,
    kernel_argument,
    kernel_arguments,
    kernel_cmdline_refusals,
    satisfied,
    shell_assignments,
    vendor_from_acpi_tables,
    vendor_from_cpuinfo,
    vendor_from_iommu_units,
)

INTEL = CmdlineSpec('present', 'intel')
INTEL_PT = CmdlineSpec('present', 'intel', passthrough=True)
AMD = CmdlineSpec('present', 'amd')
AMD_PT = CmdlineSpec('present', 'amd', passthrough=True)
NO_VENDOR = CmdlineSpec('present', None)
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
             'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT intel_iommu=on ${GRUB_CMDLINE_LINUX}"\n']
    assert effective_grub_cmdline(texts) == 'ro quiet intel_iommu=on ro'
    assert edit_grub_files(texts, INTEL) == texts
    # an argument that comes through a reference is removed where it is written
    texts[0] = texts[0].replace('"quiet"', '"quiet iommu=off"')
    assert edit_grub_files(texts, INTEL) == [texts[0].replace(' iommu=off', ''), texts[1]]


def test_a_value_from_another_variable_is_refused_not_read_as_written():
    """$OTHER was once kept as the text '$OTHER': success was reported while the shell saw iommu=off."""
    texts = ['OTHER="iommu=off"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet $OTHER"\n']
    for read in (effective_grub_cmdline, lambda texts: edit_grub_files(texts, INTEL)):
        with pytest.raises(UnreadableBootFile) as caught:
            read(texts)
        assert caught.value.message.startswith(
            'refusing /etc/default/grub line 2: GRUB_CMDLINE_LINUX_DEFAULT takes part of its value from the variable '
            '$OTHER, which is not known without running the file; ')
        assert caught.value.message.endswith('; nothing was changed')


def test_shell_assignments_skip_comments_and_other_variables():
    found = shell_assignments(GRUB)
    assert [(item.name, item.value()) for item in found] == [
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


@pytest.mark.parametrize('names, vendor', [
    (['APIC', 'DMAR', 'FACP'], 'intel'),
    (['APIC', 'IVRS'], 'amd'),
    (['APIC', 'FACP', 'SSDT1'], None),
    (['DMAR', 'IVRS'], None),
    ([], None),
])
def test_vendor_from_acpi_tables(names, vendor):
    assert vendor_from_acpi_tables(names) == vendor


@pytest.mark.parametrize('names, vendor', [
    (['dmar0', 'dmar1'], 'intel'),
    (['ivhd0'], 'amd'),
    (['smmu3.0x0000000009050000'], None),
    (['dmar0', 'ivhd0'], None),
    ([], None),
])
def test_vendor_from_iommu_units(names, vendor):
    assert vendor_from_iommu_units(names) == vendor


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


def test_kernel_cmdline_file_with_a_backslash_at_a_line_end_is_refused():
    with pytest.raises(UnreadableBootFile, match='^refusing /etc/kernel/cmdline line 1: the line ends with a '
                                                 'backslash, but this file is no shell file'):
        kernel_cmdline_refusals('root=/dev/sda1 \\\nquiet\n', '/etc/kernel/cmdline')
    kernel_cmdline_refusals('root=/dev/sda1\nquiet\n', '/etc/kernel/cmdline')


@pytest.mark.parametrize('text, expected', [
    # a quoted argument inside the value is the argument (GRUB and the kernel strip the quotes)
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet \\"iommu=off\\""\n', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n'),
    ('GRUB_CMDLINE_LINUX_DEFAULT=\'quiet "iommu=off" splash\'\n',
     'GRUB_CMDLINE_LINUX_DEFAULT=\'quiet splash intel_iommu=on\'\n'),
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet \'intel_iommu=off\'"\n', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n'),
    # a backslash-newline continues the value: understood, and never left dangling
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet \\\n    intel_iommu=off"\n', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n'),
    ('GRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=off \\\n  quiet"\n', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n'),
    ('GRUB_CMDLINE_LINUX_DEFAULT=quiet\\\nsplash\n', 'GRUB_CMDLINE_LINUX_DEFAULT="quietsplash intel_iommu=on"\n'),
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet" \\\n  # a comment\n',
     'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on" \\\n  # a comment\n'),
    # an edit that would change how the shell splits the value is written again as one quoted value
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet "iommu=off\n', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n'),
    ('GRUB_CMDLINE_LINUX_DEFAULT="a\\"b" iommu=off\n', None),
])
def test_grub_values_read_as_the_shell_and_grub_read_them(text, expected):
    if expected is None:  # not an assignment of the whole line: refused, never edited
        with pytest.raises(UnreadableBootFile):
            edit_grub_files([text], INTEL)
        return
    (after,) = edit_grub_files([text], INTEL)
    assert after == expected
    assert subprocess.run(['sh', '-n'], input=after, text=True, check=False).returncode == 0
    assert satisfied(effective_grub_arguments([after]), INTEL)
    assert edit_grub_files([after], INTEL) == [after]


@pytest.mark.parametrize('text, line, what', [
    ('X="iommu=off"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet ${X}"\n', 2, 'GRUB_CMDLINE_LINUX_DEFAULT takes part of its '
     'value from the variable $X, which is not known without running the file'),
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet $(cat /etc/iommu-args)"\n', 1, "GRUB_CMDLINE_LINUX_DEFAULT takes part of its "
     "value from a command's output ($(cat /etc/iommu-args)), which is not known without running the file"),
    ('GRUB_CMDLINE_LINUX="`cat /etc/iommu-args`"\n', 1, "GRUB_CMDLINE_LINUX takes part of its value from a command's "
     "output (`cat /etc/iommu-args`)"),
    ('GRUB_CMDLINE_LINUX="${EXTRA:-iommu=off}"\n', 1, 'GRUB_CMDLINE_LINUX takes part of its value from an expansion '
     '(${EXTRA:-iommu=off})'),
    ('GRUB_TIMEOUT=5\nif [ -d /sys/firmware/efi ]; then\n  GRUB_CMDLINE_LINUX="iommu=off"\nfi\n', 3,
     'GRUB_CMDLINE_LINUX is assigned inside an if, so its value depends on running the file'),
    ('[ -e /etc/iommu-off ] && GRUB_CMDLINE_LINUX_DEFAULT="iommu=off"\n', 1,
     'GRUB_CMDLINE_LINUX_DEFAULT is assigned inside a list with &&'),
    ('case "$(uname -m)" in\n  x86_64) GRUB_CMDLINE_LINUX="iommu=off" ;;\nesac\n', 2,
     'GRUB_CMDLINE_LINUX is assigned inside a case'),
    ('setup() {\n  GRUB_CMDLINE_LINUX="iommu=off"\n}\nsetup\n', 2, 'GRUB_CMDLINE_LINUX is assigned inside a function'),
    ('GRUB_CMDLINE_LINUX="iommu=off" &\n', 1, 'GRUB_CMDLINE_LINUX is assigned inside the background (&)'),
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX_DEFAULT+=" iommu=off"\n', 2,
     'GRUB_CMDLINE_LINUX_DEFAULT+= appends to the variable, which /bin/sh does not do'),
    ('GRUB_CMDLINE_LINUX="iommu=off" true\n', 1, 'GRUB_CMDLINE_LINUX is set for the command "true" only'),
    ('GRUB_CMDLINE_LINUX="iommu=off"\nunset GRUB_CMDLINE_LINUX\n', 2,
     '"unset" names GRUB_CMDLINE_LINUX, and may change it'),
    ('read GRUB_CMDLINE_LINUX < /etc/iommu-args\n', 1, '"read" names GRUB_CMDLINE_LINUX'),
    ('for GRUB_CMDLINE_LINUX in iommu=off; do :; done\n', 1, '"a for header" names GRUB_CMDLINE_LINUX'),
    ('. /etc/default/grub.local\n', 1, '"." runs shell code from elsewhere'),
    ('eval "GRUB_CMDLINE_LINUX=iommu=off"\n', 1, '"eval" runs shell code from elsewhere'),
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=off\n', 1,
     'the shell cannot read it: a double quote (") that is never closed'),
    ("GRUB_CMDLINE_LINUX_DEFAULT='quiet\n", 1, "the shell cannot read it: a single quote (') that is never closed"),
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\ncat <<EOF\nGRUB_CMDLINE_LINUX=x\nEOF\n', 2,
     'the shell cannot read it: a here-document (<<), which this reader does not follow'),
    ("GRUB_CMDLINE_LINUX_DEFAULT='quiet $vt_handoff'\n", 1, 'the value of GRUB_CMDLINE_LINUX_DEFAULT has an unquoted '
     '$, which GRUB reads as one of its own variables'),
    ('GRUB_CMDLINE_LINUX_DEFAULT="quiet \\"iommu=off"\n', 1, 'the value of GRUB_CMDLINE_LINUX_DEFAULT has a " quote '
     'that is never closed'),
    ('GRUB_CMDLINE_LINUX_DEFAULT=~/args\n', 1, 'GRUB_CMDLINE_LINUX_DEFAULT starts with an unquoted ~'),
])
def test_what_cannot_be_read_without_running_the_file_is_refused_naming_the_line(text, line, what):
    """Once, such files were edited anyway or reported as done while the shell gave the kernel iommu=off."""
    for read in (effective_grub_cmdline, lambda texts: edit_grub_files(texts, INTEL),
                 lambda texts: edit_grub_files(texts, ABSENT)):
        with pytest.raises(UnreadableBootFile) as caught:
            read([text])
        assert caught.value.line == line
        assert caught.value.message.startswith('refusing /etc/default/grub line %d: %s' % (line, what)), \
            caught.value.message
        assert caught.value.message.endswith('; nothing was changed')


def test_a_refusal_names_the_file_it_is_in():
    texts = ['GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n', 'GRUB_CMDLINE_LINUX_DEFAULT="$(echo iommu=off)"\n']
    with pytest.raises(UnreadableBootFile, match='^refusing /root/etc/default/grub.d/50-cloud.cfg line 1: '):
        edit_grub_files(texts, INTEL, ['/root/etc/default/grub', '/root/etc/default/grub.d/50-cloud.cfg'])


def test_conditions_and_substitutions_elsewhere_in_the_file_are_fine():
    text = ('GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\n'
            'if [ -x /usr/bin/foo ]; then GRUB_TIMEOUT=3; fi\n'
            'echo "$GRUB_CMDLINE_LINUX" > /dev/null\n'
            'export GRUB_CMDLINE_LINUX_DEFAULT="quiet iommu=off"\n'
            'export GRUB_CMDLINE_LINUX\n')
    (after,) = edit_grub_files([text], AMD_PT)
    assert after == text.replace('"quiet iommu=off"', '"quiet iommu=pt"')
