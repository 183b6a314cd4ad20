"""docs/architecture.md stays a true map: every file it names exists, every plugin file is
in it, the names it tells a newcomer to use resolve, and the picture matches its source."""

import glob
import importlib
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DOC = os.path.join(REPO, 'docs', 'architecture.md')
DOT = os.path.join(REPO, 'docs', 'images', 'architecture.dot')
SVG = os.path.join(REPO, 'docs', 'images', 'architecture.svg')
MODULE_UTILS = 'ansible_collections.virt.hostdev.plugins.module_utils.'
MODULE_UTILS_DIR = os.path.join(REPO, 'plugins', 'module_utils')


def module_utils_files():
    """Every module_utils file, in the packages too: {basename without .py: dotted path below module_utils}."""
    found = {}
    for path in glob.glob(os.path.join(MODULE_UTILS_DIR, '**', '*.py'), recursive=True):
        relative = os.path.relpath(path, MODULE_UTILS_DIR)[:-len('.py')]
        found[os.path.basename(relative)] = relative.replace(os.sep, '.')
    return found


def text(path):
    with open(path) as handle:
        return handle.read()


def test_every_plugin_file_is_on_the_map():
    doc = text(DOC)
    for pattern in ('module_utils/**/*.py', 'doc_fragments/*.py', 'filter/*.py'):
        for path in glob.glob(os.path.join(REPO, 'plugins', pattern), recursive=True):
            relative = os.path.relpath(path, REPO)
            assert '`%s`' % relative in doc, '%s is not in docs/architecture.md' % relative


def test_every_file_on_the_map_exists():
    named = re.findall(r'`((?:plugins|roles|tests|docs)/[^`*<]+)`', text(DOC))
    assert len(named) > 20
    for relative in named:
        assert os.path.exists(os.path.join(REPO, relative)), relative


# `module.name` or `module.Class.name` in the doc, where module is one of ours.
@pytest.mark.parametrize('dotted', sorted(set(
    match for match in re.findall(r'`([a-z_]+\.[A-Za-z_][A-Za-z_.]*)(?:\(\))?`', text(DOC))
    if not match.endswith('.py')
    and match.split('.')[0] in module_utils_files())))
def test_every_name_the_map_gives_resolves(dotted):
    module_name, *attributes = dotted.split('.')
    found = importlib.import_module(MODULE_UTILS + module_utils_files()[module_name])
    for attribute in attributes:
        found = getattr(found, attribute)


@pytest.mark.parametrize('name', ['SysfsReader.details', 'SysfsTree', 'HostModel', 'AssignmentRequest', 'Plan'])
def test_class_names_the_map_gives_exist(name):
    assert '`%s' % name in text(DOC)
    owners = {'SysfsReader': 'sysfs_reader', 'SysfsTree': 'sysfs_tree', 'HostModel': 'host_model',
              'AssignmentRequest': 'assignment', 'Plan': 'assignment'}
    found = importlib.import_module(MODULE_UTILS + module_utils_files()[owners[name.split('.')[0]]])
    for attribute in name.split('.'):
        found = getattr(found, attribute)


def test_the_picture_is_drawn_from_its_source():
    labels = re.findall(r'label="([^"]+)"', text(DOT))
    svg = text(SVG).replace('&lt;', '<').replace('&gt;', '>').replace('&#45;', '-').replace('&amp;', '&')
    for label in labels:
        for line in label.split('\\n'):
            assert line in svg, 'docs/images/architecture.svg lacks %r: redraw it from the .dot' % line
    for module in re.findall(r'^\s+(\w+) \[label="(\w+)', text(DOT), re.M):
        if module[0] == module[1] and module[0] != 'libvirtd':
            assert module[0] in module_utils_files(), module[0]
