"""The journal of edits in progress: written before the edits, cleared after, read by the next run."""

import json
import os

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.edit_journal import EditJournal, interrupted_message

EDITS = [{'action': 'attach', 'device': 'pci_0000_00_02_0', 'target': 'config', 'xml': '<hostdev/>'},
         {'action': 'attach', 'device': 'usb_1_3', 'target': 'config', 'xml': '<hostdev/>'}]


def test_written_then_read_then_cleared(tmp_path):
    journal = EditJournal(str(tmp_path), 'qemu:///system', 'vm1')
    warnings = []
    assert journal.read(warnings) is None
    journal.write('present', EDITS)
    assert oct(os.stat(journal.path).st_mode & 0o777) == '0o600'
    entry = journal.read(warnings)
    assert entry['state'] == 'present' and entry['domain'] == 'vm1' and entry['uri'] == 'qemu:///system'
    assert entry['edits'] == [{'action': 'attach', 'device': 'pci_0000_00_02_0', 'target': 'config'},
                              {'action': 'attach', 'device': 'usb_1_3', 'target': 'config'}]
    journal.clear()
    journal.clear()  # twice is fine
    assert journal.read(warnings) is None and warnings == []


def test_each_domain_and_uri_has_its_own_journal(tmp_path):
    EditJournal(str(tmp_path), 'qemu:///system', 'vm1').write('present', EDITS)
    assert EditJournal(str(tmp_path), 'qemu:///system', 'vm2').read([]) is None
    assert EditJournal(str(tmp_path), 'qemu+ssh://hv2/system', 'vm1').read([]) is None


def test_junk_and_planted_links_are_ignored_with_a_warning(tmp_path):
    journal = EditJournal(str(tmp_path), 'qemu:///system', 'vm1')
    with open(journal.path, 'w') as handle:
        handle.write('{not json')
    warnings = []
    assert journal.read(warnings) is None and 'not valid JSON' in warnings[0]
    os.unlink(journal.path)
    target = tmp_path / 'elsewhere.json'
    target.write_text(json.dumps({'uri': 'qemu:///system', 'domain': 'vm1', 'edits': []}))
    os.symlink(str(target), journal.path)
    warnings = []
    assert journal.read(warnings) is None and 'cannot be read' in warnings[0]
    journal.write('absent', EDITS)  # replaces the link itself, never writes through it
    assert not os.path.islink(journal.path) and json.loads(target.read_text())['edits'] == []


def test_the_message_says_what_was_planned_and_what_this_run_does():
    entry = {'domain': 'vm1', 'started': '2026-11-25T23:00:00Z', 'edits': EDITS}
    message = interrupted_message(entry, 'present')
    assert 'vm1' in message and 'attach usb_1_3 (config)' in message and 'adds what is still missing' in message
    assert 'removes what it finds' in interrupted_message(entry, 'absent')
