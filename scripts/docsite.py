"""The collection docsite's extra pages (docs/docsite/rst/*.rst) from the Markdown pages.

    python3 scripts/docsite.py [--check]
    python3 scripts/docsite.py --inventory FILE

The Markdown pages stay the sources (docs/*.md, roles/*/README.md: what GitHub and a checkout
show); antsibull-docs takes RST extra docs only, so this writes one RST page per source listed
in PAGES, with the label antsibull-docs wants (ansible_collections.virt.hostdev.docsite.NAME),
a label per heading, links between the pages as :ref:, links to roles' pages as the role
README's page, and links to other files of the collection as their path. The RST pages are
committed, so that `ansible-galaxy collection build` of a plain checkout carries them: edit the
Markdown, then run this (or `make docs`) and commit both. --check writes nothing and fails when a
page would change (or a source is missing from docs/docsite/extra-docs.yml): a unit test runs it.

--inventory writes a Sphinx inventory of the labels of Ansible's own docsite that the generated
plugin pages link to (ANSIBLE_LABELS), for intersphinx without the network: the links still go to
docs.ansible.com.
"""

import os
import re
import sys
import zlib
from textwrap import indent

import mistune
import yaml
from mistune.renderers.rst import RSTRenderer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RST_DIR = os.path.join(ROOT, 'docs', 'docsite', 'rst')
EXTRA_DOCS = os.path.join(ROOT, 'docs', 'docsite', 'extra-docs.yml')
LABEL_PREFIX = 'ansible_collections.virt.hostdev.docsite.'

# docsite page name -> Markdown source, relative to the collection root.
PAGES = {
    'hostdev_facts': 'docs/hostdev_facts.md',
    'howto_iommu_conditions': 'docs/howto-iommu-conditions.md',
    'device_mappings': 'docs/device-mappings.md',
    'virtual_functions': 'docs/virtual-functions.md',
    'mediated_devices': 'docs/mediated-devices.md',
    'domain_hostdev': 'docs/domain_hostdev.md',
    'hostdev_prepare': 'docs/hostdev_prepare.md',
    'bad_input': 'docs/bad-input.md',
    'execution_environment': 'docs/execution-environment.md',
    'architecture': 'docs/architecture.md',
    'role_hostdev_assign': 'roles/hostdev_assign/README.md',
    'role_hostdev_prepare': 'roles/hostdev_prepare/README.md',
    'role_hostdev_report': 'roles/hostdev_report/README.md',
}
PAGE_OF_SOURCE = dict((source, name) for name, source in PAGES.items())

# RST inline markup must start after whitespace or one of these, and end before whitespace or one
# of the others; elsewhere an escaped space (which renders as nothing) separates it.
OPENERS = ' \t\n\'"([{<-/:'
CLOSERS = ' \t\n\'")]}>-/:.,;!?\\'
START, END = '\x01', '\x02'


def slug(text):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r'[^\w\- ]', '', text.lower())
    return text.replace(' ', '-')


def escape(text):
    """Plain text as RST text: backslashes, inline markup characters and reference underscores escaped."""
    text = text.replace('\\', '\\\\')
    for char in '*`|':
        text = text.replace(char, '\\' + char)
    return re.sub(r'_(?=\W|$)', r'\\_', text)


def separate(text):
    """Put escaped spaces where inline markup touches a word, then drop the markers."""
    out = []
    for index, char in enumerate(text):
        if char == START:
            before = next((c for c in reversed(text[:index]) if c not in (START, END)), ' ')
            out.append('' if before in OPENERS else '\\ ')
        elif char == END:
            after = next((c for c in text[index + 1:] if c not in (START, END)), ' ')
            out.append('' if after in CLOSERS else '\\ ')
        else:
            out.append(char)
    return ''.join(out)


