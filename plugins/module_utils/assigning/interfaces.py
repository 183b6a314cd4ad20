# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: PCI network devices given to a domain as <interface type='hostdev'>. No I/O happens here.

With the ``interface`` option each device goes in as ``<interface type='hostdev' managed='yes'>``
with a MAC (given, or generated: hostdev_xml.generated_mac) and an optional VLAN tag. An
interface of the same device (matched by its source address) with another MAC or VLAN is
updated in place: detached and attached again with the same guest address, alias and driver.

Problem codes (a stable interface, also in docs/domain_hostdev.md):
  not_a_network_device, hostdev_not_interface, mac_in_use.
"""

import xml.etree.ElementTree as ET
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError, described, shown
from ansible_collections.virt.hostdev.plugins.module_utils.model.devices import is_pci_kind
from ansible_collections.virt.hostdev.plugins.module_utils.model.host_model import HostModel
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import (
    MAC_RE,
    build_interface,
    domain_uuid,
    element_xml,
    generated_mac,
    interface_macs,
    interface_settings,
    interface_updated,
    is_interface,
)
from ansible_collections.virt.hostdev.plugins.module_utils.model.refusals import Problem, problem

VLAN_RANGE = (0, 4095)
# {'mac': 'xx:..', 'vlan': int or None}: what an interface of one device should be.
Wanted = Dict[str, Any]


class RequestError(HostdevError):
    """Options that cannot be used together or values that are wrong, found before the host is read."""


def checked_mac(value: Any) -> str:
    """A MAC as libvirt writes it (lower case, colons); RequestError naming what is wrong."""
    text = value.strip().lower().replace('-', ':') if isinstance(value, str) else None
    if text is None or not MAC_RE.match(text):
        raise RequestError('interface.mac %s is not a MAC address (six hexadecimal bytes such as '
                           '02:00:00:00:00:01)' % (shown(value) if isinstance(value, str) else described(value)))
    if int(text[:2], 16) & 1:
        raise RequestError('interface.mac %s is a multicast address: a network interface needs a unicast one '
                           '(the lowest bit of the first byte clear)' % text)
    if text == '00:00:00:00:00:00':
        raise RequestError('interface.mac 00:00:00:00:00:00 is not a usable address')
    return text


def checked_interface(interface: Optional[Mapping[str, Any]], device_count: int, include_group: bool,
                      pooled: bool = False) -> Optional[Wanted]:
    """The interface option, checked and normalised ({'mac', 'vlan'}), or None when not given.

    device_count: how many devices the request names, or the pool's count (pooled). A MAC given
    is one device's: with any other count, or include_group, it is refused.
    """
    if interface is None:
        return None
    if not isinstance(interface, Mapping):
        raise RequestError('interface must be a dict with mac and vlan, not %s' % described(interface))
    unknown = sorted(str(key) for key in interface if key not in ('mac', 'vlan'))
    if unknown:
        raise RequestError('interface has unknown keys %s (known: mac, vlan)' % ', '.join(unknown))
    mac = interface.get('mac')
    vlan = interface.get('vlan')
    if vlan is not None and (isinstance(vlan, bool) or not isinstance(vlan, int)
                             or not VLAN_RANGE[0] <= vlan <= VLAN_RANGE[1]):
        raise RequestError('interface.vlan must be a VLAN id from %d to %d, not %s'
                           % (VLAN_RANGE[0], VLAN_RANGE[1], described(vlan)))
    if mac is not None:
        mac = checked_mac(mac)
        if device_count != 1 or include_group:
            if include_group:
                named = 'the members of IOMMU groups too (include_group)'
            else:
                named = '%s%d devices' % ('a pool of ' if pooled else '', device_count)
            raise RequestError(
                'interface.mac %s is one interface\'s MAC, but this request names %s: give one device per task '
                'with a MAC, or leave interface.mac out so that each device gets its own stable generated MAC'
                % (mac, named))
    return {'mac': mac, 'vlan': vlan}


def owner_uuid(config_xml: Optional[str], live_xml: Optional[str], domain: str) -> str:
    """The domain's UUID, from which generated MACs are derived (its name when no definition gives one)."""
    for xml in (config_xml, live_xml):
        if xml is not None:
            uuid = domain_uuid(xml)
            if uuid:
                return uuid
    return domain


Held = Callable[[Optional[Dict[str, Any]]], List[str]]
Edit = Dict[str, str]
Current = Mapping[str, List[Tuple[ET.Element, Optional[Dict[str, Any]]]]]


