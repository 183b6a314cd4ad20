"""mdevctl's definitions read from its files under the run's root: junk is a warning, never a traceback."""

import os

from ansible_collections.virt.hostdev.plugins.module_utils.reading.mdev_definitions import Definition, read_definitions
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


def test_junk_is_skipped_with_a_warning_naming_the_file(tmp_path):
    write(tmp_path, 'etc/mdevctl.d/mtty/' + UUID, '{"mdev_type": ')
    write(tmp_path, 'etc/mdevctl.d/mtty/' + OTHER, '["mtty-2"]')
    tree = tree_of(tmp_path)
    assert read_definitions(tree) == {}
    assert len(tree.warnings) == 2
    assert tree.warnings[0].startswith('mdevctl definition etc/mdevctl.d/mtty/%s has no mdev_type' % OTHER)
    assert tree.warnings[1].startswith('mdevctl definition etc/mdevctl.d/mtty/%s is not JSON' % UUID)


def test_one_uuid_under_two_parents_keeps_the_first_and_says_so(tmp_path):
    write(tmp_path, 'etc/mdevctl.d/a/' + UUID, '{"mdev_type": "t1"}')
    write(tmp_path, 'etc/mdevctl.d/b/' + UUID, '{"mdev_type": "t2"}')
    tree = tree_of(tmp_path)
    assert read_definitions(tree) == {UUID: Definition(UUID, 'a', 't1', False)}
    assert 'defined under two parents (a, b)' in tree.warnings[0]
