"""The docsite's RST pages (docs/docsite/rst/) are committed, so that `ansible-galaxy collection build` of a
plain checkout carries them: they must be what scripts/docsite.py makes of the Markdown now, and its --check
must notice a page that is not."""

import importlib.util
import os
import shutil

import pytest

# scripts/docsite.py reads Markdown with mistune (tests/requirements.txt, in .venv); `make compat`'s venvs
# hold only what the plugins need, and the pages do not depend on the ansible-core version.
pytest.importorskip('mistune', reason='the docsite pages are checked by make unit, in .venv')

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SPEC = importlib.util.spec_from_file_location('docsite', os.path.join(REPO, 'scripts', 'docsite.py'))
docsite = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(docsite)


def test_the_committed_pages_are_current(capsys):
    assert docsite.main(['docsite.py', '--check']) == 0, capsys.readouterr().out
    assert sorted(os.listdir(docsite.RST_DIR)) == sorted(name + '.rst' for name in docsite.PAGES)


def test_check_names_a_stale_page_and_a_leftover_one_and_writes_nothing(tmp_path, monkeypatch, capsys):
    pages = tmp_path / 'rst'
    shutil.copytree(docsite.RST_DIR, str(pages))
    monkeypatch.setattr(docsite, 'RST_DIR', str(pages))
    stale = pages / 'bad_input.rst'
    stale.write_text(stale.read_text() + '\nAn edit of the generated page.\n')
    (pages / 'removed_page.rst').write_text('A page whose source is gone.\n')
    before = dict((path.name, path.read_text()) for path in pages.iterdir())

    assert docsite.main(['docsite.py', '--check']) == 1
    message = capsys.readouterr().out
    assert 'out of date: bad_input, removed_page.rst' in message and 'commit' in message
    assert dict((path.name, path.read_text()) for path in pages.iterdir()) == before

    assert docsite.main(['docsite.py']) == 0
    assert docsite.main(['docsite.py', '--check']) == 0
    assert sorted(path.name for path in pages.iterdir()) == sorted(name + '.rst' for name in docsite.PAGES)
