"""scripts/docsite.py: every Markdown page of the docs and every role's README is a docsite page, with
the labels antsibull-docs wants, and the links between pages (and from the modules) resolve to them.
`make docs` builds the site itself, with antsibull-docs' lint and Sphinx's warnings as errors."""

import glob
import importlib.util
import os
import re

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location('docsite', os.path.join(REPO, 'scripts', 'docsite.py'))
docsite = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(docsite)


def test_every_markdown_page_and_role_readme_is_on_the_site():
    sources = [os.path.relpath(path, REPO) for path in
               glob.glob(os.path.join(REPO, 'docs', '*.md')) + glob.glob(os.path.join(REPO, 'roles', '*', 'README.md'))]
    assert sorted(docsite.PAGES.values()) == sorted(sources)
    assert sorted(docsite.listed_pages()) == sorted(docsite.PAGES)


def test_pages_have_labels_and_their_references_resolve():
    pages = dict((name, docsite.page_rst(name, source)) for name, source in docsite.PAGES.items())
    labels = set()
    for name, text in pages.items():
        found = re.findall(r'^\.\. _(\S+):$', text, re.M)
        assert found[0] == docsite.LABEL_PREFIX + name, name
        labels.update(found)
    references = set()
    for text in pages.values():
        references.update(re.findall(r':ref:`[^`]*<(%s[^>]+)>`' % re.escape(docsite.LABEL_PREFIX), text))
    for module in glob.glob(os.path.join(REPO, 'plugins', 'modules', '*.py')):
        with open(module, encoding='utf-8') as handle:
            references.update(re.findall(r'ref: (%s\S+)' % re.escape(docsite.LABEL_PREFIX), handle.read()))
    assert references and references <= labels, sorted(references - labels)
    assert docsite.LABEL_PREFIX + 'hostdev_facts' in references


def test_inline_markup_next_to_words_and_tables():
    text = docsite.page_rst('architecture', 'docs/architecture.md')
    assert '.. list-table::' in text and '.. raw:: html' in text
    assert not re.search(r'\w``\w', text.replace('\\ ``', ' ``').replace('``\\ ', '`` '))


def test_extra_docs_index_is_valid_yaml_with_titles():
    with open(docsite.EXTRA_DOCS, encoding='utf-8') as handle:
        index = yaml.safe_load(handle)
    assert all(section['title'] and section['toctree'] for section in index['sections'])
