"""mdevctl's definitions read from its files under the run's root: junk is a warning, never a traceback."""

import errno
import os
import shutil

import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.reading.mdev_definitions import (
    MAX_DEFINITION_BYTES,
    Definition,
    Definitions,
    definition_states,
    read_definitions,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.sysfs_tree import SysfsTree

from support.fake_host import write

UUID = 'c2177883-f1bb-47f0-914d-32a22e3a8804'
OTHER = '5e3c1d9a-0f4b-4c2e-8a61-7d2b9e0c4f13'


def tree_of(tmp_path):
    os.makedirs(str(tmp_path / 'sys'))
    return SysfsTree(str(tmp_path / 'sys'))


def test_no_mdevctl_directory_is_unknown(tmp_path):
    assert read_definitions(tree_of(tmp_path)) is None


def test_an_empty_directory_defines_nothing(tmp_path):
    os.makedirs(str(tmp_path / 'etc' / 'mdevctl.d'))
    assert read_definitions(tree_of(tmp_path)) == {}


def test_definitions_by_uuid_with_parent_type_and_start(tmp_path):
    write(tmp_path, 'etc/mdevctl.d/mtty/' + UUID.upper(), '{"mdev_type": "mtty-2", "start": "auto", "attrs": []}')
    write(tmp_path, 'etc/mdevctl.d/0000:00:02.0/' + OTHER, '{"mdev_type": "i915-GVTg_V5_4", "start": "manual"}')
    write(tmp_path, 'etc/mdevctl.d/scripts.d/callouts/hook', '#!/bin/sh\n')
    tree = tree_of(tmp_path)
    assert read_definitions(tree) == {
        UUID: Definition(UUID, 'mtty', 'mtty-2', True),
        OTHER: Definition(OTHER, '0000:00:02.0', 'i915-GVTg_V5_4', False)}
    assert tree.warnings == []


def test_junk_is_a_definition_not_understood_with_a_warning_naming_the_file(tmp_path):
    """mdevctl has a file for the UUID, so it is not "not defined": its persistence is unknown, not false."""
    write(tmp_path, 'etc/mdevctl.d/mtty/' + UUID, '{"mdev_type": ')
    write(tmp_path, 'etc/mdevctl.d/mtty/' + OTHER, '["mtty-2"]')
    tree = tree_of(tmp_path)
    definitions = read_definitions(tree)
    assert definitions == {UUID: Definition(UUID, 'mtty', None, None), OTHER: Definition(OTHER, 'mtty', None, None)}
    assert not definitions[UUID].understood
    assert len(tree.warnings) == 2
    assert tree.warnings[0].startswith('mdevctl definition etc/mdevctl.d/mtty/%s has no mdev_type' % OTHER)
    assert tree.warnings[1].startswith('mdevctl definition etc/mdevctl.d/mtty/%s is not JSON' % UUID)
    assert tree.warnings[1].endswith('whether mdev %s is persistent, and its autostart, are unknown' % UUID)


def test_definition_states_say_unknown_where_the_files_cannot_tell():
    understood = Definitions({UUID: Definition(UUID, 'mtty', 'mtty-2', True), OTHER: Definition(OTHER, 'mtty', None, None)})
    assert definition_states(None, UUID) == (None, None)  # no mdevctl directory
    assert definition_states(understood, UUID) == (True, True)
    assert definition_states(understood, OTHER) == (None, None)  # a file not understood
    assert definition_states(understood, '00000000-0000-0000-0000-000000000001') == (False, False)


def test_one_uuid_under_two_parents_keeps_the_first_and_says_so(tmp_path):
    write(tmp_path, 'etc/mdevctl.d/a/' + UUID, '{"mdev_type": "t1"}')
    write(tmp_path, 'etc/mdevctl.d/b/' + UUID, '{"mdev_type": "t2"}')
    tree = tree_of(tmp_path)
    assert read_definitions(tree) == {UUID: Definition(UUID, 'a', 't1', False)}
    assert 'defined under two parents (a, b)' in tree.warnings[0]


# -- entries that are no readable definition, and directories that cannot be listed: unknown, never "not persistent" --

def test_a_directory_named_like_a_uuid_is_a_definition_not_understood(tmp_path):
    os.makedirs(str(tmp_path / 'etc' / 'mdevctl.d' / 'mtty' / UUID))
    tree = tree_of(tmp_path)
    definitions = read_definitions(tree)
    assert definitions == {UUID: Definition(UUID, 'mtty', None, None)}
    assert definition_states(definitions, UUID, 'mtty') == (None, None)
    assert tree.warnings == ['mdevctl definition etc/mdevctl.d/mtty/%s is a directory; whether mdev %s is persistent, '
                             'and its autostart, are unknown' % (UUID, UUID)]


@pytest.mark.parametrize('kind', ['fifo', 'device', 'dangling', 'large'])
def test_a_definition_that_is_no_small_regular_file_is_not_understood_and_never_blocks(tmp_path, kind):
    """A definition is a few hundred bytes of JSON: a FIFO (a read would block), a device, a link to nothing or a
    file of more than 64 KiB (read whole before) is a file of that UUID not understood, with a warning naming it."""
    directory = tmp_path / 'etc' / 'mdevctl.d' / 'mtty'
    os.makedirs(str(directory))
    path = str(directory / UUID)
    if kind == 'fifo':
        os.mkfifo(str(tmp_path / 'fifo'))
        os.symlink(str(tmp_path / 'fifo'), path)
    elif kind == 'device':
        os.symlink('/dev/zero', path)
    elif kind == 'dangling':
        os.symlink(str(tmp_path / 'nothing'), path)
    else:
        with open(path, 'w') as handle:
            handle.write('{"mdev_type": "mtty-2", "start": "auto", "attrs": []}' + ' ' * MAX_DEFINITION_BYTES)
    tree = tree_of(tmp_path)
    definitions = read_definitions(tree)
    assert definitions == {UUID: Definition(UUID, 'mtty', None, None)}
    assert len(tree.warnings) == 1 and tree.warnings[0].startswith('mdevctl definition etc/mdevctl.d/mtty/%s %s' % (
        UUID, {'fifo': 'is not a regular file', 'device': 'is not a regular file',
               'dangling': 'cannot be read (No such file or directory)', 'large': 'is larger than 64 KiB'}[kind]))


def test_a_definition_at_the_cap_is_read(tmp_path):
    text = '{"mdev_type": "mtty-2", "start": "auto"}'
    write(tmp_path, 'etc/mdevctl.d/mtty/' + UUID, text + ' ' * (MAX_DEFINITION_BYTES - len(text)))
    tree = tree_of(tmp_path)
    assert read_definitions(tree) == {UUID: Definition(UUID, 'mtty', 'mtty-2', True)} and tree.warnings == []


def unlistable(tmp_path, monkeypatch, relative, how):
    """Make <tmp_path>/<relative> a directory that cannot be listed: a file in its place, a link to nothing, or one
    that refuses its listing (the tests run as root, which reads any directory: os.listdir is made to refuse it)."""
    path = str(tmp_path / relative)
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if how == 'file':
        with open(path, 'w') as handle:
            handle.write('junk\n')
    elif how == 'dangling':
        os.symlink(str(tmp_path / 'nothing'), path)
    else:
        os.makedirs(path)
        listdir = os.listdir

        def refusing(where):
            if os.path.abspath(where) == path:
                raise PermissionError(errno.EACCES, 'Permission denied', where)
            return listdir(where)
        monkeypatch.setattr(os, 'listdir', refusing)


WHY = {'file': 'Not a directory', 'dangling': 'No such file or directory', 'permission': 'Permission denied'}


@pytest.mark.parametrize('how', sorted(WHY))
def test_an_mdevctl_directory_that_cannot_be_listed_makes_every_mdevs_persistence_unknown(tmp_path, monkeypatch, how):
    unlistable(tmp_path, monkeypatch, 'etc/mdevctl.d', how)
    tree = tree_of(tmp_path)
    definitions = read_definitions(tree)
    assert definitions == {}
    assert definition_states(definitions, UUID, 'mtty') == (None, None)
    assert definition_states(definitions, UUID) == (None, None)
    assert tree.warnings == ['etc/mdevctl.d cannot be listed (%s): whether any mdev is persistent, and its autostart, '
                             'are unknown' % WHY[how]]


def test_a_stray_file_beside_the_parents_directories_is_no_parent_and_leaves_persistence_known(tmp_path):
    write(tmp_path, 'etc/mdevctl.d/mtty/' + UUID, '{"mdev_type": "mtty-2", "start": "auto"}')
    write(tmp_path, 'etc/mdevctl.d/README', 'notes of the admin\n')
    tree = tree_of(tmp_path)
    definitions = read_definitions(tree)
    assert definitions == {UUID: Definition(UUID, 'mtty', 'mtty-2', True)}
    assert definitions.listed() and definitions.unlisted_paths() == []
    assert definition_states(definitions, OTHER) == (False, False)  # a new mdev is known not to be defined
    assert tree.warnings == []


@pytest.mark.parametrize('how', sorted(set(WHY) - {'file'}))
def test_a_parent_directory_that_cannot_be_listed_makes_its_mdevs_persistence_unknown(tmp_path, monkeypatch, how):
    write(tmp_path, 'etc/mdevctl.d/0000:00:02.0/' + OTHER, '{"mdev_type": "i915-GVTg_V5_4", "start": "manual"}')
    unlistable(tmp_path, monkeypatch, 'etc/mdevctl.d/mtty', how)
    tree = tree_of(tmp_path)
    definitions = read_definitions(tree)
    assert definitions == {OTHER: Definition(OTHER, '0000:00:02.0', 'i915-GVTg_V5_4', False)}
    assert definition_states(definitions, UUID, 'mtty') == (None, None)  # its file may be in there
    assert definition_states(definitions, UUID, '0000:00:02.0') == (False, False)  # that parent's files were read
    assert definition_states(definitions, UUID) == (None, None)  # a parent unknown: it may be any
    assert definition_states(definitions, OTHER, '0000:00:02.0') == (True, False)
    assert tree.warnings == ['etc/mdevctl.d/mtty cannot be listed (%s): whether an mdev of parent mtty is persistent, '
                             'and its autostart, are unknown' % WHY[how]]
