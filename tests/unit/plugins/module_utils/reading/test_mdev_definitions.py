"""mdevctl's definitions read from its files under the run's root: junk is a warning, never a traceback."""

import os

from ansible_collections.virt.hostdev.plugins.module_utils.reading.mdev_definitions import (
    Definition,
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
    understood = {UUID: Definition(UUID, 'mtty', 'mtty-2', True), OTHER: Definition(OTHER, 'mtty', None, None)}
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
