#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: kernel_cmdline
short_description: Turn the IOMMU on or off in the kernel command line a host boots with
version_added: 0.1.0
description:
  - Ensures the IOMMU arguments of the kernel command line through the host's own boot mechanism,
    changing only those arguments.
  - With O(state=present), adds C(intel_iommu=on) on an Intel IOMMU (and C(iommu=pt) with
    O(passthrough_mode)), and removes what turns the IOMMU off (C(intel_iommu=off), C(amd_iommu=off),
    C(iommu=off); the C(off) option of a combined value such as C(intel_iommu=off,igfx_off)). On AMD
    nothing is added but C(iommu=pt), since the AMD IOMMU driver has no C(on) option (C(amd_iommu=on) logs
    "Unknown option") and its IOMMU is on whenever the firmware describes it. With O(state=absent), removes
    what O(state=present) adds (the C(on) option of C(intel_iommu=) and C(amd_iommu=), and C(iommu=pt));
    the kernel's default applies again.
  - An argument is what the kernel gets, so a quoted C("iommu=off") or C(iommu="off") is C(iommu=off).
  - C(grub) reads C(/etc/default/grub) and C(/etc/default/grub.d/*.cfg) as C(/bin/sh) reads them (quotes,
    continuations, comments) and edits the C(GRUB_CMDLINE_LINUX) and C(GRUB_CMDLINE_LINUX_DEFAULT)
    assignments (every other byte stays as it was; what is missing is added to the
    C(GRUB_CMDLINE_LINUX_DEFAULT) assignment that takes effect). What cannot be known without running the
    file (a value from another variable or a command, an assignment under C(if), C(case), C(&&) or in a
    function, C(+=), C(.) or C(eval), an unterminated quote) is refused, naming the file and the line, and
    nothing is changed. Each file must pass C(sh -n) as it is and as it would be written. Then it runs
    C(update-grub), or C(grub2-mkconfig)/C(grub-mkconfig) with C(-o) the existing C(grub.cfg); it
    regenerates only when a file changed, when the first entry of the generated C(grub.cfg) lacks the
    arguments or there is no C(grub.cfg), or while an earlier regeneration is pending.
  - C(grubby) runs C(grubby --update-kernel=ALL) with C(--args) and C(--remove-args), only when an
    entry needs it (one call per entry when the entries need different changes), then reads every entry
    again. When a call fails or an entry still differs, it puts back the arguments of every entry grubby
    changed, and fails naming them and whether that worked. grubby replaces an argument of the same key, so
    an added argument joins the options of one already there (C(intel_iommu=igfx_off) becomes
    C(intel_iommu=igfx_off,on)).
  - C(kernel_install) edits C(/etc/kernel/cmdline) (created from the running command line when it does
    not exist) and runs C(kernel-install add) for every installed kernel.
  - With C(grub) and C(kernel_install), the marker C(/var/lib/virt-hostdev/kernel-cmdline.pending), with the
    backup of every file rewritten, is written before the files and removed only once the regeneration
    succeeded, so a run that stopped half-way is completed by the next one. When the regeneration fails,
    the backups are put back and the task fails saying so.
  - The running kernel keeps its command line until the next boot; RV(reboot_required) says whether
    C(/proc/cmdline) differs from what was asked.
author:
  - virt.hostdev developers (@virt-hostdev)
attributes:
  check_mode:
    support: full
    description:
      - Plans exactly like a real run and returns the same RV(diff), RV(commands) and RV(reboot_required),
        and refuses what a real run refuses.
      - Nothing is written, and nothing is run but C(grubby --info=ALL) and C(sh -n) (a syntax check of GRUB's
        files).
  diff_mode:
    support: full
    description: RV(diff) holds each changed file (for grubby, each boot entry's arguments) before and after.
extends_documentation_fragment:
  - virt.hostdev.host_files
  - virt.hostdev.host_lock
options:
  state:
    description:
      - V(present) turns the IOMMU on at the next boot; V(absent) removes the arguments V(present) adds.
    type: str
    choices: [present, absent]
    default: present
  vendor:
    description:
      - Whose IOMMU it is (only Intel's needs an argument, C(intel_iommu=on)). V(auto) takes the vendor of
        the IOMMU the firmware describes, from the ACPI tables in C(/sys/firmware/acpi/tables) (C(DMAR) for
        Intel VT-d, C(IVRS) for AMD-Vi); without exactly one of them, the running IOMMU's units in
        C(/sys/class/iommu) (C(dmar*), C(ivhd*)); else the C(vendor_id) of C(/proc/cpuinfo) (C(GenuineIntel),
        C(AuthenticAMD) or C(HygonGenuine)). When none tells, it adds none and warns, naming what each source
        lacked (the ARM SMMU needs no argument). The table goes first because a virtual machine's virtual
        IOMMU need not match its CPU.
      - V(none) adds no vendor argument but still removes the ones that turn the IOMMU off.
    type: str
    choices: [auto, intel, amd, none]
    default: auto
  passthrough_mode:
    description:
      - Also add C(iommu=pt) (and remove C(iommu=nopt)) with O(state=present), so the host's own devices
        skip DMA translation while devices given to guests keep it. O(state=absent) removes C(iommu=pt)
        whatever this option says.
    type: bool
    default: false
  bootloader:
    description:
      - How the host boots. V(auto) picks V(grubby) when C(grubby) is installed and C(/boot/loader/entries)
        has entries (RHEL, Fedora), else V(grub) when C(/etc/default/grub) exists (Debian, Ubuntu), else
        V(kernel_install) when C(/etc/kernel/cmdline) exists (systemd-boot), and fails otherwise.
    type: str
    choices: [auto, grub, grubby, kernel_install]
    default: auto
  command_timeout:
    description:
      - The longest each command (C(update-grub), C(grubby), C(kernel-install)) may run, in seconds; above 0.
    type: int
    default: 300
notes:
  - The module holds the host lock that every virt.hostdev change takes (C(/run/virt-hostdev/lock), the same path
    under O(root) when it is not V(/)) from its first read to its last write, in check mode too, so two changes of
    one host never interleave.
  - O(state=absent) does not put back an C(intel_iommu=off) that O(state=present) removed.
  - An C(amd_iommu=on) that an earlier version added is left in place by O(state=present) (the kernel only
    logs "Unknown option"); O(state=absent) removes it.
seealso:
  - module: virt.hostdev.vfio_reserve
  - module: virt.hostdev.hostdev_facts
  - name: The kernel's parameters
    description: intel_iommu, amd_iommu and iommu.
    link: https://docs.kernel.org/admin-guide/kernel-parameters.html
'''

EXAMPLES = r'''
- name: Turn the IOMMU on at the next boot, in passthrough mode
  virt.hostdev.kernel_cmdline:
    passthrough_mode: true
  register: cmdline

- name: Reboot when the running kernel does not have it yet
  ansible.builtin.reboot:
  when: cmdline.reboot_required

- name: Preview the change on a RHEL host
  virt.hostdev.kernel_cmdline:
    bootloader: grubby
  check_mode: true
  diff: true

- name: Remove the arguments again
  virt.hostdev.kernel_cmdline:
    state: absent
'''

RETURN = r'''
bootloader:
  description: The boot mechanism used, V(grub), V(grubby) or V(kernel_install).
  returned: always
  type: str
  sample: grub
vendor:
  description: The vendor of the IOMMU, V(intel) or V(amd); null when it is not known (or O(vendor=none)).
  returned: always
  type: str
  sample: intel
added:
  description: The arguments added to the configured command line (to the first boot entry with grubby).
  returned: always
  type: list
  elements: str
  sample: [intel_iommu=on, iommu=pt]
removed:
  description: The arguments removed from it.
  returned: always
  type: list
  elements: str
  sample: [intel_iommu=off]
cmdline:
  description:
    - The configured command line after the change (predicted in check mode). For C(grub), the arguments
      of the normal menu entries (C(GRUB_CMDLINE_LINUX) then C(GRUB_CMDLINE_LINUX_DEFAULT)); for C(grubby),
      those of the first boot entry; for C(kernel_install), C(/etc/kernel/cmdline).
  returned: always
  type: str
  sample: quiet intel_iommu=on iommu=pt
running_cmdline:
  description: C(/proc/cmdline) of the running kernel; null when it cannot be read.
  returned: always
  type: str
  sample: BOOT_IMAGE=/vmlinuz-6.1.0-28-amd64 root=/dev/sda2 ro quiet intel_iommu=off
reboot_required:
  description: The running kernel's command line is not what was asked, so the change takes effect at the next boot.
  returned: always
  type: bool
  sample: true
commands:
  description: The commands run (to be run, in check mode) to regenerate the boot configuration; empty when nothing changed.
  returned: always
  type: list
  elements: list
  sample: [[/usr/sbin/update-grub]]
diff:
  description: Per changed file (for grubby, the boot entries), C(before), C(after) and their headers.
  returned: always
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virt.hostdev.plugins.module_utils.preparing.boot_cmdline import (
    BOOTLOADERS,
    DEFAULT_COMMAND_TIMEOUT,
    ensure_cmdline,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.cmdline_args import (
    STATES,
    VENDORS,
    CmdlineSpec,
)
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.iommu_vendor import detect_vendor
from ansible_collections.virt.hostdev.plugins.module_utils.errors import reported_to
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import (
    Commands,
    HostFiles,
    check_command_timeout,
    host_files_argument_spec,
)
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import host_lock


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host_files_argument_spec(DEFAULT_COMMAND_TIMEOUT),
            state=dict(type='str', default='present', choices=list(STATES)),
            vendor=dict(type='str', default='auto', choices=['auto'] + list(VENDORS) + ['none']),
            passthrough_mode=dict(type='bool', default=False),
            bootloader=dict(type='str', default='auto', choices=list(BOOTLOADERS)),
        ),
        supports_check_mode=True,
    )
    params = module.params
    with reported_to(module):
        check_command_timeout(params['command_timeout'])
    # One lock with every other virt.hostdev change, from the first read to the last write.
    with reported_to(module), host_lock(root=params['root']):
        files = HostFiles(params['root'])
        vendor = params['vendor']
        if vendor == 'auto':
            vendor, said = detect_vendor(files)
            if vendor is None and params['state'] == 'present':
                module.warn('the IOMMU vendor is not known: %s; no vendor IOMMU argument is added (set vendor to add '
                            'one)' % '; '.join(said))
        elif vendor == 'none':
            vendor = None
        spec = CmdlineSpec(params['state'], vendor, params['passthrough_mode'])
        outcome = ensure_cmdline(files, Commands.of(module), spec, params['bootloader'],
                                 check_mode=module.check_mode, timeout=params['command_timeout'])
    for warning in outcome.warnings:
        module.warn(warning)
    module.exit_json(changed=outcome.changed, vendor=vendor, **outcome.result())


if __name__ == '__main__':
    main()
