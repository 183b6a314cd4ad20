# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: a POSIX shell file read as the shell reads it, without running it. No I/O.

GRUB's /etc/default/grub and /etc/default/grub.d/*.cfg are shell files that grub-mkconfig
sources with /bin/sh. ``read_shell()`` splits such a file into its commands with the shell's
rules: quotes, backslash escapes, backslash-newline continuations (inside double quotes too),
comments, and parameter expansions, command substitutions and backquotes taken whole. Each
command says in which context it runs (``Command.context``): None when it runs unconditionally
in the shell that sources the file, else why not (inside ``if``, ``case``, a loop, a brace
group or a function, a subshell, after ``&&`` or ``||``, in a pipeline, in the background).

Each word is kept as ``Piece``s with their offsets in the text, so a caller can change one part
of a word and keep every other byte. What the reader cannot follow (an unterminated quote or
substitution, a here-document, an unbalanced compound command) raises ``ShellSyntaxError``
with the line.
"""

import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple, Union

NAME_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
_ASSIGNMENT_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)(\+?=)')
# Operators, longest first.
_OPERATORS = ('&&', '||', ';;&', ';;', ';&', '<<-', '<<', '>>', '<&', '>&', '<>', '>|',
              ';', '&', '|', '(', ')', '<', '>')
_REDIRECTIONS = ('>>', '<&', '>&', '<>', '>|', '<', '>')
_METACHARACTERS = ' \t\n;&|()<>'
# Reserved words that open a compound command, and the word that closes each.
_OPENERS = {'if': 'fi', 'case': 'esac', 'for': 'done', 'select': 'done', 'while': 'done', 'until': 'done',
            '{': '}'}
_CONTEXT_NAMES = {'if': 'an if', 'case': 'a case', 'for': 'a for loop', 'select': 'a select loop',
                  'while': 'a while loop', 'until': 'an until loop', '{': 'a { } group', 'function': 'a function',
                  '(': 'a subshell ( )'}
_LIST_CONTEXTS = {'&&': 'a list with &&', '||': 'a list with ||', '|': 'a pipeline', '&': 'the background (&)',
                  '!': 'a negated pipeline (!)'}


class ShellSyntaxError(Exception):
    """What the reader cannot follow, at a line (1-based)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__('line %d: %s' % (line, message))
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Piece:
    """One part of a word. kind: 'char' (one character of the value: text), 'param' ($NAME or
    ${NAME}: text is NAME), 'expansion' (any other expansion or substitution: text is its source).
    quote: the quoting the piece is in: '' (none), '"', "'" or '\\\\' (an escaped character)."""

    kind: str
    text: str
    start: int
    end: int
    quote: str


@dataclass
class Word:
    pieces: List[Piece]
    start: int
    end: int

    def literal(self) -> Optional[str]:
        """The word's value when it has no expansion; None otherwise."""
        if any(piece.kind != 'char' for piece in self.pieces):
            return None
        return ''.join(piece.text for piece in self.pieces)

    def plain(self) -> Optional[str]:
        """The word when every character is unquoted (what makes a reserved word or a NAME=)."""
        if any(piece.kind != 'char' or piece.quote for piece in self.pieces):
            return None
        return ''.join(piece.text for piece in self.pieces)

    def assignment(self) -> Optional[Tuple[str, str, List[Piece], int]]:
        """(NAME, '=' or '+=', the value's pieces, the offset where the value starts) when the word is
        an assignment word (NAME= unquoted at its start), else None."""
        head = ''
        for piece in self.pieces:
            if piece.kind != 'char' or piece.quote:
                break
            head += piece.text
        match = _ASSIGNMENT_RE.match(head)
        if not match:
            return None
        length = match.end()
        return match.group(1), match.group(2), self.pieces[length:], self.pieces[length - 1].end


