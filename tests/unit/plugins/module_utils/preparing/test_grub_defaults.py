"""GRUB's files read as /bin/sh and GRUB read them, edited keeping every other byte, refused naming the line."""

import subprocess

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import satisfied
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.grub_defaults import (
    edit_grub_files,
    effective_grub_arguments,
    effective_grub_cmdline,
    shell_assignments,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.kernel_words import UnreadableBootFile

from support.cmdline_specs import ABSENT, AMD_PT, INTEL, INTEL_PT

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