class DocsiteRenderer(RSTRenderer):
    """mistune's RST renderer with tables, labels on headings and the collection's links."""

    def __init__(self, name, source):
        super().__init__()
        self.name = name
        self.source = source
        self.titled = False

    def text(self, token, state):
        return escape(token['raw'])

    def codespan(self, token, state):
        """The code as typed: an inline literal keeps backslashes; the :literal: role (for code with a
        backtick or edge whitespace, which ``...`` cannot hold) takes escapes, and an escaped space that
        renders as nothing keeps its edge whitespace from ending the role."""
        code = token['raw']
        if '`' in code or code != code.strip():
            literal = code.replace('\\', '\\\\').replace('`', '\\`')
            if literal[:1].isspace():
                literal = '\\ ' + literal
            if literal[-1:].isspace():
                literal += '\\ '
            return START + ':literal:`' + literal + '`' + END
        return START + '``' + code + '``' + END

    def emphasis(self, token, state):
        return self._wrapped('*', token, state)

    def strong(self, token, state):
        return self._wrapped('**', token, state)

    def _wrapped(self, marker, token, state):
        """Emphasis around plain text; RST nests no inline markup, so around code it is dropped."""
        inner = self.render_children(token, state)
        if START in inner:
            return inner
        return START + marker + inner + marker + END

    def inline_html(self, token, state):
        return escape(token['raw'])

    def link(self, token, state):
        url = token['attrs']['url']
        text = self.render_children(token, state)
        # RST nests no inline markup: the text of a reference is plain, its code included.
        label = escape(plain_text(token['children']))
        if re.match(r'^[a-z]+:', url):
            return START + '`' + label.replace('<', '\\<') + ' <' + url + '>`__' + END
        path, _sep, anchor = url.partition('#')
        target = os.path.normpath(os.path.join(os.path.dirname(self.source), path)) if path else self.source
        page = PAGE_OF_SOURCE.get(target)
        if page is None:
            # A file of the collection that is not a page: its path from the collection root, once.
            shown = token['children']
            if len(shown) == 1 and shown[0]['type'] == 'codespan':
                if os.path.normpath(shown[0]['raw']) == target:
                    return text
                if os.path.normpath(os.path.join(os.path.dirname(self.source), shown[0]['raw'])) == target:
                    return START + '``' + target + '``' + END
            return text + ' (' + START + '``' + target + '``' + END + ')'
        ref = LABEL_PREFIX + page + ('.' + anchor if anchor else '')
        return START + ':ref:`' + label.replace('<', '\\<') + ' <' + ref + '>`' + END

    def image(self, token, state):
        return START + '``' + os.path.normpath(os.path.join(os.path.dirname(self.source), token['attrs']['url'])) \
            + '``' + END

    def paragraph(self, token, state):
        children = token['children']
        if len(children) == 1 and children[0]['type'] == 'image':
            return self._figure(children[0], state)
        return separate(super().paragraph(token, state))

    def block_text(self, token, state):
        return separate(super().block_text(token, state))

    def list(self, token, state):
        # RST reads a list right under an item's text as more text: a nested list needs a blank line
        # before it, which mistune leaves out in a tight list.
        text = super().list(token, state)
        return '\n' + text if token.get('parent') else text

    def _figure(self, image, state):
        """An SVG picture of the docs, inline (antsibull-docs copies RST files only)."""
        path = os.path.normpath(os.path.join(ROOT, os.path.dirname(self.source), image['attrs']['url']))
        with open(path, encoding='utf-8') as handle:
            svg = handle.read()
        # as wide as the page at most: Graphviz sizes it in points, wider than the text column
        svg = svg[svg.index('<svg'):].replace('<svg', '<svg style="max-width: 100%; height: auto"', 1)
        return '.. raw:: html\n\n' + indent(svg, '   ') + '\n\n'

    def heading(self, token, state):
        text = separate(self.render_children(token, state))
        raw = ''.join(child.get('raw', '') for child in _flatten(token['children']))
        if not self.titled:
            self.titled = True
            label = LABEL_PREFIX + self.name
        else:
            label = LABEL_PREFIX + self.name + '.' + slug(raw)
        marker = self.HEADING_MARKERS[token['attrs']['level']]
        return '.. _' + label + ':\n\n' + text + '\n' + marker * len(text) + '\n\n'

    def block_code(self, token, state):
        info = (token.get('attrs') or {}).get('info')
        language = info.split()[0] if info else 'text'
        language = {'sh': 'console', 'ini': 'ini'}.get(language, language)
        return '.. code-block:: ' + language + '\n\n' + indent(token['raw'], '  ') + '\n'

    def table(self, token, state):
        rows = []
        for part in token['children']:
            if part['type'] == 'table_head':
                rows.append([self._cell(cell, state) for cell in part['children']])
            else:
                rows.extend([self._cell(cell, state) for cell in row['children']] for row in part['children'])
        lines = ['.. list-table::', '  :header-rows: 1', '']
        for row in rows:
            for index, cell in enumerate(row):
                lines.append(('  * - ' if index == 0 else '    - ') + (cell or '\\ '))
        return '\n'.join(lines) + '\n\n'

    def _cell(self, cell, state):
        return separate(self.render_children(cell, state)).strip()


