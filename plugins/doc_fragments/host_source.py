# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The argument spec of these options is host_source_argument_spec() in
# plugins/module_utils/argspec.py: change both together.


class ModuleDocFragment:
    """The connection and reader options shared by every module that reads the host."""

    DOCUMENTATION = r'''
options:
  uri:
    description:
      - libvirt connection URI of the C(qemu) or C(test) driver, such as V(qemu:///system),
        V(qemu:///session), V(qemu:///system?socket=/path/to/socket), V(qemu+ssh://host/system)
        (or another libvirt transport than C(+ssh), among C(+tcp), C(+tls), C(+unix), C(+libssh),
        C(+libssh2) and C(+ext)), V(test:///default) or V(test:///absolute/path.xml).
      - An empty URI, or one of another scheme, is refused before connecting, since libvirt
        would connect to its default daemon instead.
      - With a remote URI or the test driver (V(test:///...)), sysfs is not read unless
        O(sysfs_root) is given, since the local sysfs would describe another machine.
    type: str
    default: qemu:///system
  source:
    description:
      - Where the devices and IOMMU groups are read from.
      - V(libvirt) asks the libvirt daemon at O(uri), and enriches each device from sysfs
        (boot VGA, reset methods, driver, SR-IOV, USB device class, what the host itself runs
        on it) where its path exists under O(sysfs_root).
      - V(sysfs) reads O(sysfs_root) directly, with names in libvirt's scheme. A module that
        only reads then takes the defined and running domains from libvirt's state files under
        the root's parent (C(etc/libvirt/qemu) and C(run/libvirt/qemu)); a module that edits a
        domain reads the domains through O(uri).
      - V(auto) uses V(libvirt) when the Python binding is installed and the daemon answers,
        and V(sysfs) otherwise, saying why in a warning; and V(sysfs) when O(sysfs_root) is another
        machine's tree (see O(sysfs_root)). The result names the reader that ran.
    type: str
    choices: [auto, libvirt, sysfs]
    default: auto
  sysfs_root:
    description:
      - The sysfs tree to read. Files that live outside sysfs are read relative to its parent
        directory, as on a real filesystem (C(proc/cmdline), C(proc/interrupts),
        C(run/udev/data), C(usr/share/misc/pci.ids)), so a copy of a host's tree can be read
        from any directory.
      - Defaults to C(/sys) for a local hypervisor URI or O(source=sysfs), and to no sysfs at
        all for a remote URI or the test driver.
      - One machine per run. With a local hypervisor URI (which describes this machine), a
        O(sysfs_root) that is not this machine's C(/sys) (a copy of another host's tree, a snapshot,
        a root being prepared) makes O(source=auto) read that tree alone, as O(source=sysfs) does, and
        O(source=libvirt) is refused. With a remote URI or the test driver, O(sysfs_root) says the
        tree is that machine's, and libvirt's devices are enriched from it.
      - What the host itself runs on is read from C(proc/mounts) and C(proc/net/route) or
        C(proc/net/ipv6_route) beside the tree. When either cannot be read, no device is known to be
        free of the host's use, and every device gets the blocker C(host_use_unknown), with a warning.
    type: path
  timeout:
    description:
      - The longest the module waits for libvirt as a whole, in seconds, connecting and every
        call included. When the daemon does not answer in time (stopped, frozen or overloaded),
        the task fails naming O(uri), and a module that changes a domain releases the host lock
        without starting another edit. Must be above 0.
      - Independently, libvirt's keepalive closes a connection whose daemon leaves its pings
        unanswered for about 30 seconds, where the driver supports keepalive; the task then fails
        with libvirt's words (C(connection closed due to keepalive timeout)) and what they mean.
    type: int
    default: 120
'''
