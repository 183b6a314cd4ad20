"""docs/virtual-functions.md shows only what docs/examples/virtual_functions.yml runs: every YAML snippet of
its Facts section stands in the playbook (the integration tests run the playbook on a synthetic SR-IOV host
and check its answers), and the page names every SR-IOV key and refusal code the facts give."""

import os
import re

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.model.records import SRIOV_KEYS, SRIOV_LINK_KEYS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PAGE = os.path.join(REPO, 'docs', 'virtual-functions.md')
PLAYBOOK = os.path.join(REPO, 'docs', 'examples', 'virtual_functions.yml')


def text(path):
    with open(path) as handle:
        return handle.read()


def folded(yaml_text):
    """The text without its comments, white space folded: indentation differs between the two."""
    lines = [re.sub(r'\s+#.*$', '', line) for line in yaml_text.splitlines() if not line.strip().startswith('#')]
    return ' '.join(' '.join(lines).split())


FACTS_SECTION = text(PAGE).split('\n## Facts\n', 1)[1].split('\n## ', 1)[0]
SNIPPETS = re.findall(r'```yaml\n(.*?)```', FACTS_SECTION, re.S)
# The first snippet shows the facts themselves, not the playbook.
EXAMPLES = [snippet for snippet in SNIPPETS if not snippet.startswith('# a PF:')]


def test_the_facts_section_has_its_examples():
    assert len(SNIPPETS) == len(EXAMPLES) + 1 and len(EXAMPLES) >= 4


@pytest.mark.parametrize('snippet', EXAMPLES, ids=lambda snippet: snippet.split('\n')[0].strip('#- ')[:40])
def test_every_snippet_is_in_the_playbook(snippet):
    assert folded(snippet) in folded(text(PLAYBOOK)), 'copy it from docs/examples/virtual_functions.yml:\n' + snippet


def test_the_facts_example_has_every_sriov_key():
    example = SNIPPETS[0]
    for key in SRIOV_KEYS + SRIOV_LINK_KEYS:
        assert re.search(r'\b%s:' % key, example), key


@pytest.mark.parametrize('code', ['has_virtual_functions', 'held_by_network', 'assigned_elsewhere'])
def test_the_page_names_the_refusals_of_the_facts(code):
    assert '`%s`' % code in FACTS_SECTION
