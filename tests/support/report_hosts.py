# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small fleet for the report's tests, made from the sample workstation's sysfs tree.

- ``build_iommu_off(dest)``: the sample host booted without an IOMMU (no units, no groups,
  no intel_iommu=on), so every PCI device is blocked by ``iommu_off``.
- ``rename_product(sysfs_root, old, new)``: a product name as pci.ids gives it, changed, to
  put hostile text (markup, quotes, commas, a formula) into the facts the reader builds.
- ``build_fleet(dest)`` and ``run_report(fleet, dest, ...)``: the fleet of three and the
  hostdev_report role's run over it through tests/integration/playbooks/report_fleet.yml.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

from fixtures.sample_host import build_tree

from .playbook import REPO_ROOT, run_playbook

REPORT_PLAYBOOK = os.path.join(REPO_ROOT, 'tests', 'integration', 'playbooks', 'report_fleet.yml')

# What a hostile or broken pci.ids could put into a product name: markup, a quote, a comma
# and a spreadsheet formula. The page must show it as text and run nothing.
HOSTILE_PRODUCT = '<script>window.hostdevPwned = 1</script> "GT1", =1+1'
SAMPLE_IGPU_PRODUCT = 'AlderLake-S GT1'


def build_iommu_off(dest):
    """The sample tree without an IOMMU; returns its sysfs root."""
    root = build_tree(dest)
    shutil.rmtree(os.path.join(root, 'kernel', 'iommu_groups'))
    os.makedirs(os.path.join(root, 'kernel', 'iommu_groups'))
    for unit in glob.glob(os.path.join(root, 'class', 'iommu', '*')):
        os.unlink(unit)
    shutil.rmtree(os.path.join(root, 'devices', 'virtual', 'iommu'))
    for link in glob.glob(os.path.join(root, 'devices', '**', 'iommu_group'), recursive=True):
        os.unlink(link)
    cmdline = os.path.join(os.path.dirname(root), 'proc', 'cmdline')
    with open(cmdline) as handle:
        words = [word for word in handle.read().split() if 'iommu' not in word and 'vfio' not in word]
    with open(cmdline, 'w') as handle:
        handle.write(' '.join(words) + '\n')
    interrupts = os.path.join(os.path.dirname(root), 'proc', 'interrupts')
    with open(interrupts) as handle:
        text = handle.read()
    with open(interrupts, 'w') as handle:
        handle.write(text.replace('IR-', ''))
    return root


def rename_product(sysfs_root, old, new):
    """Change a product name in the tree's pci.ids (the sysfs reader takes names from there)."""
    path = os.path.join(os.path.dirname(sysfs_root), 'usr', 'share', 'misc', 'pci.ids')
    with open(path) as handle:
        ids = handle.read()
    assert '  %s\n' % old in ids, 'no product %r in %s' % (old, path)
    with open(path, 'w') as handle:
        handle.write(ids.replace('  %s\n' % old, '  %s\n' % new))


# The drift a mapping check could have found on the fleet, for the report to show.
FLEET_DRIFT = [
    {'host': 'ws-a', 'mapping': 'gpu-a4000', 'property': 'iommu_group', 'expected': 3, 'found': 1},
    {'host': 'ws-b', 'mapping': 'nic-<lab>', 'property': 'driver', 'expected': 'vfio-pci', 'found': None},
]


def build_fleet(dest):
    """Three hosts under dest, as report_fleet.yml's `report_hosts`: ws-a (the sample host, its
    integrated GPU with HOSTILE_PRODUCT as product name), ws-b (no IOMMU), ws-c (never gathered)."""
    ws_a = build_tree(os.path.join(dest, 'ws-a'))
    rename_product(ws_a, SAMPLE_IGPU_PRODUCT, HOSTILE_PRODUCT)
    ws_b = build_iommu_off(os.path.join(dest, 'ws-b'))
    return [{'name': 'ws-a', 'root': ws_a}, {'name': 'ws-b', 'root': ws_b}, {'name': 'ws-c', 'root': ''}]


def run_report(fleet, dest, check=False, env=None, **extra_vars):
    """report_fleet.yml's report of the fleet into dest: (returncode, output, the role's result that the
    playbook records beside dest, or None)."""
    record = dest + '.result.json'
    if os.path.exists(record):
        os.unlink(record)
    completed = run_playbook(REPORT_PLAYBOOK, extra_vars=dict({'report_hosts': fleet, 'report_dest': dest}, **extra_vars),
                             check=check, env=env, timeout=300)
    result = None
    if os.path.exists(record):
        with open(record, encoding='utf-8') as handle:
            result = json.load(handle)
    return completed.returncode, completed.stdout + completed.stderr, result
