# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the IOMMU arguments a kernel command line should hold, and their conflicts. No I/O.

A ``CmdlineSpec`` says what the command line should hold: with state present, Intel's
``intel_iommu=on`` (AMD's IOMMU is on whenever the firmware describes it: ``amd_iommu=`` has
no ``on``), ``iommu=pt`` with passthrough, and none of ``intel_iommu=off``, ``amd_iommu=off``,
``iommu=off``; with state absent, none of the arguments present adds. Each argument is judged
alone (``transform_token``), and what is still missing is appended (``missing_tokens``).

These rules work on arguments as the kernel takes them; where the arguments are written, and how
a file is rewritten keeping every other byte, is kernel_words (one command line), grub_defaults
(GRUB's files) and boot_grubby (grubby's boot entries).
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

STATES = ('present', 'absent')
VENDORS = ('intel', 'amd')
# The kernel parameter of each vendor's IOMMU driver (its off option turns that IOMMU off).
VENDOR_PARAMETERS = {'intel': 'intel_iommu', 'amd': 'amd_iommu'}
# The argument that turns a vendor's IOMMU on. AMD's driver has no on option (amd_iommu=on logs
# "Unknown option"): its IOMMU is on whenever the firmware's IVRS table describes it.
VENDOR_ON = {'intel': 'intel_iommu=on'}
PASSTHROUGH_TOKEN = 'iommu=pt'


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


def token_options(token: str) -> Tuple[str, Optional[List[str]]]:
    """(key, comma-separated options) of a token; options None without '='."""
    key, sep, value = token.partition('=')
    return key, (value.split(',') if sep else None)


def transform_token(token: str, spec: CmdlineSpec) -> Optional[str]:
    """The token as the spec wants it: itself, another form, or None to remove it.

    Present removes the off option of intel_iommu= and amd_iommu= (the whole token when
    nothing else is left) and iommu=off (and iommu=nopt with passthrough). Absent removes the
    on option of intel_iommu= and amd_iommu=, and iommu=pt. Other tokens are kept as they are.
    """
    key, options = token_options(token)
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
    key, options = token_options(token)
    wanted_key, wanted_options = token_options(wanted)
    return key == wanted_key and options is not None and all(
        option in options for option in wanted_options or ())


def missing_tokens(tokens: List[str], spec: CmdlineSpec) -> List[str]:
    """The wanted tokens that tokens (already transformed) do not give yet."""
    return [wanted for wanted in spec.wanted if not any(_satisfies(token, wanted) for token in tokens)]


def kept_arguments(arguments: Sequence[str], spec: CmdlineSpec) -> List[Optional[str]]:
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
    kept = [token for token in kept_arguments(tokens, spec) if token is not None]
    return kept + missing_tokens(kept, spec)


def satisfied(tokens: List[str], spec: CmdlineSpec) -> bool:
    """Whether a command line's tokens already are what the spec wants (nothing to change)."""
    return edited_tokens(tokens, spec) == list(tokens)


def changes(before: List[str], after: List[str]) -> Tuple[List[str], List[str]]:
    """(added, removed): the tokens after has and before lacks, and the other way round."""
    added = [token for token in after if token not in before]
    removed = [token for token in before if token not in after]
    return added, removed
