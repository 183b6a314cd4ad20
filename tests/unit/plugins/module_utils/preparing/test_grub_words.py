"""Words as GRUB's own parser splits them: a value bound for grub.cfg, and a line of grub.cfg."""

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.grub_words import (
    GrubWordError,
    grub_cfg_words,
    grub_words,
)


@pytest.mark.parametrize('value, words', [
    ('quiet  splash', ['quiet', 'splash']),
    # quotes and backslashes are GRUB's, not part of the argument
    ('a \'b c\' "d\\"e" f\\ g', ['a', 'b c', 'd"e', 'f g']),
    ('quiet\\\nsplash', ['quietsplash']),
])
def test_a_value_is_split_as_grub_splits_it(value, words):
    assert [word for word, _indexes in grub_words(list(value))] == words


def test_each_word_names_the_items_it_is_made_of():
    assert grub_words(list('a "b"')) == [('a', [0]), ('b', [2, 3, 4])]
    # a reference (None: not known here) makes its word unknown, not empty
    assert grub_words(['x', None, ' ', 'y']) == [(None, [0, 1]), ('y', [3])]


@pytest.mark.parametrize('value, what', [
    ('quiet $vt_handoff', 'an unquoted $, which GRUB reads as one of its own variables'),
    ('a;b', 'an unquoted ;, which GRUB reads as part of its own command syntax'),
    ('"a $b"', 'a $ inside double quotes, which GRUB reads as one of its own variables'),
    ("'quiet", "a ' quote that is never closed, so GRUB would join it with what follows"),
    ('quiet\\', 'a backslash at its end'),
])
def test_what_grub_would_read_otherwise_is_refused_saying_what(value, what):
    with pytest.raises(GrubWordError, match='^%s$' % what.replace('$', '\\$')):
        grub_words(list(value))


def test_a_grub_cfg_line_is_split_and_an_unbalanced_one_at_whitespace():
    assert grub_cfg_words('\tlinux /vmlinuz root=/dev/sda1 "acpi_osi=!Windows 2012" ro') == [
        'linux', '/vmlinuz', 'root=/dev/sda1', 'acpi_osi=!Windows 2012', 'ro']
    assert grub_cfg_words('linux /vmlinuz "quiet') == ['linux', '/vmlinuz', '"quiet']
