# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: words as GRUB's own parser splits them. No I/O.

GRUB reads the kernel arguments again: 10_linux writes them into grub.cfg's linux line, whose
words GRUB's parser splits (quotes and backslashes, $variables of GRUB's). ``grub_words`` splits a
value about to be written there, refusing what GRUB would read otherwise (``GrubWordError``);
``grub_cfg_words`` splits a line of the generated grub.cfg.
"""

import shlex
from typing import List, Optional, Sequence, Tuple

# A word of a value is a list of the value's characters (None: a reference to a GRUB_CMDLINE variable,
# not known here).
GrubItem = Optional[str]


class GrubWordError(Exception):
    """A value GRUB would split otherwise than the shell meant (the message says what is in it)."""


def grub_words(items: Sequence[GrubItem]) -> List[Tuple[Optional[str], List[int]]]:
    """(the word as GRUB passes it, or None when it holds a reference; the indexes of its items)."""
    words: List[Tuple[Optional[str], List[int]]] = []
    indexes: List[int] = []
    chars: List[str] = []
    opaque = False
    quote = ''
    index = 0
    while index < len(items):
        item = items[index]
        if item is not None and not quote and item in ' \t\n':
            if indexes:
                words.append((None if opaque else ''.join(chars), indexes))
            indexes, chars, opaque = [], [], False
            index += 1
            continue
        indexes.append(index)
        if item is None:
            opaque = True
        elif quote == "'":
            if item == "'":
                quote = ''
            else:
                chars.append(item)
        elif quote == '"':
            following = items[index + 1] if index + 1 < len(items) else None
            if item == '"':
                quote = ''
            elif item == '\\' and following in ('$', '"', '\\'):
                index += 1
                indexes.append(index)
                chars.append(str(following))
            elif item == '$':
                raise GrubWordError('a $ inside double quotes, which GRUB reads as one of its own variables')
            else:
                chars.append(item)
        elif item in ';|&<>$':
            raise GrubWordError('an unquoted %s, which GRUB reads as %s' % (
                item, 'one of its own variables' if item == '$' else 'part of its own command syntax'))
        elif item in '\'"':
            quote = item
        elif item == '\\':
            if index + 1 >= len(items):
                raise GrubWordError('a backslash at its end')
            index += 1
            indexes.append(index)
            following = items[index]
            if following is None:
                opaque = True
            elif following != '\n':
                chars.append(following)
        else:
            chars.append(item)
        index += 1
    if quote:
        raise GrubWordError('a %s quote that is never closed, so GRUB would join it with what follows' % quote)
    if indexes:
        words.append((None if opaque else ''.join(chars), indexes))
    return words


def grub_cfg_words(line: str) -> List[str]:
    """The words of a line of grub.cfg, as GRUB's parser splits them (its $variables kept as written)."""
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()
