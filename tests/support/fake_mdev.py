# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mediated devices in a fake sysfs tree that act as the kernel's mdev core does, and a fake mdevctl.

The kernel (``FakeMdevKernel``): a parent (a virtual device as mtty's, or a PCI device of the tree)
lists its types under ``mdev_supported_types/<type>/`` (name, device_api, available_instances,
description, create, devices/) and is linked from ``class/mdev_bus/<parent>``. Writing a UUID to a
type's ``create`` makes ``<parent dir>/<uuid>`` (its ``mdev_type`` link, ``iommu_group`` link and
``remove``), links it from ``bus/mdev/devices`` and the type's ``devices/``, and takes one available
instance; a second create of the same UUID fails with EEXIST, and one with no instance left with
ENOSPC. Writing 1 to its ``remove`` reverses it. An ``exclusive`` parent (as vendor vGPU drivers)
offers 0 instances of every other type while one type has instances.

Everything the kernel knows is in files (the tree, and ``fake-mdev.json`` beside it: each parent's
directory, exclusivity and instances per type), so any process can act as it: ``kernel.watching()``
acts on writes from another process (a module run), and the fake ``mdevctl`` (``install_mdevctl``)
makes and removes mdevs through the same class, keeping its definitions as mdevctl does, one JSON file
per mdev in ``etc/mdevctl.d/<parent>/<uuid>`` under the root ({"mdev_type", "start": auto|manual,
"attrs"}).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys

from fixtures.sample_host import build_tree

from support.fake_pci_kernel import acting

STATE = 'fake-mdev.json'
DEVICE_API = 'vfio-pci'


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text + '\n' if text and not text.endswith('\n') else text)


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _link(path, target):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(os.path.relpath(target, os.path.dirname(path)), path)


