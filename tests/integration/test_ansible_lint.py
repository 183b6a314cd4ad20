"""ansible-lint: `ansible-lint` at the root of a clean checkout, the first thing a contributor types (no
arguments, no --offline, no collections path: it installs the collection for itself), passes with the
committed .ansible-lint (profile production), which leaves out generated files only. The YAML examples of the
README, the docs and the roles' READMEs, which users copy, lint clean with every default rule of ansible-lint.
`make lint` is the same root run, offline, in the checkout itself; `make test` runs this test instead of it."""

import glob
import os
import re
import subprocess
import sys
import textwrap

import yaml

from support import COLLECTIONS_PATH, REPO_ROOT
from support.checkout import clean_copy

BIN = os.path.dirname(sys.executable)
# Where users read YAML examples; docs/examples/ itself is linted at the root.
SOURCES = ['README.md', 'docs/*.md', 'roles/*/README.md']
# A task's or a play's key naming a module or role: a list holding one is an example to lint.
FQCN_KEY = re.compile(r'^\s*-?\s*(ansible\.builtin|virt\.hostdev)\.\w+:', re.M)


def lint(cwd, *args, **env):
    """ansible-lint's (return code, output), without colours and without fetching schemas."""
    run_env = dict(os.environ, PATH=BIN + os.pathsep + os.environ['PATH'], NO_COLOR='1', ANSIBLE_NOCOLOR='1',
                   ANSIBLE_LINT_SKIP_SCHEMA_UPDATE='1', **env)
    for name, value in env.items():
        if value is None:
            del run_env[name]
    completed = subprocess.run([os.path.join(BIN, 'ansible-lint')] + list(args), cwd=cwd, env=run_env,
                               capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, timeout=900)
    return completed.returncode, completed.stdout + completed.stderr


def test_ansible_lint_at_the_root_of_a_clean_checkout(tmp_path):
    copy = clean_copy(str(tmp_path / 'checkout'))
    returncode, output = lint(copy, ANSIBLE_COLLECTIONS_PATH=None)
    assert returncode == 0, output
    assert re.search(r"Passed: 0 failure\(s\), \d+ warning\(s\)", output), output
    assert "Profile 'production' was required" in output
    # It linted the checkout's playbooks, the test ones too, with the collection it installed for itself.
    processed = int(re.search(r'in (\d+) files processed', output).group(1))
    playbooks = glob.glob(os.path.join(copy, 'tests', '**', 'playbooks', '*.yml'), recursive=True)
    assert len(playbooks) >= 10 and processed > len(playbooks)
    assert os.path.isdir(os.path.join(copy, '.ansible', 'collections', 'ansible_collections', 'virt', 'hostdev'))


def test_the_config_leaves_out_generated_files_only():
    with open(os.path.join(REPO_ROOT, '.ansible-lint'), encoding='utf-8') as handle:
        config = yaml.safe_load(handle)
    assert config['profile'] == 'production'
    assert set(config) <= {'profile', 'exclude_paths', 'warn_list'}, 'no skip_list, no rule turned off'
    assert config['warn_list'] == ['galaxy[no-repository]']
    for path in config['exclude_paths']:
        ignored = subprocess.run(['git', 'check-ignore', '-q', '--no-index', path], cwd=REPO_ROOT, check=False)
        assert ignored.returncode == 0, '%s is not a generated file that git ignores' % path


def snippets():
    """[(source:index, kind, YAML text)] of the YAML blocks of the Markdown pages users read."""
    found = []
    for pattern in SOURCES:
        for path in sorted(glob.glob(os.path.join(REPO_ROOT, pattern))):
            with open(path, encoding='utf-8') as handle:
                blocks = re.findall(r'^[ \t]*```yaml\n(.*?)^[ \t]*```', handle.read(), re.S | re.M)
            for index, block in enumerate(blocks):
                text = textwrap.dedent(block)
                data = yaml.safe_load(text)
                kind = None
                if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
                    if all('hosts' in item or 'import_playbook' in item for item in data):
                        kind = 'play'
                    elif all('role' in item for item in data):
                        kind = 'roles'
                    elif FQCN_KEY.search(text):
                        kind = 'tasks'
                elif isinstance(data, dict) and all(re.match(r'^[a-z][a-z0-9_]*$', key) for key in data) \
                        and not {'plugin', 'version'} & set(data):
                    kind = 'vars'
                # The rest: an execution environment definition and an inventory source, copies of files of
                # docs/examples/ (linted at the root), and data (facts, results).
                if kind is None:
                    assert not FQCN_KEY.search(text) or {'plugin', 'version'} & set(data), (path, index)
                    continue
                found.append(('%s:%d' % (os.path.relpath(path, REPO_ROOT), index), kind, text))
    return found


def as_file(kind, text):
    """(path in the project, content): a play as it is, tasks and roles in a play, variables as group_vars."""
    if kind == 'play':
        return 'playbooks', '---\n' + text
    if kind == 'vars':
        return os.path.join('group_vars', 'all'), '---\n' + text
    play = '---\n- name: Example\n  hosts: all\n  gather_facts: false\n  %s:\n' % ('tasks' if kind == 'tasks' else 'roles')
    return 'playbooks', play + textwrap.indent(text, '    ')


def test_the_docs_yaml_examples_lint_clean(tmp_path):
    found = snippets()
    kinds = [kind for _name, kind, _text in found]
    assert len(found) >= 30 and set(kinds) == {'play', 'tasks', 'roles', 'vars'}, kinds
    assert [kind for name, kind, _text in found if name.startswith('README.md:')], 'the README has examples'
    project = tmp_path / 'examples'
    names = {}
    for name, kind, text in found:
        directory, content = as_file(kind, text)
        filename = re.sub(r'\W+', '_', name) + '.yml'
        os.makedirs(str(project / directory), exist_ok=True)
        (project / directory / filename).write_text(content)
        names[filename] = name
    # No config: every rule ansible-lint runs by default, the production profile's and run-once among them.
    returncode, output = lint(str(project), '--offline', '-f', 'pep8', ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH)
    for filename, name in names.items():
        output = output.replace(filename, name)
    assert returncode == 0 and 'Passed: 0 failure(s), 0 warning(s)' in output, output
