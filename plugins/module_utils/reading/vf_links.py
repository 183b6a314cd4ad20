# -*- coding: utf-8 -*-
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: what a network PF says of its VFs (MAC, VLAN, QoS, spoof check, trust, link state).

The PF's driver keeps these settings, not the VF: they are read from the PF's interface with
``ip -j -d link show`` (iproute2, on every Debian and RHEL host), once per run, for every
interface at once. Only where the devices are this machine's: a remote URI, the test driver or a
copy of another host's tree describe another machine, whose links this machine cannot see.
parse_vf_links() is pure; read_vf_links() runs the command under a time limit; attach_vf_links()
puts the answer in the VF records (pci.sriov.link).
"""

import json
from typing import Any, Callable, Dict, Iterable, List, Optional

from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.model.records import Record

IP_LINK_COMMAND = ['ip', '-j', '-d', 'link', 'show']
# Seconds `ip link` may take: a netlink dump of a host's interfaces takes milliseconds.
IP_LINK_TIMEOUT = 10

# {PF interface name: {VF index: {mac, vlan, qos, spoof_check, trust, link_state}}}
VfLinks = Dict[str, Dict[int, Dict[str, Any]]]


def _vf_link(entry: Dict[str, Any]) -> Dict[str, Any]:
    """One vfinfo_list entry as records.SRIOV_LINK_KEYS. iproute2 leaves out a VLAN and a QoS of 0
    (an untagged VF), and spoof check or trust a driver does not report (then None)."""
    vlans = entry.get('vlan_list')
    first = vlans[0] if isinstance(vlans, list) and vlans and isinstance(vlans[0], dict) else entry
    spoof, trust = entry.get('spoofchk'), entry.get('trust')
    state = entry.get('link_state')
    return {
        'mac': entry.get('address') if isinstance(entry.get('address'), str) else None,
        'vlan': first.get('vlan', 0) if isinstance(first.get('vlan', 0), int) else None,
        'qos': first.get('qos', 0) if isinstance(first.get('qos', 0), int) else None,
        'spoof_check': spoof if isinstance(spoof, bool) else None,
        'trust': trust if isinstance(trust, bool) else None,
        'link_state': state if isinstance(state, str) else None,
    }


def parse_vf_links(text: Optional[str], warnings: List[str]) -> Optional[VfLinks]:
    """The VF settings of every interface that lists them, from `ip -j -d link show`'s output.

    None (with a warning) when the output is not the JSON list iproute2 writes: the settings are
    unknown then, never guessed. An interface without vfinfo_list (no VFs, or an iproute2 too old
    to write them in JSON) is left out: its VFs' settings are unknown (see attach_vf_links).
    """
    try:
        interfaces = json.loads(text or '')
    except ValueError as error:
        warnings.append('`%s` did not give JSON (%s): the MAC, VLAN and link settings of the virtual functions '
                        'are unknown' % (' '.join(IP_LINK_COMMAND), error))
        return None
    if not isinstance(interfaces, list):
        warnings.append('`%s` gave %s, not a list of interfaces: the MAC, VLAN and link settings of the virtual '
                        'functions are unknown' % (' '.join(IP_LINK_COMMAND), type(interfaces).__name__))
        return None
    links: VfLinks = {}
    for interface in interfaces:
        if not isinstance(interface, dict) or not isinstance(interface.get('ifname'), str):
            continue
        entries = interface.get('vfinfo_list')
        if not isinstance(entries, list):
            continue
        by_index = links.setdefault(interface['ifname'], {})
        for entry in entries:
            index = entry.get('vf') if isinstance(entry, dict) else None
            if isinstance(index, int) and not isinstance(index, bool):
                by_index[index] = _vf_link(entry)
    return links


def read_vf_links(run: Callable[[List[str], int], str], warnings: List[str]) -> Optional[VfLinks]:
    """parse_vf_links of `ip -j -d link show`, run once through run (argv, seconds: its output).

    A failure (no ip, an error, the time limit) is a warning: the settings are unknown.
    """
    try:
        text = run(list(IP_LINK_COMMAND), IP_LINK_TIMEOUT)
    except HostdevError as error:
        warnings.append('%s: the MAC, VLAN and link settings of the virtual functions are unknown' % error.message)
        return None
    return parse_vf_links(text, warnings)


def network_vfs(records: Iterable[Record]) -> bool:
    """Whether any VF of the records has a PF with a netdev: only then is `ip link` worth running."""
    records = list(records)
    netdevs = set()
    physical = set()
    for record in records:
        values = (record.get('pci') or {}).get('sriov') if record.get('type') == 'pci' else None
        if values and values.get('netdev') and values.get('totalvfs') is not None:
            netdevs.add(record['pci']['address'])
        if values and values.get('physical_function'):
            physical.add(values['physical_function'])
    return bool(netdevs & physical)


def attach_vf_links(records: Iterable[Record], links: Optional[VfLinks], why_unknown: Optional[str],
                    warnings: List[str]) -> None:
    """Set pci.sriov.link of each VF of a network PF (a PF with a netdev) from links.

    links None: not read, for the reason why_unknown gives (None: a warning said it already); one
    warning names how many VFs that leaves unknown. A VF its PF does not list keeps link None, with one warning per PF.
    """
    records = list(records)
    netdev_of = {}
    for record in records:
        values = (record.get('pci') or {}).get('sriov') if record.get('type') == 'pci' else None
        if values and values.get('netdev'):
            netdev_of[record['pci']['address']] = values['netdev']
    unknown: Dict[str, List[str]] = {}
    for record in records:
        values = (record.get('pci') or {}).get('sriov') if record.get('type') == 'pci' else None
        pf_netdev = netdev_of.get(values.get('physical_function')) if values else None
        if pf_netdev is None or values is None:
            continue  # not a VF, or its PF has no interface: not a network VF
        link = (links or {}).get(pf_netdev, {}).get(values.get('vf_index'))
        values['link'] = link
        if link is None:
            unknown.setdefault(pf_netdev, []).append(record['pci']['address'])
    if not unknown:
        return
    if links is None:
        count = sum(len(addresses) for addresses in unknown.values())
        warnings.append('the MAC, VLAN and link settings of %d virtual function%s (of %s) are unknown%s'
                        % (count, '' if count == 1 else 's', ', '.join(sorted(unknown)),
                           ': %s' % why_unknown if why_unknown else ''))
        return
    for pf_netdev in sorted(unknown):
        warnings.append('%s lists no settings for its virtual function%s %s (an iproute2 too old to give them '
                        'in JSON, or a driver that does not report them): their MAC, VLAN and link settings '
                        'are unknown' % (pf_netdev, '' if len(unknown[pf_netdev]) == 1 else 's',
                                         ', '.join(unknown[pf_netdev])))
