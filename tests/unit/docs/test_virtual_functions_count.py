"""docs/virtual-functions.md, "The VF count and persistence", shows only what docs/examples/sriov_vfs.yml
runs (the integration tests run that playbook on a fake host), and lists every refusal code of
sriov_vfs that the plan can return."""

import os
import re

import pytest

from support.doc_pages import REPO, folded, section as doc_section, text, yaml_snippets

PAGE = os.path.join(REPO, 'docs', 'virtual-functions.md')
PLAYBOOK = os.path.join(REPO, 'docs', 'examples', 'sriov_vfs.yml')
PLAN = os.path.join(REPO, 'plugins', 'module_utils', 'preparing', 'sriov_count.py')


def section():
    return doc_section(PAGE, 'The VF count and persistence')


SNIPPETS = yaml_snippets(section())


def test_the_section_has_a_snippet():
    assert SNIPPETS


@pytest.mark.parametrize('snippet', SNIPPETS, ids=lambda snippet: snippet.split(':')[0].strip('- '))
def test_every_snippet_is_in_the_example(snippet):
    assert folded(snippet) in folded(text(PLAYBOOK)), 'copy it from docs/examples/sriov_vfs.yml:\n' + snippet


@pytest.mark.parametrize('code', sorted(set(re.findall(r"problem\('([a-z_]+)'", text(PLAN)))))
def test_every_refusal_code_is_in_the_table(code):
    assert '| `%s` |' % code in section()
