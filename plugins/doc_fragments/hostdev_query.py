# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The keys listed here are the ones plugins/plugin_utils/facts_query.py reads: change both together.


class ModuleDocFragment:
    """The facts the query filters and tests read, and which keys of them."""

    # Filters: the facts are the input (ansible_facts.hostdev | virt.hostdev.NAME(...)).
    DOCUMENTATION = r'''
options:
  _input:
    description:
      - The facts of one host, C(ansible_facts.hostdev) as M(virt.hostdev.hostdev_facts) sets them
        (from this play, another host's C(hostvars[host].ansible_facts.hostdev), or the fact cache).
    type: dict
    required: true
notes:
  - The answers come from the same device model as M(virt.hostdev.hostdev_facts) and
    M(virt.hostdev.domain_hostdev), built from the facts; nothing on the host is read again.
  - "Keys read, of each device: C(name), C(type), C(parent), C(iommu_group), C(pci.class), C(pci.address),
    C(passthrough.reasons), C(driver), C(assigned_to) and C(assignable); and C(iommu_groups). Only C(name) is
    required (and C(assignable) for P(virt.hostdev.hostdev_assignable#filter)); the others may be left out.
    A PCI device without C(pci.address) is at the address its name gives, in the group of its C(iommu_group),
    and a bridge when C(passthrough.reasons) has C(pci_bridge); without a class, it is of no kind and an
    endpoint."
  - "Compact facts (M(virt.hostdev.hostdev_facts) with O(virt.hostdev.hostdev_facts#module:facts=compact))
    give the same answers for the devices they list: a PCI device that C(iommu_groups) names and the devices
    leave out is one of the bridges compact facts leave out."
  - Input that is not the facts dict, and a device, group or kind that does not exist, fail with a message
    that names the filter and what was wrong.
  - Summary facts (O(virt.hostdev.hostdev_facts#module:facts=summary)) name no device, so the filter fails saying
    so. Their C(kinds) count the devices of each kind and model, assignable or not, without a filter.
  - C(docs/howto-iommu-conditions.md) in the collection writes the common conditions on IOMMU groups with
    these filters and tests, one line each.
'''

    # Tests: the device is the input and the facts the argument
    # ('pci_0000_01_00_0' is virt.hostdev.NAME(ansible_facts.hostdev)).
    TEST = r'''
options:
  _input:
    description:
      - The device, by node device name (V(pci_0000_01_00_0)), PCI address (V(0000:01:00.0) or V(01:00.0)),
        USB V(vendor:product) or V(bus.device), or a device dict of C(ansible_facts.hostdev.devices).
      - A name that is no device of the host fails, naming it.
    type: raw
    required: true
  facts:
    description:
      - The facts of the host, C(ansible_facts.hostdev) as M(virt.hostdev.hostdev_facts) sets them.
    type: dict
    required: true
notes:
  - The answers come from the same device model as M(virt.hostdev.hostdev_facts) and
    M(virt.hostdev.domain_hostdev), built from the facts; nothing on the host is read again.
  - "Keys read, of each device: C(name), C(type), C(parent), C(iommu_group), C(pci.class), C(pci.address)
    and C(passthrough.reasons); and C(iommu_groups). Only C(name) is required; the others may be left out. A
    PCI device without C(pci.address) is at the address its name gives, in the group of its C(iommu_group),
    and a bridge when C(passthrough.reasons) has C(pci_bridge); without a class, it is an endpoint."
  - "Compact facts (M(virt.hostdev.hostdev_facts) with O(virt.hostdev.hostdev_facts#module:facts=compact))
    give the same answers: a PCI device that C(iommu_groups) names and the devices leave out is one of the
    bridges compact facts leave out."
  - Summary facts (O(virt.hostdev.hostdev_facts#module:facts=summary)) name no device, so the test fails saying so.
  - The test is false for a device that is not a PCI endpoint (a bridge, a USB or SCSI device, a network
    interface) and for a device without an IOMMU group (on a host with the IOMMU off, every device).
  - C(docs/howto-iommu-conditions.md) in the collection writes the common conditions on IOMMU groups with
    these filters and tests, one line each.
'''
