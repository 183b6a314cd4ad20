"""docs/mediated-devices.md, "Creating and keeping mdevs", shows only what docs/examples/mediated_devices.yml
runs (the integration tests run that playbook on a fake host), and lists every refusal code of mdevs that
its plan and its udev rule check can return."""

import os
import re

import pytest

from support.doc_pages import REPO, folded, section as doc_section, text, yaml_snippets

PAGE = os.path.join(REPO, 'docs', 'mediated-devices.md')
PLAYBOOK = os.path.join(REPO, 'docs', 'examples', 'mediated_devices.yml')
PLANS = [os.path.join(REPO, 'plugins', 'module_utils', 'preparing', name)
         for name in ('mdev_plan.py', 'mdev_autostart.py')]


def section():
    return doc_section(PAGE, 'Creating and keeping mdevs')


SNIPPETS = yaml_snippets(section())


def test_the_section_has_a_snippet():
    assert SNIPPETS


@pytest.mark.parametrize('snippet', SNIPPETS, ids=lambda snippet: snippet.split(':')[0].strip('- '))
def test_every_snippet_is_in_the_example(snippet):
    assert folded(snippet) in folded(text(PLAYBOOK)), 'copy it from docs/examples/mediated_devices.yml:\n' + snippet


CODES = sorted(set(code for plan in PLANS for code in re.findall(r"problem\(\s*'([a-z_]+)'", text(plan))))


def test_the_plans_have_codes():
    assert 'mdev_held' in CODES and 'autostart_broken' in CODES


@pytest.mark.parametrize('code', CODES)
def test_every_refusal_code_is_in_the_table(code):
    assert '| `%s` |' % code in section()
