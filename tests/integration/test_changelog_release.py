"""The release notes: `antsibull-changelog release` on a copy of the collection lists every module,
filter, test plugin and role once, in its own section, and no fragment repeats them as a change.
changelogs/changelog.yaml (Galaxy and ansible-lint want it) is antsibull-changelog's own."""

import os
import re
import subprocess
import sys

import pytest
import yaml

from support.checkout import clean_copy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def run(command, **kwargs):
    completed = subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
                               **kwargs)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout + completed.stderr


def documented(directory, suffix_doc=('.yml',)):
    """Plugin names of a plugin directory: a .yml documentation file, or a .py file with DOCUMENTATION."""
    names = set()
    for entry in os.listdir(os.path.join(REPO, directory)):
        name, extension = os.path.splitext(entry)
        if extension in suffix_doc:
            names.add(name)
        elif extension == '.py':
            with open(os.path.join(REPO, directory, entry), encoding='utf-8') as handle:
                if re.search(r'^DOCUMENTATION\s*=', handle.read(), re.M):
                    names.add(name)
    return names


def section(text, title, underline):
    """The lines of an RST section of the release notes, up to the next section of the same level."""
    marker = re.escape(underline)
    pattern = r'^%s\n%s+\n(.*?)(?=^\S[^\n]*\n%s+\n|\Z)' % (re.escape(title), marker, marker)
    match = re.search(pattern, text, re.M | re.S)
    assert match, title
    return match.group(1)


def entries(text):
    """{name: description} of the '- name - description' lines of a section."""
    return dict(re.findall(r'^- (\S+) - (.+)$', text, re.M))


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    copy = tmp_path_factory.mktemp('changelog') / 'ansible_collections' / 'virt' / 'hostdev'
    clean_copy(str(copy))
    with open(os.path.join(REPO, 'galaxy.yml'), encoding='utf-8') as handle:
        version = yaml.safe_load(handle)['version']
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ['PATH'])
    lint = run([os.path.join(BIN, 'antsibull-changelog'), 'lint'], cwd=str(copy), env=env)
    output = run([os.path.join(BIN, 'antsibull-changelog'), 'release', '--version', version, '--date', '2030-01-01'],
                 cwd=str(copy), env=env)
    return lint, output, (copy / 'CHANGELOG.rst').read_text()


def test_release_notes_list_every_module_plugin_and_role(release):
    lint, output, notes = release
    assert lint.strip() == '' and 'WARNING' not in output, lint + output
    modules = entries(section(notes, 'New Modules', '-'))
    assert set(modules) == documented('plugins/modules'), modules
    plugins = section(notes, 'New Plugins', '-')
    assert set(entries(section(plugins, 'Filter', '~'))) == documented('plugins/filter')
    assert set(entries(section(plugins, 'Test', '~'))) == documented('plugins/test')
    roles = entries(section(notes, 'New Roles', '-'))
    assert set(roles) == set(os.listdir(os.path.join(REPO, 'roles')))
    for name, description in list(modules.items()) + list(roles.items()):
        assert len(description) > 10, name


def test_no_change_repeats_a_new_module_role_or_plugin(release):
    notes = release[2]
    changes = section(notes, 'Minor Changes', '-')
    assert not re.findall(r'^- [\w.,\s]+ - new (module|role|filter|test)\b', changes, re.M)


def test_changelog_yaml_is_antsibull_changelogs_own(tmp_path):
    """The committed changelogs/changelog.yaml is valid, and in the form antsibull-changelog writes it: its
    `reformat` (which made it, before the first release) changes nothing."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ['PATH'])
    changes = os.path.join('changelogs', 'changelog.yaml')
    assert run([os.path.join(BIN, 'antsibull-changelog'), 'lint-changelog-yaml', changes], cwd=REPO, env=env).strip() == ''
    copy = clean_copy(str(tmp_path / 'copy'))
    with open(os.path.join(copy, changes), encoding='utf-8') as handle:
        committed = handle.read()
    run([os.path.join(BIN, 'antsibull-changelog'), 'reformat'], cwd=copy, env=env)
    with open(os.path.join(copy, changes), encoding='utf-8') as handle:
        assert handle.read() == committed
