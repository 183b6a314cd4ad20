"""Print the kernel's IOMMU groups as JSON [{number, devices}], in libvirt's device names."""

import json
import os

ROOT = '/sys/kernel/iommu_groups'
groups = []
for number in sorted(os.listdir(ROOT), key=int):
    names = []
    for address in os.listdir(os.path.join(ROOT, number, 'devices')):
        domain, bus, slot_function = address.split(':')
        slot, function = slot_function.split('.')
        names.append('pci_%s_%s_%s_%s' % (domain, bus, slot, function))
    groups.append({'number': int(number), 'devices': sorted(names)})
print(json.dumps(groups))
