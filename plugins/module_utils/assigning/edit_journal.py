# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: the journal of a domain's edits in progress, so that an interrupted run is seen.

Before its first edit, an assignment writes what it is about to do into a small
file beside the host lock (the lock's private directory, checked by host_lock);
it removes the file when the edits are all made, or all undone. A file that is
still there at the next run of the same domain means the run before stopped
half-way: libvirtd died between two edits, the rollback failed, or the module
was killed. The next run says so; running the same task again completes the
edits (state present adds what is missing), state absent undoes them.
"""

import hashlib
import json
import os
import time
from typing import Any, Dict, List, Optional

JOURNAL_PREFIX = 'journal-'


class EditJournal:
    """The journal file of one domain at one libvirt URI, in directory (the lock's)."""

    def __init__(self, directory: str, uri: str, domain: str) -> None:
        digest = hashlib.sha256(('%s\0%s' % (uri, domain)).encode('utf-8', 'surrogatepass')).hexdigest()[:24]
        self.path = os.path.join(directory, '%s%s.json' % (JOURNAL_PREFIX, digest))
        self.uri = uri
        self.domain = domain

    def read(self, warnings: List[str]) -> Optional[Dict[str, Any]]:
        """What an interrupted earlier run meant to do, or None when the last run ended cleanly."""
        try:
            handle = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as error:
            warnings.append('the edit journal %s cannot be read (%s); ignored' % (self.path, error.strerror))
            return None
        with os.fdopen(handle, 'rb') as stream:
            text = stream.read(1 << 20)
        try:
            entry = json.loads(text.decode('utf-8'))
        except ValueError:
            warnings.append('the edit journal %s is not valid JSON; ignored' % self.path)
            return None
        if not isinstance(entry, dict) or entry.get('uri') != self.uri or entry.get('domain') != self.domain:
            return None
        return entry

    def write(self, state: str, edits: List[Dict[str, str]]) -> None:
        """Record the edits a run is about to make (replacing the file atomically)."""
        entry = {
            'uri': self.uri, 'domain': self.domain, 'state': state,
            'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
            'edits': [dict((key, edit[key]) for key in ('action', 'device', 'target')) for edit in edits],
        }
        temporary = self.path + '.new'
        if os.path.lexists(temporary):
            os.unlink(temporary)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(handle, 'w') as stream:
            json.dump(entry, stream, sort_keys=True)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.path)

    def clear(self) -> None:
        """The run ended cleanly: its edits are all made, or all undone."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def interrupted_message(entry: Dict[str, Any], state: str) -> str:
    """What a run tells about the interrupted run it found, and what it does about it."""
    planned = ', '.join('%s %s (%s)' % (edit.get('action'), edit.get('device'), edit.get('target'))
                        for edit in entry.get('edits') or [])
    outcome = ('this run adds what is still missing' if state == 'present' else
               'this run removes what it finds of them')
    return ('an earlier run on domain %s (started %s) stopped before it finished or undid its edits (%s): '
            'some of them may be in the domain; %s' % (entry.get('domain'), entry.get('started'), planned, outcome))
