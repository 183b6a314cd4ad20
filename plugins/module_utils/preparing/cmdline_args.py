# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the IOMMU arguments of a kernel command line, and where they are written. No I/O.

A ``CmdlineSpec`` says what the command line should hold: with state present, the
vendor's ``intel_iommu=on`` or ``amd_iommu=on`` (and ``iommu=pt`` with passthrough),
and none of ``intel_iommu=off``, ``amd_iommu=off``, ``iommu=off``; with state absent,
none of the arguments present adds. Each argument token is judged alone
(``transform_token``), and what is still missing is appended (``missing_tokens``).

The rewriters change only argument tokens and keep every other byte of the text:
``edit_value`` (one command line, such as /etc/kernel/cmdline), ``edit_grub_files``
(the ``GRUB_CMDLINE_LINUX`` and ``GRUB_CMDLINE_LINUX_DEFAULT`` assignments of
/etc/default/grub and /etc/default/grub.d/*.cfg) and ``grubby_entries`` (what
``grubby --info=ALL`` prints).
"""

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

STATES = ('present', 'absent')
VENDORS = ('intel', 'amd')
# The kernel parameter that turns each vendor's IOMMU on.
VENDOR_PARAMETERS = {'intel': 'intel_iommu', 'amd': 'amd_iommu'}
# /proc/cpuinfo vendor_id -> vendor (Hygon's Dhyana CPUs carry AMD's IOMMU).
CPU_VENDORS = {'GenuineIntel': 'intel', 'AuthenticAMD': 'amd', 'HygonGenuine': 'amd'}
# The ACPI table the firmware describes each vendor's IOMMU with (/sys/firmware/acpi/tables):
# the DMA remapping table of Intel VT-d, the I/O virtualization reporting structure of AMD-Vi.
ACPI_IOMMU_TABLES = {'DMAR': 'intel', 'IVRS': 'amd'}
PASSTHROUGH_TOKEN = 'iommu=pt'

GRUB_VARIABLES = ('GRUB_CMDLINE_LINUX', 'GRUB_CMDLINE_LINUX_DEFAULT')
# Where arguments are added: the variable of the normal (not recovery) menu entries.
GRUB_ADD_TO = 'GRUB_CMDLINE_LINUX_DEFAULT'


@dataclass(frozen=True)
class CmdlineSpec:
    """What the IOMMU arguments of a command line should be.

    vendor: intel, amd, or None to add no vendor argument (conflicts are still removed).
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
        tokens = ['%s=on' % VENDOR_PARAMETERS[self.vendor]] if self.vendor else []
        return tokens + ([PASSTHROUGH_TOKEN] if self.passthrough else [])


def vendor_from_acpi_tables(names: List[str]) -> Optional[str]:
    """intel or amd from the names of the ACPI tables (/sys/firmware/acpi/tables) when they describe
    exactly one vendor's IOMMU; None otherwise (no such table, or both).

    The table says which IOMMU the platform has, whatever the CPU: a virtual machine with a
    virtual Intel IOMMU may run on an AMD CPU (QEMU's default TCG CPU says AuthenticAMD).
    """
    found = set(ACPI_IOMMU_TABLES[name] for name in names if name in ACPI_IOMMU_TABLES)
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


def edited_tokens(tokens: List[str], spec: CmdlineSpec) -> List[str]:
    """tokens as the spec wants them: transformed, exact duplicates of wanted tokens dropped,
    the missing ones appended (edit_value on the tokens)."""
    return edit_value(' '.join(tokens), spec).split()


def satisfied(tokens: List[str], spec: CmdlineSpec) -> bool:
    """Whether a command line's tokens already are what the spec wants (nothing to change)."""
    return edited_tokens(tokens, spec) == list(tokens)


def changes(before: List[str], after: List[str]) -> Tuple[List[str], List[str]]:
    """(added, removed): the tokens after has and before lacks, and the other way round."""
    added = [token for token in after if token not in before]
    removed = [token for token in before if token not in after]
    return added, removed


# -- one command line, bytes kept ------------------------------------------------

_TOKEN_RE = re.compile(r'\S+')


def edit_value(text: str, spec: CmdlineSpec, append: Optional[List[str]] = None) -> str:
    """text with its tokens transformed and exact duplicates of wanted tokens dropped, then
    append added after the last token (the spec's missing tokens when append is None).

    A removed token takes the whitespace before it along (the first token, the whitespace
    after it); every other byte stays as it was.
    """
    spans = list(_TOKEN_RE.finditer(text))
    leading = text[:spans[0].start()] if spans else text
    trailing = text[spans[-1].end():] if spans else ''
    kept: List[str] = []
    out = leading
    for index, match in enumerate(spans):
        new = transform_token(match.group(), spec)
        if new is None or (new in spec.wanted and new in kept):
            continue
        if kept:
            out += text[spans[index - 1].end():match.start()]
        out += new
        kept.append(new)
    added = missing_tokens(kept, spec) if append is None else append
    if added:
        out += (' ' if kept else '') + ' '.join(added)
    return out + trailing


# -- /etc/default/grub and /etc/default/grub.d/*.cfg ------------------------------

_ASSIGNMENT_RE = re.compile(r'^[ \t]*(?:export[ \t]+)?(%s)=' % '|'.join(sorted(GRUB_VARIABLES, reverse=True)), re.M)


@dataclass(frozen=True)
class Assignment:
    """One shell assignment of a GRUB_CMDLINE variable: the value is text[start:end] (inside
    the quotes), quote is the quote character or '' for an unquoted value."""

    name: str
    start: int
    end: int
    quote: str


def shell_assignments(text: str) -> List[Assignment]:
    """The GRUB_CMDLINE_LINUX(_DEFAULT) assignments of a shell file, in order.

    Commented lines are not assignments. A double-quoted value ends at the first
    unescaped double quote (it may span lines), a single-quoted one at the next
    single quote, an unquoted one at whitespace, ';' or '#'.
    """
    found = []
    for match in _ASSIGNMENT_RE.finditer(text):
        position = match.end()
        quote = text[position:position + 1]
        if quote == '"':
            index = position + 1
            while index < len(text) and text[index] != '"':
                index += 2 if text[index] == '\\' else 1
            found.append(Assignment(match.group(1), position + 1, min(index, len(text)), '"'))
        elif quote == "'":
            end = text.find("'", position + 1)
            found.append(Assignment(match.group(1), position + 1, len(text) if end < 0 else end, "'"))
        else:
            index = position
            while index < len(text) and text[index] not in ' \t\n;#':
                index += 2 if text[index] == '\\' else 1
            found.append(Assignment(match.group(1), position, min(index, len(text)), ''))
    return found


_REFERENCE_RE = re.compile(r'\$(?:\{(%s)\}|(%s)\b)' % ('|'.join(GRUB_VARIABLES), '|'.join(GRUB_VARIABLES)))


def effective_grub_cmdline(texts: List[str]) -> str:
    """The arguments the normal menu entries get: GRUB_CMDLINE_LINUX then _DEFAULT, as the
    files (sourced in order) leave them; $GRUB_CMDLINE_LINUX(_DEFAULT) references expand to
    the value before the assignment, other references stay as written."""
    values: Dict[str, str] = dict((name, '') for name in GRUB_VARIABLES)
    for text in texts:
        for assignment in shell_assignments(text):
            raw = text[assignment.start:assignment.end]
            values[assignment.name] = _REFERENCE_RE.sub(
                lambda match: values[match.group(1) or match.group(2)], raw)
    return ' '.join(value for value in (values[name] for name in GRUB_VARIABLES) if value.strip())


def edit_grub_files(texts: List[str], spec: CmdlineSpec) -> List[str]:
    """texts (/etc/default/grub first, then grub.d/*.cfg in the order GRUB sources them) with the
    spec applied: every assignment of both variables has its tokens transformed, and what the
    effective command line still misses is appended to the last GRUB_CMDLINE_LINUX_DEFAULT
    assignment (a new line at the end of the first file when there is none)."""
    edited = [_edit_assignments(text, spec) for text in texts]
    missing = missing_tokens(effective_grub_cmdline(edited).split(), spec)
    if not missing:
        return edited
    for index in range(len(edited) - 1, -1, -1):
        targets = [item for item in shell_assignments(edited[index]) if item.name == GRUB_ADD_TO]
        if targets:
            edited[index] = _edit_one(edited[index], targets[-1], spec, missing)
            return edited
    first = edited[0] if edited else ''
    line = '%s="%s"\n' % (GRUB_ADD_TO, ' '.join(missing))
    edited[0:1] = [first + ('' if first.endswith('\n') or not first else '\n') + line]
    return edited


def _edit_assignments(text: str, spec: CmdlineSpec) -> str:
    for assignment in reversed(shell_assignments(text)):
        text = _edit_one(text, assignment, spec, [])
    return text


def _edit_one(text: str, assignment: Assignment, spec: CmdlineSpec, append: List[str]) -> str:
    value = text[assignment.start:assignment.end]
    new = edit_value(value, spec, append)
    if new == value:
        return text
    if not assignment.quote and _TOKEN_RE.findall(new) and len(new.split()) > 1:
        new = '"%s"' % new  # an unquoted value that now holds several words needs quotes
    return text[:assignment.start] + new + text[assignment.end:]


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