class FakeMdevKernel:
    """The mdev parents of one fake sysfs tree (its sys directory); root is the tree's parent."""

    def __init__(self, sysfs, first_group=200):
        self.sysfs = os.path.abspath(str(sysfs))
        self.root = os.path.dirname(self.sysfs)
        self.first_group = first_group
        self.refused = []

    # -- the kernel's own state, in files --------------------------------------------------------
    def _state(self):
        text = _read(os.path.join(self.root, STATE))
        return json.loads(text) if text else {'parents': {}}

    def _save(self, state):
        _write(os.path.join(self.root, STATE), json.dumps(state, sort_keys=True))

    def add_parent(self, parent, types, directory=None, exclusive=False, node=None, subsystem='fake'):
        """A parent named parent in sysfs (fake0, or a PCI address whose directory is given) offering
        types {type id: instances}; node: its libvirt node device name (<subsystem>_<parent> when not PCI)."""
        if directory is None:  # a virtual device of its class, as the mtty sample makes one (libvirt: mtty_mtty)
            directory = os.path.join(self.sysfs, 'devices', 'virtual', subsystem, parent)
            os.makedirs(os.path.join(self.sysfs, 'class', subsystem), exist_ok=True)
            _link(os.path.join(directory, 'subsystem'), os.path.join(self.sysfs, 'class', subsystem))
        os.makedirs(directory, exist_ok=True)
        state = self._state()
        state['parents'][parent] = {'dir': directory, 'exclusive': exclusive, 'types': dict(types),
                                    'node': node or '%s_%s' % (subsystem, parent)}
        self._save(state)
        for mdev_type in types:
            base = os.path.join(directory, 'mdev_supported_types', mdev_type)
            _write(os.path.join(base, 'name'), 'Dual port' if mdev_type.endswith('2') else 'Single port')
            _write(os.path.join(base, 'device_api'), DEVICE_API)
            _write(os.path.join(base, 'description'), 'fake %s' % mdev_type)
            _write(os.path.join(base, 'create'), '')
            os.makedirs(os.path.join(base, 'devices'), exist_ok=True)
        _link(os.path.join(self.sysfs, 'class', 'mdev_bus', parent), directory)
        self._available(parent)
        return directory

    def parents(self):
        return self._state()['parents']

    def mdevs(self):
        """{uuid: (parent, type)} of the mdevs that exist on this kernel's parents (not the sample's mtty)."""
        found = {}
        bus = os.path.join(self.sysfs, 'bus', 'mdev', 'devices')
        parents = self.parents()
        for uuid in sorted(os.listdir(bus)) if os.path.isdir(bus) else []:
            device = os.path.realpath(os.path.join(bus, uuid))
            parent = os.path.basename(os.path.dirname(device))
            if parent in parents:
                found[uuid] = (parent, os.path.basename(os.path.realpath(os.path.join(device, 'mdev_type'))))
        return found

    def available(self, parent, mdev_type):
        info = self.parents()[parent]
        used = [kind for owner, kind in self.mdevs().values() if owner == parent]
        if info['exclusive'] and any(kind != mdev_type for kind in used):
            return 0
        return info['types'][mdev_type] - used.count(mdev_type)

    def _available(self, parent):
        info = self.parents()[parent]
        for mdev_type in info['types']:
            _write(os.path.join(info['dir'], 'mdev_supported_types', mdev_type, 'available_instances'),
                   str(self.available(parent, mdev_type)))

    # -- what the kernel does on a write ----------------------------------------------------------
    def create(self, parent, mdev_type, uuid):
        info = self.parents()[parent]
        if uuid in self.mdevs():
            raise OSError(errno.EEXIST, 'File exists')
        if self.available(parent, mdev_type) <= 0:
            raise OSError(errno.ENOSPC, 'No space left on device')
        device = os.path.join(info['dir'], uuid)
        type_dir = os.path.join(info['dir'], 'mdev_supported_types', mdev_type)
        _link(os.path.join(device, 'mdev_type'), type_dir)
        _write(os.path.join(device, 'remove'), '')
        group = self.first_group + len(self.mdevs())
        group_dir = os.path.join(self.sysfs, 'kernel', 'iommu_groups', str(group))
        os.makedirs(os.path.join(group_dir, 'devices'), exist_ok=True)
        _link(os.path.join(device, 'iommu_group'), group_dir)
        _link(os.path.join(group_dir, 'devices', uuid), device)
        _link(os.path.join(type_dir, 'devices', uuid), device)
        _link(os.path.join(self.sysfs, 'bus', 'mdev', 'devices', uuid), device)
        self._available(parent)

    def remove(self, uuid):
        if uuid not in self.mdevs():
            raise OSError(errno.ENODEV, 'No such device')
        parent, mdev_type = self.mdevs()[uuid]
        device = os.path.realpath(os.path.join(self.sysfs, 'bus', 'mdev', 'devices', uuid))
        group = os.path.realpath(os.path.join(device, 'iommu_group'))
        os.unlink(os.path.join(self.sysfs, 'bus', 'mdev', 'devices', uuid))
        os.unlink(os.path.join(self.parents()[parent]['dir'], 'mdev_supported_types', mdev_type, 'devices', uuid))
        shutil.rmtree(group)
        shutil.rmtree(device)
        self._available(parent)

    def writer(self, path, text):
        """A write to a create or remove file, the kernel acting inside it (OSError as it refuses)."""
        if os.path.basename(path) == 'create':
            type_dir = os.path.dirname(path)
            parent_dir = os.path.realpath(os.path.dirname(os.path.dirname(type_dir)))
            parent = [name for name, info in self.parents().items() if os.path.realpath(info['dir']) == parent_dir][0]
            self.create(parent, os.path.basename(type_dir), text.strip())
        elif os.path.basename(path) == 'remove' and text.strip() == '1':
            self.remove(os.path.basename(os.path.realpath(os.path.dirname(path))))

    def watching(self, poll=0.005):
        """The kernel in a thread: each UUID written to a create file, and each 1 to a remove file, is acted on
        and the file emptied; what the kernel refuses is recorded in ``refused``."""
        return acting(self, self._watch_once, poll)

    def _watch_once(self):
        files = []
        for info in self.parents().values():
            types = os.path.join(info['dir'], 'mdev_supported_types')
            files += [os.path.join(types, kind, 'create') for kind in info['types']]
        bus = os.path.join(self.sysfs, 'bus', 'mdev', 'devices')
        files += [os.path.join(bus, uuid, 'remove') for uuid in self.mdevs()]
        for path in files:
            text = _read(path)
            if not text:
                continue
            # taken before it is acted on: a module that waits for the mdev to appear writes its next UUID
            # then, and emptying the file after the act could erase that write
            _write(path, '')
            try:
                self.writer(path, text)
            except OSError as error:
                self.refused.append((path, text, error.strerror))

    # -- mdevctl's definitions ------------------------------------------------------------------
    def definitions(self):
        """{uuid: (parent, type, autostart)} from etc/mdevctl.d under the root, of this kernel's parents."""
        found = {}
        base = os.path.join(self.root, 'etc', 'mdevctl.d')
        for parent in sorted(set(os.listdir(base)) & set(self.parents())) if os.path.isdir(base) else []:
            for uuid in sorted(os.listdir(os.path.join(base, parent))):
                config = json.loads(_read(os.path.join(base, parent, uuid)) or '{}')
                found[uuid] = (parent, config.get('mdev_type'), config.get('start') == 'auto')
        return found


