"""What the docs tests read of a page: its text, its YAML snippets, and a snippet folded so that it can be
found in the playbook that runs it (tests/unit/docs: every example on a page stands in a playbook)."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def text(path):
    with open(path) as handle:
        return handle.read()


def yaml_snippets(markdown):
    """The ```yaml blocks of a Markdown text, in order."""
    return re.findall(r'```yaml\n(.*?)```', markdown, re.S)


def folded(yaml_text):
    """The text without its comments, white space folded: indentation differs between a page and a playbook."""
    lines = [re.sub(r'\s+#.*$', '', line) for line in yaml_text.splitlines() if not line.strip().startswith('#')]
    return ' '.join(' '.join(lines).split())


def section(path, heading):
    """The part of a page from its `## heading` line to the next `## ` heading (or the end)."""
    page = text(path)
    start = page.index('## ' + heading)
    end = page.find('\n## ', start + 1)
    return page[start:] if end < 0 else page[start:end]