@dataclass
class Command:
    """A simple command (kind 'simple'), or the words of a for or case header (kind 'for', 'case').
    context: None when it runs unconditionally in the sourcing shell, else where it runs."""

    words: List[Word]
    line: int
    context: Optional[str]
    kind: str = 'simple'
    redirections: List[Word] = field(default_factory=list)


@dataclass
class _Operator:
    text: str
    start: int


def line_of(text: str, offset: int) -> int:
    return text.count('\n', 0, offset) + 1


# -- words and operators -----------------------------------------------------------

def _lex(text: str) -> List[Union[Word, _Operator]]:
    tokens: List[Union[Word, _Operator]] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in ' \t':
            index += 1
        elif char == '\\' and text.startswith('\n', index + 1):
            index += 2  # a continuation between words
        elif char == '#':
            end = text.find('\n', index)
            index = len(text) if end < 0 else end
        elif char == '\n':
            tokens.append(_Operator('\n', index))
            index += 1
        elif char in _METACHARACTERS:
            operator = next(op for op in _OPERATORS if text.startswith(op, index))
            if operator.startswith('<<'):
                raise ShellSyntaxError(line_of(text, index),
                                       'a here-document (%s), which this reader does not follow' % operator)
            tokens.append(_Operator(operator, index))
            index += len(operator)
        else:
            word, index = read_word(text, index)
            tokens.append(word)
    return tokens


def read_word(text: str, index: int) -> Tuple[Word, int]:
    """The word that starts at index, and where it ends."""
    pieces: List[Piece] = []
    start = index
    while index < len(text):
        char = text[index]
        if char in _METACHARACTERS:
            break
        if char == '\\':
            if index + 1 >= len(text):
                pieces.append(Piece('char', '\\', index, index + 1, ''))
                index += 1
            elif text[index + 1] == '\n':
                index += 2
            else:
                pieces.append(Piece('char', text[index + 1], index, index + 2, '\\'))
                index += 2
        elif char == "'":
            end = text.find("'", index + 1)
            if end < 0:
                raise ShellSyntaxError(line_of(text, index), "a single quote (') that is never closed")
            pieces += [Piece('char', text[at], at, at + 1, "'") for at in range(index + 1, end)]
            index = end + 1
        elif char == '"':
            index = _double_quoted(text, index, pieces)
        elif char in '$`':
            piece = _expansion(text, index, '')
            pieces.append(piece)
            index = piece.end
        else:
            pieces.append(Piece('char', char, index, index + 1, ''))
            index += 1
    return Word(pieces, start, index), index


def _double_quoted(text: str, opening: int, pieces: List[Piece]) -> int:
    index = opening + 1
    while index < len(text):
        char = text[index]
        if char == '"':
            return index + 1
        if char == '\\' and index + 1 < len(text) and text[index + 1] in '$`"\\\n':
            if text[index + 1] != '\n':
                pieces.append(Piece('char', text[index + 1], index, index + 2, '"'))
            index += 2
        elif char in '$`':
            piece = _expansion(text, index, '"')
            pieces.append(piece)
            index = piece.end
        else:
            pieces.append(Piece('char', char, index, index + 1, '"'))
            index += 1
    raise ShellSyntaxError(line_of(text, opening), 'a double quote (") that is never closed')


def _expansion(text: str, index: int, quote: str) -> Piece:
    """The $... or `...` at index: a 'param', an 'expansion', or a literal '$'."""
    if text[index] == '`':
        at = index + 1
        while at < len(text) and text[at] != '`':
            at += 2 if text[at] == '\\' else 1
        if at >= len(text):
            raise ShellSyntaxError(line_of(text, index), 'a backquote (`) that is never closed')
        return Piece('expansion', text[index:at + 1], index, at + 1, quote)
    following = text[index + 1:index + 2]
    if following == '{':
        end = _closing(text, index + 1, '{', '}')
        inner = text[index + 2:end]
        kind = 'param' if NAME_RE.fullmatch(inner) else 'expansion'
        return Piece(kind, inner if kind == 'param' else text[index:end + 1], index, end + 1, quote)
    if following == '(':
        end = _closing(text, index + 1, '(', ')')
        return Piece('expansion', text[index:end + 1], index, end + 1, quote)
    match = NAME_RE.match(text, index + 1)
    if match:
        return Piece('param', match.group(), index, match.end(), quote)
    if following and following in '0123456789@*#?-$!':
        return Piece('expansion', text[index:index + 2], index, index + 2, quote)
    return Piece('char', '$', index, index + 1, quote)


