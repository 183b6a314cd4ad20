#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: hostdev_report
short_description: Write a fleet report of host devices as HTML, CSV and Markdown
version_added: 0.1.0
description:
  - Builds one report over the facts of many hosts, as gathered by M(virt.hostdev.hostdev_facts) (full, compact
    or summary facts), and writes it into a directory as a self-contained HTML page, a CSV file and a Markdown
    file.
  - A fleet summary comes first (hosts without facts, hosts whose facts are unreadable, hosts with the IOMMU off,
    free GPUs per model, boot VGA and BMC display controllers, devices held by domains, drift), then each hint
    once with the hosts it applies to, the drift entries given in O(drift), then one section per set of
    identical hosts (the same devices in the same state, the same IOMMU; the section lists its hosts) with the
    IOMMU state and hint, and each GPU, NIC and controller (PCI display, network, storage, USB, Fibre Channel,
    multimedia and accelerator classes) with its IOMMU group, driver, the domains holding it, whether it is
    assignable and what blocks it. For summary facts, the section has the counts by kind and model instead.
  - The display controller of a baseboard management controller (ASPEED, the Matrox G200 server variants,
    HiSilicon iBMC) and the boot VGA device are kinds of their own, never counted as GPUs.
  - Compact facts carry the vendor and product ids, not their names; the report names them from the C(pci.ids)
    file where the module runs (O(pci_ids)), and shows the ids where it has no name.
  - A host whose facts are malformed (a device's C(pci) or the C(iommu) not a dict, an C(iommu_group) that is not
    a number, ...) is listed as unreadable with what was wrong; the rest of the report is written.
  - In the HTML page, each section of facts that list devices has a picture of its PCI topology drawn by Graphviz,
    inline as SVG (IOMMU groups as boxes, parents linked to children, held, blocked and assignable devices in
    their colours and border styles, with a legend). The page loads nothing and runs no script; its
    Content-Security-Policy forbids both.
  - Text that comes from the hosts (device, product and domain names) is HTML-escaped, Markdown-escaped and
    CSV-quoted. A CSV cell that would start with C(=), C(+), C(-) or C(@) gets a leading C(') so that a
    spreadsheet shows it as text instead of running it as a formula.
  - Runs where it is called; the role C(virt.hostdev.hostdev_report) runs it once on the controller.
  - Each file is written atomically (a temporary file in O(dest), then a rename) and only when its content
    differs. A symbolic link, directory or other non-regular file at a target name is refused, naming it,
    before anything is written. The report holds no timestamp, so the same facts give the same files.
author:
  - virt.hostdev developers (@virt-hostdev)
requirements:
  - Graphviz (the C(dot) command, package C(graphviz)) where the module runs, unless O(topology=false) or
    O(formats) leaves out V(html).
attributes:
  check_mode:
    support: full
    description: Nothing is created or written; C(changed), RV(files) and the diff say what would change.
  diff_mode:
    support: full
    description: The text of each file that changes, before and after.
options:
  hosts:
    description:
      - The facts per host, a dictionary of inventory host names to their C(ansible_facts.hostdev).
      - A host whose value is null, or not facts of M(virt.hostdev.hostdev_facts), is listed as a host without
        facts.
    type: dict
    required: true
  dest:
    description:
      - The directory the files are written into, created when missing.
      - The files are O(basename) followed by C(.html), C(.csv) and C(.md). Files of formats not asked for are
        left as they are.
    type: path
    required: true
  basename:
    description: The name of the files without extension. Letters, digits and C(_ . + -), not starting with C(.).
    type: str
    default: hostdev-report
  formats:
    description: Which files to write.
    type: list
    elements: str
    choices: [html, csv, markdown]
    default: [html, csv, markdown]
  title:
    description: The title of the HTML page and the Markdown file.
    type: str
    default: Host device report
  drift:
    description:
      - Drift entries found by a check of device mappings, each saying which host, which mapping, which
        property, what was expected and what was found.
      - Shown in a section of their own and counted in the summary. When not given, the report says that no
        mappings were checked; an empty list says that no drift was found.
    type: list
    elements: dict
    suboptions:
      host:
        description: The inventory name of the host.
        type: str
        required: true
      mapping:
        description: The name of the mapping.
        type: str
        required: true
      property:
        description: The property that differs (vendor, product, IOMMU group, ...).
        type: str
        required: true
      expected:
        description: What the mapping says. Values that are not strings are shown as JSON.
        type: raw
      found:
        description: What the host has. Values that are not strings are shown as JSON.
        type: raw
  topology:
    description: Draw each host's PCI topology with Graphviz into the HTML page.
    type: bool
    default: true
  dot_timeout:
    description: The longest one Graphviz call may take, in seconds.
    type: int
    default: 60
  pci_ids:
    description:
      - The C(pci.ids) file that names the vendor and product ids the facts carry without names.
      - When not given, C(/usr/share/misc/pci.ids) (Debian's pci.ids package) or C(/usr/share/hwdata/pci.ids)
        (hwdata), whichever exists; with neither, the report shows the ids.
    type: path
notes:
  - The CSV has one row per listed device of each host (C(count) 1), one row per kind (per model for GPUs and
    accelerators) of each host with summary facts (C(count) devices, C(assignable) of them assignable, the state
    C(summary facts)), and one row with the state C(no hostdev facts) or C(unreadable facts) and what was wrong
    per host without readable facts. Lists (blockers, domains) are joined with a comma and a space.
seealso:
  - module: virt.hostdev.hostdev_facts
  - name: Graphviz
    description: The tool that draws the topology pictures.
    link: https://graphviz.org/
'''

EXAMPLES = r'''
- name: Gather the devices of every hypervisor
  hosts: hypervisors
  tasks:
    - name: Gather the host's devices
      virt.hostdev.hostdev_facts:

- name: Write the report on the controller
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the fleet report
      virt.hostdev.hostdev_report:
        # {host: its ansible_facts.hostdev, or false when it has none}
        hosts: >-
          {{ dict(groups['hypervisors'] | zip(groups['hypervisors'] | map('extract', hostvars)
                  | map(attribute='ansible_facts', default={}) | map(attribute='hostdev', default=false))) }}
        dest: /srv/reports/hostdev
        title: Hypervisors
'''

RETURN = r'''
files:
  description: Each file of the report, with whether it changed (or would change, in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{path: /srv/reports/hostdev/hostdev-report.csv, changed: true},
           {path: /srv/reports/hostdev/hostdev-report.html, changed: true}]
summary:
  description: The fleet summary of the report.
  returned: always
  type: dict
  contains:
    hosts:
      description: How many hosts the report covers.
      type: int
      returned: always
      sample: 3
    with_facts:
      description: Sorted names of the hosts with facts.
      type: list
      elements: str
      returned: always
    summary_facts:
      description: Sorted names of the hosts whose facts are summary facts.
      type: list
      elements: str
      returned: always
    without_facts:
      description: Sorted names of the hosts without facts.
      type: list
      elements: str
      returned: always
    unreadable:
      description: The hosts whose facts are malformed, each with what was wrong.
      type: dict
      returned: always
      sample: {hv9: "device pci_0000_01_00_0: iommu_group is a dict, not a number or null"}
    iommu_off:
      description: Sorted names of the hosts whose IOMMU is off.
      type: list
      elements: str
      returned: always
    hints:
      description: Each hint of the hosts' IOMMU state once, with the sorted names of the hosts it applies to.
      type: list
      elements: dict
      returned: always
      sample: [{hint: "the IOMMU is off: enable VT-d (Intel) ...", hosts: [hv2, hv3]}]
    gpus:
      description:
        - How many GPUs the hosts with facts have (PCI display controllers but the boot VGA device and the
          display controllers of baseboard management controllers).
      type: int
      returned: always
    free_gpus:
      description: How many of them are assignable now.
      type: int
      returned: always
    gpu_models:
      description:
        - One entry per GPU model (by vendor and product ids), most free first, with C(model) (vendor and
          product names, or the ids), C(ids), C(free), C(total) and C(free_on) (the hosts with a free one).
      type: list
      elements: dict
      returned: always
      sample: [{model: "NVIDIA Corporation GA104GL [RTX A4000]", ids: "10de:24b0", free: 1, total: 2, free_on: [hv1]}]
    displays:
      description: How many boot VGA devices and BMC display controllers the hosts with facts have.
      type: int
      returned: always
    held:
      description: How many listed devices domains hold.
      type: int
      returned: always
    sections:
      description: How many sections the report has; identical hosts share one.
      type: int
      returned: always
    drift:
      description: How many drift entries were given; null when O(drift) was not given.
      type: int
      returned: always
    drift_hosts:
      description: Sorted names of the hosts with drift.
      type: list
      elements: str
      returned: always
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virt.hostdev.plugins.module_utils.errors import reported_to
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import Commands
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report import FleetReport
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_files import pci_names, render_svg, write_files
from ansible_collections.virt.hostdev.plugins.module_utils.reporting.report_values import DEFAULT_TITLE, FORMATS


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type='dict', required=True),
            dest=dict(type='path', required=True),
            basename=dict(type='str', default='hostdev-report'),
            formats=dict(type='list', elements='str', choices=list(FORMATS), default=list(FORMATS)),
            title=dict(type='str', default=DEFAULT_TITLE),
            drift=dict(type='list', elements='dict', options=dict(
                host=dict(type='str', required=True),
                mapping=dict(type='str', required=True),
                property=dict(type='str', required=True),
                expected=dict(type='raw'),
                found=dict(type='raw'),
            )),
            topology=dict(type='bool', default=True),
            dot_timeout=dict(type='int', default=60),
            pci_ids=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    with reported_to(module):
        report = FleetReport(params['hosts'], title=params['title'], drift=params['drift'],
                             names=lambda wanted: pci_names(wanted, params['pci_ids']))
        pictures = {}
        if params['topology'] and 'html' in params['formats']:
            commands = Commands.of(module)
            pictures = dict((host, render_svg(commands, source, params['dot_timeout'], 'the topology of %s' % host))
                            for host, source in report.dot_sources().items())
        documents = report.documents(params['formats'], params['basename'], pictures)
        changed, files, diffs = write_files(params['dest'], documents, check_mode=module.check_mode,
                                            diff=module._diff)
    result = dict(changed=changed, files=files, summary=report.summary)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
