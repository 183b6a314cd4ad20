# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fake hosts of a fleet, made from the sample workstation's tree, for the fact cache example and
the fleet benchmark.

- ``build_gpu_held(dest)``: the sample host whose integrated GPU (00:02.0, its one free GPU) a
  defined domain holds, so no GPU of it is assignable.
- ``build_fleet_hosts(dest)``: {name: sysfs root} of the sample host (``sample``: IOMMU on, a free
  GPU), the sample booted without an IOMMU (``iommu_off``) and ``gpu_held``.
- ``local_inventory(hosts)``: a YAML inventory of hosts on the local connection, each reading the
  tree its root names (``hostdev_source: sysfs``, ``hostdev_sysfs_root``).
- ``fleet_kinds(hosts, large_every)``: the kind of fake host each inventory host of a fleet reads.
- ``fleet_facts(roots, hosts, full)``: {inventory name: facts} of such a fleet as its report takes
  them: summary facts for every host, full facts for ``full`` of them.
"""

from __future__ import annotations

import os
import sys

from ansible_collections.virt.hostdev.plugins.module_utils.model.host_facts import host_facts
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host

from fixtures.sample_host import build_tree
from support.report_hosts import build_iommu_off

GPU_VM_XML = """<domain type='kvm'>
  <name>gpu-vm</name>
  <uuid>5a0c7c6e-54b4-4b5e-9d55-0f2b6a9e2d11</uuid>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
      </source>
    </hostdev>
  </devices>
</domain>
"""


def build_gpu_held(dest):
    """The sample tree with its integrated GPU held by the defined domain gpu-vm; its sysfs root."""
    root = build_tree(dest)
    with open(os.path.join(os.path.dirname(root), 'etc', 'libvirt', 'qemu', 'gpu-vm.xml'), 'w') as handle:
        handle.write(GPU_VM_XML)
    return root


def build_fleet_hosts(dest):
    """{name: sysfs root} of the three kinds of fake host, each under dest/name."""
    return {
        'sample': build_tree(os.path.join(dest, 'sample')),
        'iommu_off': build_iommu_off(os.path.join(dest, 'iommu_off')),
        'gpu_held': build_gpu_held(os.path.join(dest, 'gpu_held')),
    }


def local_inventory(hosts, group='hypervisors', python=sys.executable):
    """The text of a YAML inventory: group with each {inventory name: sysfs root} host on the local
    connection, reading its tree through sysfs."""
    lines = ['---', '%s:' % group, '  hosts:']
    for name, root in hosts.items():
        lines += ['    %s:' % name, '      ansible_connection: local',
                  '      ansible_python_interpreter: %s' % python,
                  '      hostdev_source: sysfs', '      hostdev_sysfs_root: %s' % root]
    return '\n'.join(lines) + '\n'


FLEET_KINDS = ('sample', 'iommu_off', 'gpu_held')


def fleet_kinds(hosts, large_every=20):
    """The kind of each of `hosts` inventory hosts, in order: the kinds of build_fleet_hosts in turn, and
    every `large_every`-th host 'large' (a synthetic host; 0: none)."""
    return ['large' if large_every and index % large_every == large_every - 1 else FLEET_KINDS[index % len(FLEET_KINDS)]
            for index in range(hosts)]


def host_name(index):
    return 'host%04d' % index


def fleet_facts(roots, hosts=1000, full=20, large_every=20):
    """{inventory name: ansible_facts.hostdev} of a fleet whose host i reads roots[fleet_kinds()[i]]: summary
    facts for every host, but full facts for the first `full` hosts that are not large (the hosts a play
    picked). Each kind is read once per form; hosts of a kind share its facts (nothing changes them)."""
    read = {}

    def facts_of(kind, mode):
        if (kind, mode) not in read:
            model, used, _warnings = read_host('sysfs', 'qemu:///system', roots[kind])
            read[(kind, mode)] = host_facts(model, used, mode)
        return read[(kind, mode)]
    facts = {}
    picked = 0
    for index, kind in enumerate(fleet_kinds(hosts, large_every)):
        mode = 'full' if picked < full and kind != 'large' else 'summary'
        picked += mode == 'full'
        facts[host_name(index)] = facts_of(kind, mode)
    return facts