def _flatten(children):
    for child in children:
        yield child
        yield from _flatten(child.get('children') or [])


def plain_text(children):
    """The text of inline tokens as a reader sees it, without their markup."""
    return ''.join(' ' if child['type'] in ('softbreak', 'linebreak') else child.get('raw', '')
                   for child in _flatten(children))


def table_pipes(markdown):
    """GFM's escaped pipe: in a table cell `\\|` stands for `|` everywhere, inside code too (GitHub drops the
    backslash before inline parsing; mistune keeps it in code), so a one-liner reads as it must be typed."""
    def unescape(md, state):
        tokens = list(state.tokens)
        while tokens:
            token = tokens.pop()
            if token['type'] == 'table_cell' and 'text' in token:
                token['text'] = token['text'].replace('\\|', '|')
            tokens.extend(token.get('children') or [])
    markdown.before_render_hooks.append(unescape)


# Labels of Ansible's docsite (ansible_devel in the docsite's conf.py) that antsibull-docs' plugin
# pages refer to: label -> (page, title). A build that reports an undefined label of Ansible's
# docsite needs it here.
ANSIBLE_LABELS = {
    'common_return_values': ('reference_appendices/common_return_values.html', 'Return Values'),
    'ansible_configuration_settings': ('reference_appendices/config.html', 'Ansible Configuration Settings'),
}


def write_inventory(path):
    lines = ''.join('%s std:label -1 %s#%s %s\n' % (label, page, label.replace('_', '-'), title)
                    for label, (page, title) in sorted(ANSIBLE_LABELS.items()))
    with open(path, 'wb') as handle:
        handle.write(b'# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n'
                     b'# The remainder of this file is compressed using zlib.\n')
        handle.write(zlib.compress(lines.encode('utf-8')))


def page_rst(name, source):
    with open(os.path.join(ROOT, source), encoding='utf-8') as handle:
        text = handle.read()
    markdown = mistune.create_markdown(renderer=DocsiteRenderer(name, source), plugins=['table', table_pipes])
    body = markdown(text)
    header = '..\n  Generated by scripts/docsite.py from %s: edit that file, not this one.\n\n' % source
    return header + body.rstrip() + '\n'


def listed_pages():
    with open(EXTRA_DOCS, encoding='utf-8') as handle:
        index = yaml.safe_load(handle)
    return [entry if isinstance(entry, str) else entry['ref']
            for section in index['sections'] for entry in section['toctree']]


def main(argv):
    if len(argv) == 3 and argv[1] == '--inventory':
        write_inventory(argv[2])
        return 0
    check = argv[1:] == ['--check']
    problems = sorted(set(PAGES) ^ set(listed_pages()))
    if problems:
        print('docsite: pages and docs/docsite/extra-docs.yml differ: %s' % ', '.join(problems))
        return 1
    os.makedirs(RST_DIR, exist_ok=True)
    stale = []
    for name, source in PAGES.items():
        path = os.path.join(RST_DIR, name + '.rst')
        text = page_rst(name, source)
        current = None
        if os.path.exists(path):
            with open(path, encoding='utf-8') as handle:
                current = handle.read()
        if current != text:
            stale.append(name)
            if not check:
                with open(path, 'w', encoding='utf-8') as handle:
                    handle.write(text)
    for entry in os.listdir(RST_DIR):
        if entry.endswith('.rst') and entry[:-4] not in PAGES:
            stale.append(entry)
            if not check:
                os.unlink(os.path.join(RST_DIR, entry))
    if check and stale:
        print('docsite: out of date: %s (run scripts/docsite.py or make docs, and commit the pages)' % ', '.join(stale))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
