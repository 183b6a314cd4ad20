# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the edge of the fleet report: the controller's pci.ids, Graphviz's ``dot``, and writing the
report's files.

Files are written into one directory, each atomically (a temporary file in the same
directory, then a rename), only when their content differs. A symbolic link or anything
but a regular file at a target name is refused before anything is written: the rename
would never follow it, but whoever planted it should hear about it.
"""

import errno
import os
import stat
import tempfile
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import shown
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import Commands
from ansible_collections.virt.hostdev.plugins.module_utils.reading.id_names import ID_DATABASES, IdQuery
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_hosts import Ids, Names
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_values import ReportError

GRAPHVIZ_MISSING = (
    "Graphviz's dot command is not on the controller's PATH: install the graphviz package "
    "(apt-get install graphviz, dnf install graphviz), or set topology: false for a report without pictures")


def pci_names(wanted: Iterable[Ids], path: Optional[str] = None) -> Names:
    """{(vendor, product): (vendor name, product name)} of PCI ids ('10de', '24b0') from a pci.ids file:
    path, or the first of the usual places (Debian's /usr/share/misc, hwdata's /usr/share/hwdata) that
    exists. Only the wanted ids are looked up (reading.id_names.IdQuery, one pass over the file); ids
    the file does not name are left out, and so is everything when there is no file (but a path given
    that is no readable file is an error)."""
    if path and not (os.path.isfile(path) and os.access(path, os.R_OK)):
        raise ReportError('pci_ids %s is not a readable file: give the path of a pci.ids file, or none to read '
                          'the usual places' % path)
    wanted = set(wanted)
    query = IdQuery()
    for vendor, product in wanted:
        query.want_device(vendor, product)
    paths = [path] if path else [os.path.join(os.sep, relative) for relative in ID_DATABASES['pci']]
    if query.empty() or not any(os.path.isfile(candidate) and query.read(candidate) for candidate in paths):
        return {}
    found = dict((ids, (query.vendor(ids[0]), query.product(*ids))) for ids in wanted)
    return dict((ids, names) for ids, names in found.items() if any(names))


def render_svg(commands: Commands, source: str, timeout: int, what: str = 'the picture') -> str:
    """``dot -Tsvg`` of a DOT text through the module's commands, waiting at most ``timeout`` seconds."""
    dot = commands.find('dot')
    if dot is None:
        raise ReportError(GRAPHVIZ_MISSING)
    rc, out, err, timed_out = commands.outcome([dot, '-Tsvg'], timeout, data=source)
    if timed_out:
        raise ReportError('dot -Tsvg did not finish drawing %s within %d seconds (dot_timeout)' % (what, timeout))
    if rc != 0:
        raise ReportError('dot -Tsvg failed drawing %s (exit code %d): %s' % (
            what, rc, shown((err or '').strip(), 400)))
    return out


def _current(path: str) -> Optional[Tuple[bytes, int]]:
    """(content, mode) of the regular file at path, None when there is none; never follows a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0))
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ReportError('%s is a symbolic link: refusing to write the report through it or over it'
                              % path) from None
        raise ReportError('cannot read %s: %s' % (path, error.strerror)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ReportError('%s is not a regular file: refusing to replace it with the report' % path)
        chunks = []
        chunk = os.read(fd, 1 << 20)
        while chunk:
            chunks.append(chunk)
            chunk = os.read(fd, 1 << 20)
        return b''.join(chunks), stat.S_IMODE(info.st_mode)
    finally:
        os.close(fd)


def _content(current: Optional[Tuple[bytes, int]]) -> Optional[bytes]:
    return None if current is None else current[0]


def _default_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _replace(path: str, data: bytes, mode: int) -> None:
    """Write path atomically: a new file beside it, then a rename over it (which never follows a link)."""
    directory, name = os.path.split(path)
    fd, temporary = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _sync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_files(dest: str, documents: Mapping[str, str], check_mode: bool = False,
                diff: bool = False) -> Tuple[bool, List[Dict[str, Any]], List[Dict[str, str]]]:
    """Write ``{file name: text}`` into the directory dest (created when missing).

    Returns (changed, files, diffs): ``files`` is one ``{path, changed}`` per document,
    ``diffs`` one Ansible diff per changed file when ``diff`` is true. In check mode nothing
    is created or written, and the answers are the same.
    """
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise ReportError('dest %s exists and is not a directory' % dest)
    wanted = dict((name, text.encode('utf-8')) for name, text in documents.items())
    current = dict((name, _current(os.path.join(dest, name))) for name in sorted(wanted))
    changes = [name for name in sorted(wanted) if _content(current[name]) != wanted[name]]
    if changes and not check_mode:
        try:
            os.makedirs(dest, exist_ok=True)
            for name in changes:
                before = current[name]
                _replace(os.path.join(dest, name), wanted[name], before[1] if before else _default_mode())
            _sync_directory(dest)
        except OSError as error:
            raise ReportError('cannot write the report into %s: %s' % (dest, error.strerror or error)) from None
    files = [{'path': os.path.join(dest, name), 'changed': name in changes} for name in sorted(wanted)]
    diffs = []
    if diff:
        for name in changes:
            path = os.path.join(dest, name)
            before = current[name]
            diffs.append({'before_header': path if before else '%s (absent)' % path, 'after_header': path,
                          'before': before[0].decode('utf-8', 'replace') if before else '',
                          'after': documents[name]})
    return bool(changes), files, diffs
