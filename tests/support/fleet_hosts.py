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
"""

from __future__ import annotations

import os
import sys

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