# The fake mdevctl: its argv logged to $FAKE_LOG, then what mdevctl does, on the fake kernel of
# $FAKE_SYSFS and the definitions under $FAKE_ROOT/etc/mdevctl.d; FAKE_MDEVCTL_FAIL=<command> fails it.
MDEVCTL = r'''#!%(python)s
import json, os, sys
sys.path[:0] = [%(tests)r, %(collections)r]
from support.fake_mdev import FakeMdevKernel
with open(os.environ['FAKE_LOG'], 'a') as log:
    log.write(json.dumps(['mdevctl'] + sys.argv[1:]) + '\n')
command, args = sys.argv[1], sys.argv[2:]
options = dict((args[i][2:], args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith('--') else True)
               for i in range(len(args)) if args[i].startswith('--'))
def fail(message):
    sys.stderr.write('Error: %%s\n' %% message)
    sys.exit(1)
if os.environ.get('FAKE_MDEVCTL_FAIL') == command:
    fail('simulated failure')
kernel = FakeMdevKernel(os.environ['FAKE_SYSFS'])
uuid = options.get('uuid')
defined = kernel.definitions()
base = os.path.join(kernel.root, 'etc', 'mdevctl.d')
def save(parent, kind, auto):
    os.makedirs(os.path.join(base, parent), exist_ok=True)
    with open(os.path.join(base, parent, uuid), 'w') as handle:
        json.dump({'mdev_type': kind, 'start': 'auto' if auto else 'manual', 'attrs': []}, handle)
try:
    if command == 'define':
        if uuid in defined:
            fail('Device %%s already defined' %% uuid)
        parent, kind = options.get('parent'), options.get('type')
        if (not parent or not kind) and uuid in kernel.mdevs():
            parent, kind = kernel.mdevs()[uuid]
        save(parent, kind, 'auto' in options)
    elif command == 'modify':
        if uuid not in defined:
            fail('Device %%s not defined' %% uuid)
        save(defined[uuid][0], defined[uuid][1], 'auto' in options)
    elif command == 'undefine':
        if uuid not in defined:
            fail('Device %%s not defined' %% uuid)
        os.unlink(os.path.join(base, defined[uuid][0], uuid))
    elif command == 'start':
        if 'parent' in options and 'type' in options:
            kernel.create(options['parent'], options['type'], uuid)
        elif uuid in defined:
            kernel.create(defined[uuid][0], defined[uuid][1], uuid)
        else:
            fail('Device %%s not defined and no parent and type given' %% uuid)
    elif command == 'stop':
        kernel.remove(uuid)
    else:
        fail('unknown command %%s' %% command)
except OSError as error:
    fail('%%s: %%s' %% (uuid, error.strerror))
'''


def install_mdevctl(directory):
    """The fake mdevctl in directory (a FakeTools bin): its path."""
    import ansible_collections

    path = os.path.join(str(directory), 'mdevctl')
    with open(path, 'w') as handle:
        handle.write(MDEVCTL % {'python': sys.executable,
                                'tests': os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'collections': os.path.dirname(list(ansible_collections.__path__)[0])})
    os.chmod(path, 0o755)
    return path


# Debian 12's mdevctl 1.2.0-3+b1 rule, as its package installs it (RUN+= lines naming /usr/sbin/mdevctl).
DEBIAN_RULE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures', 'udev',
                           '60-mdevctl.rules')


def packaged_mdevctl_rule(root, directory='usr/lib/udev/rules.d', program='usr/sbin/mdevctl'):
    """Debian's rule under root in directory, and (unless program is None) the program it runs, so autostart works."""
    with open(DEBIAN_RULE) as handle:
        _write(os.path.join(root, directory, '60-mdevctl.rules'), handle.read())
    if program:
        _write(os.path.join(root, program), '#!/bin/sh\nexit 0\n')
        os.chmod(os.path.join(root, program), 0o755)


def mdev_host(root, types=None, exclusive=False):
    """(root, kernel): the sample host (its mtty parent mtty_mtty with two mdevs, one held by ci-runner) under
    root, and a parent fake0 (node device fake_fake0) the fake kernel acts for, offering types (fake-1: 4 and
    fake-2: 2 by default) of its own, so that a placement anywhere on the host finds only it. The host has mdevctl's udev rule with the program
    it runs (packaged_mdevctl_rule)."""
    build_tree(str(root))
    packaged_mdevctl_rule(str(root))
    kernel = FakeMdevKernel(os.path.join(str(root), 'sys'))
    kernel.add_parent('fake0', types or {'fake-1': 4, 'fake-2': 2}, exclusive=exclusive)
    return str(root), kernel