def _closing(text: str, opening: int, left: str, right: str) -> int:
    """The index of the bracket that closes the one at opening (quotes and escapes skipped)."""
    depth = 0
    index = opening
    while index < len(text):
        char = text[index]
        if char == '\\':
            index += 2
            continue
        if char == "'" and left == '(':
            end = text.find("'", index + 1)
            index = len(text) if end < 0 else end + 1
            continue
        if char in '"`':
            at = index + 1
            while at < len(text) and text[at] != char:
                at += 2 if text[at] == '\\' else 1
            index = at + 1
            continue
        if char == left:
            depth += 1
        elif char == right:
            depth -= 1
            if depth == 0:
                return index
        index += 1
    what = '${' if left == '{' else '$('
    raise ShellSyntaxError(line_of(text, opening), 'a %s that is never closed' % what)


# -- commands --------------------------------------------------------------------------

def read_shell(text: str) -> List[Command]:
    """The commands of a shell file, in order (see the module docstring)."""
    return _Reader(text).commands()


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.stack: List[Tuple[str, int]] = []  # (opener, line)
        self.found: List[Command] = []
        self.words: List[Word] = []
        self.redirections: List[Word] = []
        self.before: Optional[str] = None  # the operator before the command being read
        self.negated = False
        self.function_next = False
        self.function_name = False

    def line(self, offset: int) -> int:
        return line_of(self.text, offset)

    def commands(self) -> List[Command]:
        index = 0
        mode = 'command'
        while index < len(self.tokens):
            token = self.tokens[index]
            if mode == 'header':  # for NAME [in WORDS]; / case WORD in
                if isinstance(token, Word):
                    self.words.append(token)
                    opener = self.stack[-1][0]
                    if opener == 'case' and token.plain() == 'in':
                        self._header('case')
                        mode = 'pattern'
                elif token.text in (';', '\n') and self.stack[-1][0] != 'case':
                    self._header('for')
                    mode = 'command'
                elif token.text != '\n':
                    raise ShellSyntaxError(self.line(token.start), 'unexpected %r in a for or case header' % token.text)
            elif mode == 'pattern':  # case patterns up to ')'
                if isinstance(token, Word):
                    if token.plain() == 'esac' and not self.words:
                        self._close('esac', token)
                        mode = 'command'
                    else:
                        self.words.append(token)
                elif token.text == ')':
                    self._header('case')
                    mode = 'command'
                elif token.text not in ('(', '|', '\n'):
                    raise ShellSyntaxError(self.line(token.start), 'unexpected %r in a case pattern' % token.text)
            elif isinstance(token, Word):
                mode = self._word(token, index)
            else:
                index, mode = self._operator(token, index)
            index += 1
        if mode != 'command':
            raise ShellSyntaxError(self.line(len(self.text)), 'the file ends inside a for or case header')
        self._finish(None)
        if self.stack:
            opener, line = self.stack[-1]
            raise ShellSyntaxError(line, '%s that is never closed' % _CONTEXT_NAMES.get(opener, opener))
        return self.found

    def _word(self, token: Word, index: int) -> str:
        plain = token.plain()
        if self.function_name:  # bash: function NAME [()] compound
            self.function_name = False
            self.function_next = True
            return 'command'
        if self.words or plain is None:
            self.words.append(token)
            return 'command'
        if plain in _OPENERS:
            opener = 'function' if plain == '{' and self.function_next else plain
            self.function_next = False
            self.stack.append((opener, self.line(token.start)))
            self.before = None
            return 'header' if plain in ('for', 'select', 'case') else 'command'
        if plain in ('then', 'else', 'elif', 'do'):
            if not self.stack:
                raise ShellSyntaxError(self.line(token.start), '%s outside of a compound command' % plain)
            return 'command'
        if plain in ('fi', 'done', '}', 'esac'):
            self._close(plain, token)
            return 'command'
        if plain == '!':
            self.negated = True
            return 'command'
        if plain == 'function':
            self.function_name = True
            return 'command'
        self.words.append(token)
        return 'command'

    def _operator(self, token: _Operator, index: int) -> Tuple[int, str]:
        op = token.text
        if op in _REDIRECTIONS:
            target = self.tokens[index + 1] if index + 1 < len(self.tokens) else None
            if not isinstance(target, Word):
                raise ShellSyntaxError(self.line(token.start), 'a redirection (%s) without a file' % op)
            if self.words and self.words[-1].end == token.start and (self.words[-1].plain() or '').isdigit():
                self.words.pop()  # an IO number (2>)
            self.redirections.append(target)
            return index + 1, 'command'
        if op == '(':
            following = self.tokens[index + 1] if index + 1 < len(self.tokens) else None
            if (len(self.words) == 1 or (not self.words and self.function_next)) and \
                    isinstance(following, _Operator) and following.text == ')':
                self.words = []  # NAME() compound: a function definition
                self.function_next = True
                return index + 1, 'command'
            if self.words:
                raise ShellSyntaxError(self.line(token.start), 'unexpected (')
            self.stack.append(('function' if self.function_next else '(', self.line(token.start)))
            self.function_next = False
            return index, 'command'
        if op == ')':
            self._finish(None)
            if not self.stack or self.stack[-1][0] not in ('(', 'function'):
                raise ShellSyntaxError(self.line(token.start), 'a ) without its (')
            self.stack.pop()
            return index, 'command'
        self._finish(op)
        if op in (';;', ';&', ';;&'):
            if not self.stack or self.stack[-1][0] != 'case':
                raise ShellSyntaxError(self.line(token.start), '%s outside of a case' % op)
            return index, 'pattern'
        return index, 'command'

    def _close(self, word: str, token: Word) -> None:
        self._finish(None)
        if not self.stack:
            raise ShellSyntaxError(self.line(token.start), '%s without its opening word' % word)
        opener = self.stack[-1][0]
        expected = _OPENERS.get('{' if opener == 'function' else opener)
        if expected != word:
            raise ShellSyntaxError(self.line(token.start), '%s where %s was expected' % (word, expected))
        self.stack.pop()

    def _header(self, kind: str) -> None:
        if self.words:
            self.found.append(Command(self.words, self.line(self.words[0].start), self._context(None), kind))
        self.words = []

    def _context(self, after: Optional[str]) -> Optional[str]:
        if self.stack:
            return _CONTEXT_NAMES.get(self.stack[-1][0], self.stack[-1][0])
        if self.negated:
            return _LIST_CONTEXTS['!']
        for op in (self.before, after):
            if op in _LIST_CONTEXTS:
                return _LIST_CONTEXTS[op]
        return None

    def _finish(self, after: Optional[str]) -> None:
        """The command read so far ends at the operator after (None: a compound word or the end)."""
        if self.words or self.redirections:
            line = self.line((self.words or self.redirections)[0].start)
            self.found.append(Command(self.words, line, self._context(after), 'simple', self.redirections))
            self.negated = False
        elif after in (None, '\n'):
            return  # a, b |<newline> c: the newline keeps the list going
        self.words = []
        self.redirections = []
        self.before = after if after in ('&&', '||', '|') else None
