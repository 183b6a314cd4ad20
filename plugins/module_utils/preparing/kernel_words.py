# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: a kernel command line as the kernel reads it, and one rewritten keeping its bytes. No I/O.

An argument is a word as the kernel takes it (``kernel_argument``: double quotes around the
word or its value are not part of it, so ``"iommu=off"`` is iommu=off). ``edit_value`` rewrites
one command line (such as /etc/kernel/cmdline) changing only argument words and keeping every
other byte of the text. What cannot be read without guessing is an ``UnreadableBootFile`` naming
the file and the line; GRUB's files and the mechanisms raise it too.
"""

from typing import List, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import (
    CmdlineSpec,
    kept_arguments,
    missing_tokens,
)


class UnreadableBootFile(HostdevError):
    """A boot file, or a line of it, that cannot be read without running it or guessing: refused."""

    def __init__(self, path: str, line: Optional[int], what: str) -> None:
        where = '%s line %d' % (path, line) if line else path
        super().__init__('refusing %s: %s; nothing was changed' % (where, what))
        self.path = path
        self.line = line


# -- kernel words ------------------------------------------------------------------

_KERNEL_SPACE = ' \t\n\r\x0b\x0c'


def kernel_argument(word: str) -> str:
    """A word of a command line as the kernel's parser (lib/cmdline.c next_arg) takes it: a double
    quote that opens the word, or the value after its first =, is not part of the argument, nor is
    the quote that closes it ("iommu=off" and iommu="off" are iommu=off)."""
    quoted = word.startswith('"')
    body = word[1:] if quoted else word
    key, sep, value = body.partition('=')
    if sep and key:
        if value.startswith('"'):
            value = value[1:]
            return '%s=%s' % (key, value[:-1] if value.endswith('"') else value)
        return '%s=%s' % (key, value[:-1] if quoted and value.endswith('"') else value)
    return body[:-1] if quoted and body.endswith('"') else body


def kernel_spans(text: str, path: str = 'the command line') -> List[Tuple[int, int]]:
    """(start, end) of every word of a command line, split as the kernel splits it: at whitespace
    outside double quotes. A quote that is never closed is refused (the kernel would take the rest
    of the line as one argument)."""
    spans = []
    index = 0
    while index < len(text):
        if text[index] in _KERNEL_SPACE:
            index += 1
            continue
        start = index
        quoted = False
        while index < len(text) and (quoted or text[index] not in _KERNEL_SPACE):
            quoted = quoted != (text[index] == '"')
            index += 1
        if quoted:
            raise UnreadableBootFile(path, text.count('\n', 0, start) + 1,
                                     'a double quote (") that is never closed, so the kernel would take the rest '
                                     'of the command line as one argument')
        spans.append((start, index))
    return spans


def kernel_arguments(text: str, path: str = 'the command line') -> List[str]:
    """The arguments of a command line (/proc/cmdline, /etc/kernel/cmdline), as the kernel takes them."""
    return [kernel_argument(text[start:end]) for start, end in kernel_spans(text, path)]


# -- one command line, bytes kept ------------------------------------------------


def edit_value(text: str, spec: CmdlineSpec, append: Optional[List[str]] = None,
               path: str = 'the command line') -> str:
    """text (a command line read as the kernel reads it) with its arguments transformed and exact
    duplicates of wanted tokens dropped, then append added after the last word (the spec's missing
    tokens when append is None).

    A removed word takes the whitespace before it along (the first word, the whitespace after
    it); every other byte stays as it was. A word is rewritten only when its argument changes.
    """
    spans = kernel_spans(text, path)
    words = [text[start:end] for start, end in spans]
    decisions = kept_arguments([kernel_argument(word) for word in words], spec)
    out = text[:spans[0][0]] if spans else text
    kept: List[str] = []
    for index, (new, word) in enumerate(zip(decisions, words)):
        if new is None:
            continue
        if kept:
            out += text[spans[index - 1][1]:spans[index][0]]
        out += word if new == kernel_argument(word) else new
        kept.append(new)
    added = missing_tokens(kept, spec) if append is None else append
    if added:
        out += (' ' if kept else '') + ' '.join(added)
    return out + (text[spans[-1][1]:] if spans else '')
