# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the IOMMU arguments of a kernel command line, and where they are written. No I/O.

A ``CmdlineSpec`` says what the command line should hold: with state present, Intel's
``intel_iommu=on`` (AMD's IOMMU is on whenever the firmware describes it: ``amd_iommu=`` has
no ``on``), ``iommu=pt`` with passthrough, and none of ``intel_iommu=off``, ``amd_iommu=off``,
``iommu=off``; with state absent, none of the arguments present adds. Each argument is judged
alone (``transform_token``), and what is still missing is appended (``missing_tokens``).

An argument is a word as the kernel takes it (``kernel_argument``: double quotes around the
word or its value are not part of it, so ``"iommu=off"`` is iommu=off). The rewriters change
only argument words and keep every other byte of the text: ``edit_value`` (one command line,
such as /etc/kernel/cmdline), ``edit_grub_files`` (the ``GRUB_CMDLINE_LINUX`` and
``GRUB_CMDLINE_LINUX_DEFAULT`` assignments of /etc/default/grub and /etc/default/grub.d/*.cfg,
read as /bin/sh reads them: shell_file) and ``grubby_entries`` (what ``grubby --info=ALL``
prints). What cannot be read without running the file is an ``UnreadableBootFile`` naming the
file and the line, never a guess.
"""

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, shown
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.shell_file import (
    Piece,
    ShellSyntaxError,
    Word,
    read_shell,
    read_word,
)

STATES = ('present', 'absent')
VENDORS = ('intel', 'amd')
# The kernel parameter of each vendor's IOMMU driver (its off option turns that IOMMU off).
VENDOR_PARAMETERS = {'intel': 'intel_iommu', 'amd': 'amd_iommu'}
# The argument that turns a vendor's IOMMU on. AMD's driver has no on option (amd_iommu=on logs
# "Unknown option"): its IOMMU is on whenever the firmware's IVRS table describes it.
VENDOR_ON = {'intel': 'intel_iommu=on'}
# /proc/cpuinfo vendor_id -> vendor (Hygon's Dhyana CPUs carry AMD's IOMMU).
CPU_VENDORS = {'GenuineIntel': 'intel', 'AuthenticAMD': 'amd', 'HygonGenuine': 'amd'}
# The ACPI table the firmware describes each vendor's IOMMU with (/sys/firmware/acpi/tables):
# the DMA remapping table of Intel VT-d, the I/O virtualization reporting structure of AMD-Vi.
ACPI_IOMMU_TABLES = {'DMAR': 'intel', 'IVRS': 'amd'}
# The names the running kernel gives each vendor's IOMMU units in /sys/class/iommu.
IOMMU_UNIT_PREFIXES = {'dmar': 'intel', 'ivhd': 'amd'}
PASSTHROUGH_TOKEN = 'iommu=pt'

GRUB_VARIABLES = ('GRUB_CMDLINE_LINUX', 'GRUB_CMDLINE_LINUX_DEFAULT')
# How messages name GRUB's files when the caller gives no path.
GRUB_DEFAULTS_LABEL = '/etc/default/grub'
GRUB_DEFAULTS_DIR_LABEL = '/etc/default/grub.d'
# Where arguments are added: the variable of the normal (not recovery) menu entries.
GRUB_ADD_TO = 'GRUB_CMDLINE_LINUX_DEFAULT'


@dataclass(frozen=True)
class CmdlineSpec:
    """What the IOMMU arguments of a command line should be.

    vendor: intel, amd, or None. Only intel adds an argument (intel_iommu=on); conflicts are
    removed whatever the vendor.
    passthrough: iommu=pt (DMA of host devices bypasses translation; guests keep theirs).
    """

    state: str = 'present'
    vendor: Optional[str] = None
    passthrough: bool = False

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError('state must be one of %s' % ', '.join(STATES))
        if self.vendor is not None and self.vendor not in VENDORS:
            raise ValueError('vendor must be one of %s' % ', '.join(VENDORS))

    @property
    def wanted(self) -> List[str]:
        """The tokens state present adds, in the order they are appended."""
        if self.state != 'present':
            return []
        tokens = [VENDOR_ON[self.vendor]] if self.vendor in VENDOR_ON else []
        return tokens + ([PASSTHROUGH_TOKEN] if self.passthrough else [])


def vendor_from_acpi_tables(names: List[str]) -> Optional[str]:
    """intel or amd from the names of the ACPI tables (/sys/firmware/acpi/tables) when they describe
    exactly one vendor's IOMMU; None otherwise (no such table, or both).

    The table says which IOMMU the platform has, whatever the CPU: a virtual machine with a
    virtual Intel IOMMU may run on an AMD CPU (QEMU's default TCG CPU says AuthenticAMD).
    """
    found = set(ACPI_IOMMU_TABLES[name] for name in names if name in ACPI_IOMMU_TABLES)
    return found.pop() if len(found) == 1 else None


def vendor_from_iommu_units(names: List[str]) -> Optional[str]:
    """intel or amd from the names of the running IOMMU units (/sys/class/iommu: dmar0, ivhd0) when
    they are all one vendor's; None otherwise (the IOMMU is off, or another kind such as an SMMU)."""
    found = set(vendor for name in names for prefix, vendor in IOMMU_UNIT_PREFIXES.items()
                if name.startswith(prefix))
    return found.pop() if len(found) == 1 else None


def vendor_from_cpuinfo(text: Optional[str]) -> Optional[str]:
    """intel or amd from the first vendor_id of /proc/cpuinfo; None when unknown (ARM, no file)."""
    match = re.search(r'^vendor_id\s*:\s*(\S+)', text or '', re.M)
    return CPU_VENDORS.get(match.group(1)) if match else None


def _options(token: str) -> Tuple[str, Optional[List[str]]]:
    """(key, comma-separated options) of a token; options None without '='."""
    key, sep, value = token.partition('=')
    return key, (value.split(',') if sep else None)


def transform_token(token: str, spec: CmdlineSpec) -> Optional[str]:
    """The token as the spec wants it: itself, another form, or None to remove it.

    Present removes the off option of intel_iommu= and amd_iommu= (the whole token when
    nothing else is left) and iommu=off (and iommu=nopt with passthrough). Absent removes the
    on option of intel_iommu= and amd_iommu=, and iommu=pt. Other tokens are kept as they are.
    """
    key, options = _options(token)
    if options is None:
        return token
    if key in VENDOR_PARAMETERS.values():
        dropped = 'off' if spec.state == 'present' else 'on'
        if dropped not in options:
            return token
        kept = [option for option in options if option != dropped]
        return '%s=%s' % (key, ','.join(kept)) if kept else None
    if key == 'iommu':
        if spec.state == 'present':
            unwanted = ['off', 'nopt'] if spec.passthrough else ['off']
        else:
            unwanted = ['pt']
        return None if options[0] in unwanted and len(options) == 1 else token
    return token


def _satisfies(token: str, wanted: str) -> bool:
    """Whether token already gives what wanted asks (intel_iommu=on,sm_on gives intel_iommu=on)."""
    key, options = _options(token)
    wanted_key, wanted_options = _options(wanted)
    return key == wanted_key and options is not None and all(
        option in options for option in wanted_options or ())


def missing_tokens(tokens: List[str], spec: CmdlineSpec) -> List[str]:
    """The wanted tokens that tokens (already transformed) do not give yet."""
    return [wanted for wanted in spec.wanted if not any(_satisfies(token, wanted) for token in tokens)]


def _kept(arguments: Sequence[str], spec: CmdlineSpec) -> List[Optional[str]]:
    """Each argument as the spec wants it: itself, another form, or None when it goes (an exact
    duplicate of a wanted token goes too)."""
    kept: List[str] = []
    out: List[Optional[str]] = []
    for argument in arguments:
        new = transform_token(argument, spec)
        if new is None or (new in spec.wanted and new in kept):
            out.append(None)
            continue
        out.append(new)
        kept.append(new)
    return out


def edited_tokens(tokens: List[str], spec: CmdlineSpec) -> List[str]:
    """tokens as the spec wants them: transformed, exact duplicates of wanted tokens dropped,
    the missing ones appended."""
    kept = [token for token in _kept(tokens, spec) if token is not None]
    return kept + missing_tokens(kept, spec)


def satisfied(tokens: List[str], spec: CmdlineSpec) -> bool:
    """Whether a command line's tokens already are what the spec wants (nothing to change)."""
    return edited_tokens(tokens, spec) == list(tokens)


def changes(before: List[str], after: List[str]) -> Tuple[List[str], List[str]]:
    """(added, removed): the tokens after has and before lacks, and the other way round."""
    added = [token for token in after if token not in before]
    removed = [token for token in before if token not in after]
    return added, removed


# -- what cannot be read -------------------------------------------------------------

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

_SAFE_ARGUMENT = re.compile(r'[\w.,:=/+@%-]+')


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
    decisions = _kept([kernel_argument(word) for word in words], spec)
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


def kernel_cmdline_refusals(text: str, path: str) -> None:
    """Refuse what /etc/kernel/cmdline cannot mean: kernel-install joins its lines with spaces
    (tr -s "$IFS" ' '), so a backslash at the end of a line is no continuation but an argument."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.rstrip(' \t').endswith('\\'):
            raise UnreadableBootFile(
                path, number, 'the line ends with a backslash, but this file is no shell file: kernel-install '
                'joins its lines with spaces, so the kernel would get a "\\" argument; remove the backslash')
    kernel_spans(text, path)


# -- /etc/default/grub and /etc/default/grub.d/*.cfg ------------------------------

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


# GRUB reads the arguments again: 10_linux writes them into grub.cfg's linux line, whose words
# GRUB's own parser splits (quotes and backslashes, $variables of GRUB's). A word of it is a list of
# the value's characters (None: a reference to a GRUB_CMDLINE variable, not known here).
_GrubItem = Optional[str]


class _GrubWordError(Exception):
    pass


def _grub_words(items: Sequence[_GrubItem]) -> List[Tuple[Optional[str], List[int]]]:
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
                raise _GrubWordError('a $ inside double quotes, which GRUB reads as one of its own variables')
            else:
                chars.append(item)
        elif item in ';|&<>$':
            raise _GrubWordError('an unquoted %s, which GRUB reads as %s' % (
                item, 'one of its own variables' if item == '$' else 'part of its own command syntax'))
        elif item in '\'"':
            quote = item
        elif item == '\\':
            if index + 1 >= len(items):
                raise _GrubWordError('a backslash at its end')
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
        raise _GrubWordError('a %s quote that is never closed, so GRUB would join it with what follows' % quote)
    if indexes:
        words.append((None if opaque else ''.join(chars), indexes))
    return words


def _items(pieces: Sequence[Piece]) -> List[_GrubItem]:
    return [piece.text if piece.kind == 'char' else None for piece in pieces]


def _words_of(path: str, assignment: Assignment) -> List[Tuple[Optional[str], List[int]]]:
    try:
        return _grub_words(_items(assignment.pieces))
    except _GrubWordError as error:
        raise UnreadableBootFile(path, assignment.line, 'the value of %s has %s; %s'
                                 % (assignment.name, error, _HINT))


def grub_reading(texts: List[str], paths: Optional[List[str]] = None) -> Tuple[Dict[str, str], List[List[Assignment]]]:
    """(the value each GRUB_CMDLINE variable has after the files are sourced in order, the assignments
    of each file); refused (UnreadableBootFile) as shell_assignments and _grub_words say."""
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
            arguments += [kernel_argument(str(word)) for word, _items in _grub_words(list(values[name]))]
        except _GrubWordError as error:
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
    decisions = iter(_kept(literal, spec) if spec is not None else literal)
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
        words = _grub_words(_items(word.pieces))
    except (ShellSyntaxError, _GrubWordError):
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


# -- grubby ------------------------------------------------------------------------

def grubby_entries(info: str) -> List[Tuple[str, str]]:
    """(kernel, args) of every boot entry in ``grubby --info=ALL`` output."""
    entries: List[Tuple[str, str]] = []
    kernel = None
    for line in info.splitlines():
        key, sep, value = line.partition('=')
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = value[1:-1]
        if key.strip() == 'kernel':
            kernel = value
        elif key.strip() == 'args' and kernel is not None:
            entries.append((kernel, value))
            kernel = None
    return entries


def grubby_tokens(tokens: List[str], spec: CmdlineSpec) -> List[str]:
    """edited_tokens as grubby can write them. grubby --args replaces the value of an argument of the
    same key, so an added argument whose key another one of the line has would wipe that one
    (intel_iommu=on added beside intel_iommu=igfx_off): such arguments become one, with every option,
    in the place of the first (intel_iommu=igfx_off,on)."""
    after = edited_tokens(tokens, spec)
    added_keys = set(_options(token)[0] for token in after if token not in tokens and '=' in token)
    merged: List[str] = []
    first_of: Dict[str, int] = {}
    for token in after:
        key, options = _options(token)
        if key not in added_keys or options is None:
            merged.append(token)
        elif key not in first_of:
            first_of[key] = len(merged)
            merged.append(token)
        else:
            _key, earlier = _options(merged[first_of[key]])
            joined = (earlier or []) + [option for option in options if option not in (earlier or [])]
            merged[first_of[key]] = '%s=%s' % (key, ','.join(joined))
    return merged


def grubby_updates(entries: List[Tuple[str, str]], spec: CmdlineSpec) -> List[Tuple[str, List[str], List[str]]]:
    """(--update-kernel target, --args tokens, --remove-args tokens) of each grubby call that makes the
    entries what the spec wants: one call for ALL when every entry needs the same change, else one per
    entry that needs one (a change made for one entry could undo another's arguments); [] when none."""
    changes_of = [(kernel, changes(args.split(), grubby_tokens(args.split(), spec))) for kernel, args in entries]
    needed = [(kernel, added, removed) for kernel, (added, removed) in changes_of if added or removed]
    if not needed:
        return []
    if len(needed) == len(entries) and all((added, removed) == needed[0][1:] for _kernel, added, removed in needed):
        return [('ALL', needed[0][1], needed[0][2])]
    return needed
