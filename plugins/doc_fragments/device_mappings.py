# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """The options every device mapping filter shares: the host's facts, the table, the host."""

    DOCUMENTATION = r'''
options:
  _input:
    description:
      - The host's facts, C(ansible_facts.hostdev) as M(virt.hostdev.hostdev_facts) sets them, full or compact
        (or their C(devices) list), from this play, C(hostvars[host]) or the fact cache. Compact facts keep every
        property a mapping compares.
    type: raw
    required: true
  mappings:
    description:
      - The mapping table, usually the inventory variable C(hostdev_mappings). Each mapping name maps to
        a C(description), property defaults and C(hosts), a dict from host name to the host's entry
        (C(address) and properties).
    type: dict
    required: true
  host:
    description: The host's name in the table, usually C(inventory_hostname).
    type: str
    required: true
notes:
  - An entry's C(address) is a PCI address (C(0000:41:00.0)), a USB vendor:product (C(046d:c31c)) or a USB
    bus.device (C(1.3)). C(vendor_id) and C(product_id) are required; C(subsystem_vendor_id), C(subsystem_id),
    C(iommu_group) and C(driver) are optional and apply to PCI devices only.
  - Ids compare in any spelling (V(10de), V(0x10DE)); write them as strings, since YAML reads an unquoted
    V(8086) as a decimal number (a number is refused).
  - A table with an unknown property, a missing required one or a value that cannot be read fails, naming
    every problem of every host's entry in the mappings asked for; so does a mapping name not in the table.
  - C(docs/device-mappings.md) in the collection has the layout, what counts as drift, and how to move a card.
'''
