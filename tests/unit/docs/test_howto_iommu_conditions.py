"""docs/howto-iommu-conditions.md shows only what docs/examples/iommu_conditions.yml runs: every
YAML snippet of the how-to stands in the playbook (the integration tests run the playbook on the
sample host and check its answers), and every filter and test of the collection is in the how-to."""

import os

import pytest

from ansible_collections.virt.hostdev.plugins.filter.hostdev_query import FilterModule
from ansible_collections.virt.hostdev.plugins.test import hostdev_group

from support.doc_pages import REPO, folded, text, yaml_snippets

HOWTO = os.path.join(REPO, 'docs', 'howto-iommu-conditions.md')
PLAYBOOK = os.path.join(REPO, 'docs', 'examples', 'iommu_conditions.yml')


SNIPPETS = yaml_snippets(text(HOWTO))


def test_the_howto_has_snippets():
    assert len(SNIPPETS) >= 8


@pytest.mark.parametrize('snippet', SNIPPETS, ids=lambda snippet: snippet.split(':')[0].strip('- '))
def test_every_snippet_is_in_the_playbook(snippet):
    assert folded(snippet) in folded(text(PLAYBOOK)), 'copy it from docs/examples/iommu_conditions.yml:\n' + snippet


@pytest.mark.parametrize('name', sorted(FilterModule().filters()) + sorted(hostdev_group.TestModule().tests())
                         + ['hostdev_select'])
def test_every_query_plugin_is_in_the_howto(name):
    assert 'virt.hostdev.%s' % name in text(HOWTO)
