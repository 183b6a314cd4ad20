# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the kernel arguments of GRUB's files, read and edited without running them. No I/O.

GRUB's command line comes from the ``GRUB_CMDLINE_LINUX`` and ``GRUB_CMDLINE_LINUX_DEFAULT``
assignments of /etc/default/grub and /etc/default/grub.d/*.cfg, read as /bin/sh reads them
(shell_file), then as GRUB's parser reads the values (grub_words). ``shell_assignments`` finds the
assignments, ``effective_grub_arguments`` gives what the kernel gets, and ``edit_grub_files``
changes only argument words, keeping every other byte. What cannot be read without running the
file is an ``UnreadableBootFile`` naming the file and the line, never a guess.
"""

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import shown
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import (
    CmdlineSpec,
    changes,
    kept_arguments,
    missing_tokens,
    satisfied,
    transform_token,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.grub_words import (
    GrubItem,
    GrubWordError,
    grub_words,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.kernel_words import (
    UnreadableBootFile,
    kernel_argument,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.shell_file import (
    Piece,
    ShellSyntaxError,
    Word,
    read_shell,
    read_word,
)

GRUB_VARIABLES = ('GRUB_CMDLINE_LINUX', 'GRUB_CMDLINE_LINUX_DEFAULT')
# How messages name GRUB's files when the caller gives no path.
GRUB_DEFAULTS_LABEL = '/etc/default/grub'
GRUB_DEFAULTS_DIR_LABEL = '/etc/default/grub.d'
# Where arguments are added: the variable of the normal (not recovery) menu entries.
GRUB_ADD_TO = 'GRUB_CMDLINE_LINUX_DEFAULT'

# What an argument written into a value may hold: read alike by the shell, GRUB and the kernel.
_SAFE_ARGUMENT = re.compile(r'[\w.,:=/+@%-]+')

_NAME_RE = re.compile(r'(?<![\w$])(?<!\$\{)(%s)\b' % '|'.join(sorted(GRUB_VARIABLES, reverse=True)))
_SOURCING = ('.', 'source', 'eval')
_HINT = ('kernel_cmdline edits only assignments it can read without running the file: write the arguments '
         'literally into one GRUB_CMDLINE_LINUX_DEFAULT="..." line')


@dataclass(frozen=True)
class Assignment:
    """One unconditional shell assignment of a GRUB_CMDLINE variable: the value is text[start:end]
    (quotes included), its pieces as the shell reads them (shell_file.Piece)."""

    name: str
    line: int
    start: int
    end: int
    pieces: Tuple[Piece, ...]

    def value(self, values: Optional[Dict[str, str]] = None) -> str:
        """The value the shell gives the variable, references to the GRUB_CMDLINE variables expanded
        from values (their values before this assignment)."""
        return ''.join(piece.text if piece.kind == 'char' else (values or {}).get(piece.text, '')
                       for piece in self.pieces)


def shell_assignments(text: str, path: str = GRUB_DEFAULTS_LABEL) -> List[Assignment]:
    """The assignments of GRUB_CMDLINE_LINUX(_DEFAULT) in a shell file, in order, read as /bin/sh
    reads it (comments, quotes, continuations). Refused (UnreadableBootFile) is whatever makes the
    variables depend on running the file: an assignment under if, case, a loop, a function, a subshell,
    && or ||, in a pipeline or the background, or for one command only (NAME=value cmd); +=; a value
    taken from another variable, a command substitution, backquotes or an expansion; a command that
    names the variables (unset, read, readonly, for NAME in); . or source or eval; and a file the
    shell reader cannot follow (an unterminated quote, a here-document)."""
    try:
        commands = read_shell(text)
    except ShellSyntaxError as error:
        raise UnreadableBootFile(path, error.line, 'the shell cannot read it: %s' % error.message)
    found: List[Assignment] = []
    for command in commands:
        words = command.words
        if command.kind != 'simple':
            _refuse_names(path, text, command.line, words, 'a %s header' % command.kind)
            continue
        prefix = []
        for word in words:
            parsed = word.assignment()
            if parsed is None:
                break
            prefix.append((word, parsed))
        rest = words[len(prefix):]
        first = rest[0].plain() if rest else None
        if first in _SOURCING:
            raise UnreadableBootFile(path, command.line, '"%s" runs shell code from elsewhere, whose assignments '
                                     'cannot be read without running it; %s' % (first, _HINT))
        for word, (name, operator, pieces, start) in prefix:
            if name not in GRUB_VARIABLES:
                continue
            if rest:
                raise UnreadableBootFile(path, command.line, '%s is set for the command "%s" only, not for the '
                                         'file; %s' % (name, shown(first or '?', 40), _HINT))
            found.append(_assignment(path, command.line, command.context, word, name, operator, pieces, start))
        if first == 'export':
            for word in rest[1:]:
                parsed = word.assignment()
                if parsed is not None and parsed[0] in GRUB_VARIABLES:
                    found.append(_assignment(path, command.line, command.context, word, *parsed))
                elif word.plain() not in GRUB_VARIABLES:
                    _refuse_names(path, text, command.line, [word], 'export')
            continue
        _refuse_names(path, text, command.line, rest + command.redirections, shown(first or '', 40))
    return found


def _assignment(path: str, line: int, context: Optional[str], word: Word, name: str, operator: str,
                pieces: List[Piece], start: int) -> Assignment:
    if operator != '=':
        raise UnreadableBootFile(path, line, '%s+= appends to the variable, which /bin/sh does not do (it is a '
                                 'bash extension); %s' % (name, _HINT))
    if context:
        raise UnreadableBootFile(path, line, '%s is assigned inside %s, so its value depends on running the file; '
                                 '%s' % (name, context, _HINT))
    for piece in pieces:
        if piece.kind == 'param' and piece.text not in GRUB_VARIABLES:
            raise UnreadableBootFile(path, line, '%s takes part of its value from the variable $%s, which is not '
                                     'known without running the file; %s' % (name, piece.text, _HINT))
        if piece.kind == 'expansion':
            what = 'a command\'s output' if piece.text[:2] == '$(' or piece.text[:1] == '`' else 'an expansion'
            raise UnreadableBootFile(path, line, '%s takes part of its value from %s (%s), which is not known '
                                     'without running the file; %s' % (name, what, shown(piece.text, 40), _HINT))
    if pieces and pieces[0].kind == 'char' and pieces[0].text == '~' and not pieces[0].quote:
        raise UnreadableBootFile(path, line, '%s starts with an unquoted ~, which the shell expands to a home '
                                 'directory; %s' % (name, _HINT))
    return Assignment(name, line, start, word.end, tuple(pieces))


def _refuse_names(path: str, text: str, line: int, words: List[Word], command: str) -> None:
    """Refuse a command that names a GRUB_CMDLINE variable otherwise than reading it ($NAME)."""
    for word in words:
        match = _NAME_RE.search(text[word.start:word.end])
        if match:
            raise UnreadableBootFile(path, line, '"%s" names %s, and may change it in a way that cannot be read '
                                     'without running the file; %s' % (command, match.group(1), _HINT))


def _items(pieces: Sequence[Piece]) -> List[GrubItem]:
    return [piece.text if piece.kind == 'char' else None for piece in pieces]


def _words_of(path: str, assignment: Assignment) -> List[Tuple[Optional[str], List[int]]]:
    try:
        return grub_words(_items(assignment.pieces))
    except GrubWordError as error:
        raise UnreadableBootFile(path, assignment.line, 'the value of %s has %s; %s'
                                 % (assignment.name, error, _HINT))


def grub_reading(texts: List[str], paths: Optional[List[str]] = None) -> Tuple[Dict[str, str], List[List[Assignment]]]:
    """(the value each GRUB_CMDLINE variable has after the files are sourced in order, the assignments
    of each file); refused (UnreadableBootFile) as shell_assignments and grub_words say."""
    names = _paths(texts, paths)
    values = dict((name, '') for name in GRUB_VARIABLES)
    found = []
    for path, text in zip(names, texts):
        assignments = shell_assignments(text, path)
        for assignment in assignments:
            _words_of(path, assignment)
            values[assignment.name] = assignment.value(values)
        found.append(assignments)
    return values, found


def effective_grub_cmdline(texts: List[str], paths: Optional[List[str]] = None) -> str:
    """The arguments the normal menu entries get: GRUB_CMDLINE_LINUX then _DEFAULT, as the files
    (sourced in order) leave them; $GRUB_CMDLINE_LINUX(_DEFAULT) references expand to the value
    before the assignment."""
    values, _found = grub_reading(texts, paths)
    return ' '.join(value for value in (values[name] for name in GRUB_VARIABLES) if value.strip())


def effective_grub_arguments(texts: List[str], paths: Optional[List[str]] = None) -> List[str]:
    """The arguments of effective_grub_cmdline as the kernel gets them (after GRUB's and the kernel's
    parsers)."""
    values, _found = grub_reading(texts, paths)
    arguments: List[str] = []
    for name in GRUB_VARIABLES:
        try:
            arguments += [kernel_argument(str(word)) for word, _items in grub_words(list(values[name]))]
        except GrubWordError as error:
            raise UnreadableBootFile(_paths(texts, paths)[-1], None, 'the value %s gets from the files has %s'
                                     % (name, error))
    return arguments


def _paths(texts: List[str], paths: Optional[List[str]]) -> List[str]:
    if paths is not None:
        return list(paths)
    return [GRUB_DEFAULTS_LABEL] + ['%s/file %d' % (GRUB_DEFAULTS_DIR_LABEL, index) for index in range(1, len(texts))]


def edit_grub_files(texts: List[str], spec: CmdlineSpec, paths: Optional[List[str]] = None) -> List[str]:
    """texts (/etc/default/grub first, then grub.d/*.cfg in the order GRUB sources them) with the
    spec applied: every assignment of both variables has its arguments transformed, and what the
    effective command line still misses is appended to the last GRUB_CMDLINE_LINUX_DEFAULT
    assignment (a new line at the end of the first file when there is none).

    Every edited assignment is read again and must give the words intended (else it is written
    again as NAME="..." with the same words), and the result must be what the spec wants with no
    other argument changed: otherwise the edit is refused, naming the line.
    """
    names = _paths(texts, paths)
    before = effective_grub_arguments(texts, names)
    _values, found = grub_reading(texts, names)
    edited = [_edit_assignments(path, text, assignments, spec)
              for path, text, assignments in zip(names, texts, found)]
    missing = missing_tokens(effective_grub_arguments(edited, names), spec)
    if missing:
        edited = _append(names, edited, missing)
    after = effective_grub_arguments(edited, names)
    _check_edit(names, texts, edited, before, after, spec)
    return edited


def _append(names: List[str], edited: List[str], missing: List[str]) -> List[str]:
    edited = list(edited)
    for index in range(len(edited) - 1, -1, -1):
        targets = [item for item in shell_assignments(edited[index], names[index]) if item.name == GRUB_ADD_TO]
        if targets:
            edited[index] = _edit_one(names[index], edited[index], targets[-1], None, missing)
            return edited
    first = edited[0] if edited else ''
    line = '%s="%s"\n' % (GRUB_ADD_TO, ' '.join(missing))
    edited[0:1] = [first + ('' if first.endswith('\n') or not first else '\n') + line]
    return edited


def _edit_assignments(path: str, text: str, assignments: List[Assignment], spec: CmdlineSpec) -> str:
    for assignment in reversed(assignments):
        text = _edit_one(path, text, assignment, spec, [])
    return text


_KEEP = object()


def _edit_one(path: str, text: str, assignment: Assignment, spec: Optional[CmdlineSpec], append: List[str]) -> str:
    """text with one assignment's value edited: its words transformed as spec says (None: all kept)
    and append added after its last word."""
    words = _words_of(path, assignment)
    literal = [kernel_argument(word) for word, _indexes in words if word is not None]
    decisions = iter(kept_arguments(literal, spec) if spec is not None else literal)
    plan: List[object] = []  # per word: _KEEP, None (removed) or the new argument
    for word, _indexes in words:
        if word is None:
            plan.append(_KEEP)
            continue
        new = next(decisions)
        plan.append(_KEEP if new == kernel_argument(word) else new)
    if all(step is _KEEP for step in plan) and not append:
        return text
    for written in plan + list(append):
        if isinstance(written, str) and not _SAFE_ARGUMENT.fullmatch(written):
            raise UnreadableBootFile(path, assignment.line, 'the argument %s cannot be written safely'
                                     % shown(written, 40))
    intended = _intended(assignment, words, plan, append)
    pieces = assignment.pieces
    spans = [(pieces[indexes[0]].start, pieces[indexes[-1]].end) for _word, indexes in words]
    if spans:
        out = text[assignment.start:spans[0][0]]
        first = True
        for index, (step, span) in enumerate(zip(plan, spans)):
            if step is None:
                continue
            if not first:
                out += text[spans[index - 1][1]:span[0]]
            out += text[span[0]:span[1]] if step is _KEEP else str(step)
            first = False
        out += (' ' if append and not first else '') + ' '.join(append) + text[spans[-1][1]:assignment.end]
    else:
        value = text[assignment.start:assignment.end]
        point = assignment.end - 1 if value[-1:] in ('"', "'") and len(value) >= 2 else assignment.end
        out = text[assignment.start:point] + ' '.join(append) + text[point:assignment.end]
    for value in (out, _quoted(assignment, words, plan, append)):
        if value is not None and _reads_as(value, intended):
            return text[:assignment.start] + value + text[assignment.end:]
    raise UnreadableBootFile(path, assignment.line, 'the value of %s cannot be edited so that the shell reads what '
                             'was meant; %s' % (assignment.name, _HINT))


def _signature(pieces: Sequence[Piece], words: List[Tuple[Optional[str], List[int]]]) -> List[object]:
    """What each word is: its argument as GRUB passes it, or (for a word with a reference) its pieces."""
    return [word if word is not None else tuple((pieces[index].kind, pieces[index].text) for index in indexes)
            for word, indexes in words]


def _intended(assignment: Assignment, words: List[Tuple[Optional[str], List[int]]], plan: List[object],
              append: List[str]) -> List[object]:
    signature = _signature(assignment.pieces, words)
    return [item if step is _KEEP else step for item, step in zip(signature, plan) if step is not None] + list(append)


def _quoted(assignment: Assignment, words: List[Tuple[Optional[str], List[int]]], plan: List[object],
            append: List[str]) -> str:
    """The value written again as one double-quoted string holding the intended words."""
    parts = []
    for (_word, indexes), step in zip(words, plan):
        if step is None:
            continue
        if step is _KEEP:
            parts.append(''.join(_in_double_quotes(assignment.pieces[index]) for index in indexes))
        else:
            parts.append(str(step))
    return '"%s"' % ' '.join(parts + list(append))


def _in_double_quotes(piece: Piece) -> str:
    if piece.kind == 'param':
        return '${%s}' % piece.text
    return '\\' + piece.text if piece.text in '$`"\\' else piece.text


def _reads_as(value: str, intended: List[object]) -> bool:
    """Whether the shell reads value (an assignment's value, quotes included) as one word whose GRUB
    words are intended."""
    try:
        word, end = read_word(value, 0)
        words = grub_words(_items(word.pieces))
    except (ShellSyntaxError, GrubWordError):
        return False
    if end != len(value) or any(piece.kind == 'expansion' or piece.text not in GRUB_VARIABLES
                                for piece in word.pieces if piece.kind != 'char'):
        return False
    return _signature(word.pieces, words) == intended


def _check_edit(names: List[str], texts: List[str], edited: List[str], before: List[str], after: List[str],
                spec: CmdlineSpec) -> None:
    """Refuse an edit that would not give what the spec wants, or would change another argument."""
    where = names[0] if names else GRUB_DEFAULTS_LABEL
    for path, old, new in zip(names, texts, edited):
        was = [item.name for item in shell_assignments(old, path)]
        if [item.name for item in shell_assignments(new, path)][:len(was)] != was:
            raise UnreadableBootFile(path, None, 'the edit would change which assignments the file makes; %s' % _HINT)
    if not satisfied(after, spec):
        raise UnreadableBootFile(where, None, 'after the edit, the command line GRUB would build is %s, still not '
                                 'what was asked (%s); %s' % (' '.join(after) or 'empty',
                                                              ' '.join(spec.wanted) or 'the removals', _HINT))
    added, removed = changes(before, after)
    meant = set(token for token in (transform_token(item, spec) for item in before) if token) | set(spec.wanted)
    wrong = [item for item in removed if transform_token(item, spec) == item and item not in spec.wanted] + \
        [item for item in added if item not in meant]
    if wrong:
        raise UnreadableBootFile(where, None, 'the edit would also change %s; %s' % (', '.join(wrong), _HINT))