def interface_edits(model: HostModel, domain: str, name: str, wanted: Wanted, uuid: str, targets: List[str],
                    current: Current, held: Held) -> Tuple[List[Edit], Optional[Dict[str, Any]], List[Problem]]:
    """(edits, the interface as it will be, problems) of giving name to domain as an interface.

    Without a MAC asked, an existing interface keeps its own MAC (only its VLAN is brought to
    what is asked), and a new one gets the generated MAC.
    """
    record = model.device(name)
    if not is_pci_kind(record, 'nic'):
        return [], None, [problem(
            'not_a_network_device', name,
            '%s (PCI class %s) is not a network device, so it cannot be an <interface>: give it without '
            'interface, as a plain <hostdev> (a VF of a storage or GPU PF goes in that way)'
            % (name, (record.get('pci') or {}).get('class') or 'unknown'))]
    address = record['pci']['address']
    edits: List[Edit] = []
    result = None
    for target in targets:
        matching = [element for element, source in current[target] if name in held(source)]
        if not matching:
            mac = wanted['mac'] or generated_mac(uuid, address)
            edits.append({'action': 'attach', 'device': name, 'target': target,
                          'xml': build_interface(record, mac, wanted['vlan'])})
            result = result or {'device': name, 'address': address, 'mac': mac, 'vlan': wanted['vlan']}
            continue
        element = matching[0]
        if not is_interface(element):
            return [], None, [problem(
                'hostdev_not_interface', name,
                '%s is already in the %s definition of %s as a plain <hostdev>, not an <interface>: remove it '
                'first (state: absent without interface), then give it as an interface; this module does not '
                'turn one into the other, since the guest would see another device' % (name, target, domain))]
        have = interface_settings(element)
        mac = wanted['mac'] or have['mac'] or generated_mac(uuid, address)
        result = result or {'device': name, 'address': address, 'mac': mac, 'vlan': wanted['vlan']}
        if have['mac'] != mac or have['vlan'] != wanted['vlan']:
            # In place: libvirt cannot change an interface's MAC with an update, so the element is
            # detached and attached again, keeping everything else it has.
            edits.append({'action': 'detach', 'device': name, 'target': target, 'xml': element_xml(element),
                          'update': 'yes'})
            edits.append({'action': 'attach', 'device': name, 'target': target,
                          'xml': interface_updated(element, mac, wanted['vlan']), 'update': 'yes'})
    return edits, result, []


def macs_in_use(model: HostModel, domain: str, chosen: List[Dict[str, Any]], own_xml: List[Optional[str]],
                edits: List[Edit], current: Current, held: Held) -> List[Problem]:
    """mac_in_use: a MAC this run gives that another domain's interface (of any type) has, or
    another interface of this domain (not one of the same device, nor one this run replaces)."""
    others: Dict[str, List[str]] = {}
    for dom in model.domains:
        if dom['name'] != domain:
            for mac in dom.get('macs') or ():
                others.setdefault(mac, []).append(dom['name'])
    replaced = set(interface_settings(ET.fromstring(edit['xml']))['mac'] for edit in edits
                   if edit['action'] == 'detach' and edit['xml'].startswith('<interface'))
    same_device = set(interface_settings(element)['mac'] for item in chosen for target in current
                      for element, source in current[target]
                      if is_interface(element) and item['device'] in held(source))
    mine = set(mac for xml in own_xml if xml is not None for mac in interface_macs(xml)) - replaced - same_device
    attached = set(edit['device'] for edit in edits if edit['action'] == 'attach')
    problems = []
    seen: Dict[str, str] = {}
    # Only a MAC this run writes is checked: one already in the domain is not this run's doing.
    for item in chosen:
        mac = item['mac']
        if item['device'] not in attached:
            seen[mac] = item['device']
            continue
        holders = ['domain %s' % name for name in sorted(others.get(mac, ()))]
        if mac in mine:
            holders.append('another interface of domain %s' % domain)
        if mac in seen:
            holders.append('%s in this same request' % seen[mac])
        seen[mac] = item['device']
        if holders:
            problems.append(problem('mac_in_use', item['device'],
                                    'MAC %s for %s is already used by %s: two interfaces with one MAC break both '
                                    'guests\' networking; give another interface.mac'
                                    % (mac, item['device'], ', '.join(holders))))
    return problems
