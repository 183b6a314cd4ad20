"""scripts/docsite.py: every Markdown page of the docs and every role's README is a docsite page, with
the labels antsibull-docs wants, and the links between pages (and from the modules) resolve to them.
`make docs` builds the site itself, with antsibull-docs' lint and Sphinx's warnings as errors, then runs
these tests on the HTML it built (DOCSITE_HTML); they read it, one page in headless Chromium. Run
alone (plain pytest), the tests of the built site build one with `make docs` into a directory of their own."""

import glob
import html.parser
import importlib.util
import os
import re
import subprocess
import textwrap

import pytest
import yaml
from markdown_it import MarkdownIt

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


# The built site: every snippet reads as it must be typed.

def _env_without_make():
    """The environment for a make of its own: no flags, level or job server of the make running pytest."""
    return dict((key, value) for key, value in os.environ.items() if key not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL'))


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    """The HTML that `make docs` builds (antsibull-docs and Sphinx): the site it has just built when it runs
    these tests (DOCSITE_HTML), else one it builds into a directory of this test's own."""
    built = os.environ.get('DOCSITE_HTML')
    if built:
        assert os.path.isfile(os.path.join(built, 'docsite', 'howto_iommu_conditions.html')), \
            'DOCSITE_HTML=%s is not a built docsite' % built
        return built
    dest = tmp_path_factory.mktemp('docsite')
    completed = subprocess.run(['make', '--no-print-directory', '-C', REPO, 'docs', 'DOCS=%s' % dest],
                               capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL,
                               env=_env_without_make(), check=False)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    return str(dest / 'build' / 'html')


def _block(text):
    """A code block as a reader copies it. An RST literal block cannot keep an indentation common to all
    of its lines (nor does it mean anything to YAML or a shell), so that is left out of the comparison."""
    return textwrap.dedent(text).strip('\n')


def _spaced(text):
    """Whitespace as a reader sees it: Sphinx writes runs of spaces in a literal as no-break spaces."""
    return ' '.join(text.replace('\xa0', ' ').split())


class Literals(html.parser.HTMLParser):
    """The text of every literal of a page (Sphinx's <code> and <pre>, docutils' <span class="literal">),
    and how many tables it has."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inline, self.blocks, self.tables = [], [], 0
        self._open = []  # [tag, depth, text parts] of the literals being read

    def handle_starttag(self, tag, attrs):
        if tag == 'table':
            self.tables += 1
        for literal in self._open:
            literal[1] += tag == literal[0]
        if tag in ('code', 'pre') or tag == 'span' and 'literal' in (dict(attrs).get('class') or '').split():
            self._open.append([tag, 1, []])

    def handle_endtag(self, tag):
        for literal in list(self._open):
            if tag == literal[0]:
                literal[1] -= 1
                if not literal[1]:
                    self._open.remove(literal)
                    text = ''.join(literal[2])
                    (self.blocks if tag == 'pre' else self.inline).append(text)

    def handle_data(self, data):
        for literal in self._open:
            literal[2].append(data)


def built_literals(path):
    parser = Literals()
    with open(path, encoding='utf-8') as handle:
        parser.feed(handle.read())
    parser.close()
    return parser


def source_snippets(source):
    """What the Markdown source means by its code, read by a second parser (markdown-it, CommonMark with
    GFM tables, as GitHub reads it): the inline code outside links, the inline code of link texts, the
    code blocks, and the number of tables."""
    markdown = MarkdownIt('commonmark').enable('table')
    with open(os.path.join(REPO, source), encoding='utf-8') as handle:
        tokens = markdown.parse(handle.read())
    inline, linked, blocks = [], [], []
    for token in tokens:
        if token.type in ('fence', 'code_block'):
            blocks.append(token.content)
        depth = 0
        for child in token.children or []:
            depth += {'link_open': 1, 'link_close': -1}.get(child.type, 0)
            if child.type == 'code_inline':
                (linked if depth else inline).append(child.content)
    return inline, linked, blocks, sum(token.type == 'table_open' for token in tokens)


def test_every_snippet_on_the_site_reads_as_in_the_markdown(site):
    """Each code span and code block of every page is on its built page as GitHub shows it, and no table
    of the source is lost (mistune turns a table with a broken row into a paragraph of pipes)."""
    checked = 0
    for name, source in sorted(docsite.PAGES.items()):
        inline, _linked, blocks, tables = source_snippets(source)
        built = built_literals(os.path.join(site, 'docsite', name + '.html'))
        shown = set(_spaced(text) for text in built.inline)
        missing = [code for code in inline if _spaced(code) not in shown]
        assert not missing, '%s: inline code not shown as typed: %r' % (source, missing)
        shown_blocks = set(_block(text) for text in built.blocks)
        missing = [block for block in blocks if _block(block) not in shown_blocks]
        assert not missing, '%s: code blocks not shown as typed: %r' % (source, missing)
        assert built.tables == tables, '%s: %d tables in the source, %d on the page' % (source, tables, built.tables)
        checked += len(inline) + len(blocks)
    assert checked > 1000, checked


def test_no_literal_on_the_site_has_a_backslash_the_markdown_does_not(site):
    """A backslash in a literal of the built HTML is one the source has in its code as typed, never an
    escape of Markdown (a table's \\|) or of RST (\\`, \\\\, \\ ) kept by the conversion. The plugin pages,
    from the plugins' own docs, have no Markdown source: there no literal has an escaped pipe."""
    leaks = []
    pages = dict((os.path.join(site, 'docsite', name + '.html'), source) for name, source in docsite.PAGES.items())
    every_page = glob.glob(os.path.join(site, '*.html')) + list(pages)
    assert len(every_page) > len(pages) + 10
    for path in every_page:
        built = built_literals(path)
        if path in pages:
            inline, linked, blocks, _tables = source_snippets(pages[path])
            typed = set(_spaced(code) for code in inline + linked) | set(_block(block) for block in blocks)
            leaks.extend((pages[path], text) for text in built.inline if '\\' in text and _spaced(text) not in typed)
            leaks.extend((pages[path], text) for text in built.blocks if '\\' in text and _block(text) not in typed)
        else:
            leaks.extend((os.path.basename(path), text) for text in built.inline + built.blocks if '\\|' in text)
    assert not leaks, leaks
    # the how-to's one-liners are where the escaped pipes were
    howto = built_literals(os.path.join(site, 'docsite', 'howto_iommu_conditions.html'))
    assert "ansible_facts.hostdev | virt.hostdev.hostdev_device('01:00.0')" in map(_spaced, howto.inline)


def test_the_howto_table_in_chromium_shows_the_one_liners_as_typed(site):
    """Headless Chromium renders the how-to's table; each one-liner's visible text is the Markdown's code
    (GitHub's reading: \\| in a table cell is |). A screenshot is left in .build/docsite-howto-table.png."""
    from selenium.webdriver.common.by import By

    from support.browser import chromium, load

    source = docsite.PAGES['howto_iommu_conditions']
    markdown = MarkdownIt('commonmark').enable('table')
    with open(os.path.join(REPO, source), encoding='utf-8') as handle:
        tokens = markdown.parse(handle.read())
    expected, column = [], 0
    for previous, token in zip(tokens, tokens[1:]):
        column = {'tr_open': 0, 'td_open': column + 1}.get(token.type, column)
        if token.type == 'inline' and previous.type == 'td_open' and column == 2:  # "One line"
            expected.append(''.join(child.content for child in token.children if child.type == 'code_inline'))
    assert len(expected) == 10 and all(' | ' in line or ' is ' in line for line in expected), expected
    with chromium(window_size='1280,1000') as driver:
        load(driver, 'file://' + os.path.join(site, 'docsite', 'howto_iommu_conditions.html'))
        table = driver.find_element(By.CSS_SELECTOR, 'table')
        rows = table.find_elements(By.CSS_SELECTOR, 'tbody tr')
        shown = [row.find_elements(By.TAG_NAME, 'td')[1].text for row in rows]
        assert [_spaced(text) for text in shown] == expected
        assert all(cell.is_displayed() for cell in table.find_elements(By.CSS_SELECTOR, 'td code'))
        driver.execute_script('arguments[0].scrollIntoView()', table)
        assert table.screenshot(os.path.join(REPO, '.build', 'docsite-howto-table.png'))


EDGES = r"""# Edges

| Case | Code |
|---|---|
| a pipe in a table | `x \| y`, text \| pipe |
| a backslash before it | `a\\\| b` |
| a backtick | `` a`b `` and `` ` `` |

Backslashes `back\slash`, `C:\dir\`, `\*not emphasis\*`; edge space ` lead` and `trail `; a
[`linked` text](https://example.com) and a [page link with `code`](hostdev_facts.md).

- an item
  with a nested list
  - `one`
  - two
"""


def test_edge_cases_of_inline_code_convert_as_typed(tmp_path, monkeypatch):
    """Code that needs escapes in RST (a backtick, edge whitespace, backslashes, a table's escaped pipe)
    renders through docutils as markdown-it reads it; code in a link text is plain (RST nests no markup);
    a nested list stays a list."""
    from docutils.core import publish_parts

    (tmp_path / 'docs').mkdir()
    (tmp_path / 'docs' / 'edges.md').write_text(EDGES, encoding='utf-8')
    monkeypatch.setattr(docsite, 'ROOT', str(tmp_path))
    rst = docsite.page_rst('edges', 'docs/edges.md')
    rst = rst.replace(':ref:', '')  # Sphinx's role; docutils renders its text as a reference to nothing
    body = publish_parts(rst, writer='html5', settings_overrides={'report_level': 5})['body']
    parser = Literals()
    parser.feed(body)
    literals = parser.inline
    tokens = MarkdownIt('commonmark').enable('table').parse(EDGES)
    expected = [child.content for token in tokens for child in token.children or [] if child.type == 'code_inline']
    assert literals == [code for code in expected if code not in ('linked', 'code')]
    assert {'x | y', 'a\\\\| b', ' lead', 'trail ', 'C:\\dir\\', 'a`b'} <= set(literals)
    assert 'text | pipe' in body and '`linked` text' not in body and '>linked text<' in body
    assert 'page link with code' in body and '``' not in body
    assert body.count('<ul') == 2, body
