# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_hostdev's interface and pool options against a real libvirtd, through ansible-playbook.

Devices come from the sample workstation's sysfs tree with an igb PF of 6 VFs and an NVMe PF added
(fixtures.sriov_host, source: sysfs); domains and edits go through the private libvirtd. Scratch
domains are never started.
"""

from __future__ import annotations

import json
import os

import libvirt
import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import (
    generated_mac,
    hostdev_elements,
    interface_settings,
)

from fixtures.sample_host import build_tree
from fixtures.sriov_host import NET_PF, add_sriov, net_vf

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks')
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VF = dict((index, 'pci_0000_%s' % net_vf(index)[5:].replace(':', '_').replace('.', '_')) for index in range(6))


@pytest.fixture(scope='module')
def sriov_host(tmp_path_factory):
    return add_sriov(build_tree(str(tmp_path_factory.mktemp('sriov-host'))), vfs=6)


def config(dom):
    return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)


def held(dom):
    """[(tag, source address, {'mac', 'vlan'} or None)] of the domain's hostdevs and hostdev interfaces."""
    return [(element.tag, source['address'], interface_settings(element) if element.tag == 'interface' else None)
            for element, source in hostdev_elements(config(dom))]


@pytest.fixture()
def run(run_playbook, libvirtd, sriov_host, tmp_path):
    """run(domain, check=False, **options) -> the module's registered result (options: devices, pool, ...)."""
    counter = [0]

    def call(domain, check=False, **options):
        counter[0] += 1
        out = tmp_path / ('result-%d.json' % counter[0])
        extra = {'assign_uri': libvirtd, 'assign_domain': domain, 'assign_source': 'sysfs',
                 'assign_sysfs_root': sriov_host, 'assign_out': str(out)}
        extra.update(('assign_%s' % key, value) for key, value in options.items())
        completed = run_playbook(os.path.join(PLAYBOOKS, 'assign_module.yml'), extra_vars=extra, check=check)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        return json.loads(out.read_text())
    return call


def test_interface_check_add_rerun_update_absent(run, scratch):
    dom = scratch()
    uuid = dom.UUIDString()
    before = config(dom)
    checked = run(dom.name(), check=True, devices=[net_vf(1)], interface={'vlan': 100})
    assert checked['changed'] is True and not checked.get('failed'), checked
    assert config(dom) == before, 'check mode edited the domain'
    mac = generated_mac(uuid, net_vf(1))
    assert checked['interfaces'] == [{'device': VF[1], 'address': net_vf(1), 'mac': mac, 'vlan': 100}]
    assert "<interface type=\"hostdev\"" in checked['diff']['after'] and checked['diff']['before'] == ''

    added = run(dom.name(), devices=[net_vf(1)], interface={'vlan': 100})
    assert added['changed'] is True and added['added'] == [VF[1]] and added['interfaces'] == checked['interfaces']
    assert held(dom) == [('interface', net_vf(1), {'mac': mac, 'vlan': 100})]

    again = run(dom.name(), devices=[net_vf(1)], interface={'vlan': 100})
    assert again['changed'] is False and again['added'] == [] and again['interfaces'] == added['interfaces']

    guest_slot = [element.find('address').attrib for element, _source in hostdev_elements(config(dom))]
    updated = run(dom.name(), devices=[net_vf(1)], interface={'vlan': 200, 'mac': '02:00:00:00:01:01'})
    assert updated['changed'] is True and updated['updated'] == [VF[1]] and updated['added'] == []
    assert 'tag id="100"' in updated['diff']['before'] and 'tag id="200"' in updated['diff']['after']
    assert held(dom) == [('interface', net_vf(1), {'mac': '02:00:00:00:01:01', 'vlan': 200})]
    assert [element.find('address').attrib for element, _source in hostdev_elements(config(dom))] == guest_slot

    removed = run(dom.name(), devices=[net_vf(1)], state='absent')
    assert removed['changed'] is True and removed['removed'] == [VF[1]] and held(dom) == []


def test_a_mac_another_domain_uses_is_refused_and_nothing_changes(run, scratch):
    other = scratch(devices="<interface type='user'><mac address='02:00:00:00:aa:01'/><model type='virtio'/>"
                            "</interface>")
    dom = scratch()
    before = config(dom)
    result = run(dom.name(), devices=[net_vf(2)], interface={'mac': '02:00:00:00:AA:01'})
    assert result.get('failed') is True and [item['code'] for item in result['problems']] == ['mac_in_use']
    assert 'domain %s' % other.name() in result['msg']
    assert config(dom) == before


def test_pool_pick_stable_and_release(run, scratch):
    holder = scratch()
    run(holder.name(), devices=[net_vf(0), net_vf(2)])
    dom = scratch()
    checked = run(dom.name(), check=True, pool={'pf': NET_PF, 'count': 2}, interface={})
    assert checked['changed'] is True and checked['devices'] == [VF[1], VF[3]] and held(dom) == []

    picked = run(dom.name(), pool={'pf': 'enp6s0', 'count': 2}, interface={})
    assert picked['devices'] == [VF[1], VF[3]] and picked['added'] == [VF[1], VF[3]]
    assert [address for _tag, address, _settings in held(dom)] == [net_vf(1), net_vf(3)]
    assert all(tag == 'interface' for tag, _address, _settings in held(dom))

    # another domain takes 1 more: this one's second run keeps its own VFs
    run(holder.name(), devices=[net_vf(4)])
    again = run(dom.name(), pool={'pf': NET_PF, 'count': 2}, interface={})
    assert again['changed'] is False and again['devices'] == [VF[1], VF[3]]

    short = run(dom.name(), pool={'pf': NET_PF, 'count': 4}, interface={})
    assert short.get('failed') is True and [item['code'] for item in short['problems']] == ['pool_exhausted']
    assert '%s held by %s' % (VF[0], holder.name()) in short['msg'] and '6 devices, 1 of them free' in short['msg']
    assert len(held(dom)) == 2

    released = run(dom.name(), pool={'pf': NET_PF}, state='absent')
    assert released['changed'] is True and released['removed'] == [VF[1], VF[3]] and held(dom) == []
    assert len(held(holder)) == 3  # the other domain's VFs stay where they are


def test_the_hostdev_network_example_defines_the_network_and_the_interface_once(
        run_playbook, libvirtd, scratch, conn):
    """docs/examples/vf_hostdev_network.yml, without starting the network (the PF is not on this machine)."""
    from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import interface_macs

    dom = scratch()
    playbook = os.path.join(REPO, 'docs', 'examples', 'vf_hostdev_network.yml')
    extra = {'vf_network_uri': libvirtd, 'vf_network_pf': 'enp6s0', 'vf_network_name': 'vf-%s' % dom.name(),
             'vf_network_domain': dom.name(), 'vf_network_start': False}
    try:
        first = run_playbook(playbook, extra_vars=extra)
        assert first.returncode == 0, first.stdout + first.stderr
        network = conn.networkLookupByName('vf-%s' % dom.name())
        assert "<forward mode='hostdev' managed='yes'>" in network.XMLDesc(0) and network.autostart()
        assert "<pf dev='enp6s0'/>" in network.XMLDesc(0)
        assert "network='vf-%s'" % dom.name() in config(dom) and "<tag id='100'/>" in config(dom)
        assert len(interface_macs(config(dom))) == 1
        again = run_playbook(playbook, extra_vars=extra)
        assert again.returncode == 0 and 'changed=0' in again.stdout, again.stdout
    finally:
        try:
            conn.networkLookupByName('vf-%s' % dom.name()).undefine()
        except libvirt.libvirtError:
            pass


def test_a_failed_edit_rolls_interfaces_back(scratch):
    """apply_edits undoes interface edits as it undoes hostdev ones: a detached interface comes back
    with its MAC and VLAN, an attached one goes."""
    from ansible_collections.virt.hostdev.plugins.module_utils.assigning.domain_editor import EditFailed, apply_edits
    from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import element_xml

    old = ("<interface type='hostdev' managed='yes'><mac address='02:00:00:00:00:21'/><source>"
           "<address type='pci' domain='0x0000' bus='0x06' slot='0x10' function='0x0'/></source>"
           "<vlan><tag id='21'/></vlan></interface>")
    new = ("<interface type='hostdev' managed='yes'><mac address='02:00:00:00:00:22'/><source>"
           "<address type='pci' domain='0x0000' bus='0x06' slot='0x10' function='0x2'/></source></interface>")
    broken = "<interface type='hostdev'><mac address='not-a-mac'/></interface>"
    dom = scratch(devices=old)
    stored = element_xml(hostdev_elements(config(dom))[0][0])
    edits = [{'action': 'detach', 'device': VF[0], 'target': 'config', 'xml': stored, 'update': 'yes'},
             {'action': 'attach', 'device': VF[1], 'target': 'config', 'xml': new},
             {'action': 'attach', 'device': VF[2], 'target': 'config', 'xml': broken}]
    with pytest.raises(EditFailed) as caught:
        apply_edits(dom, edits)
    assert caught.value.rolled_back and 'rollback succeeded: the 2 earlier edits were undone' in caught.value.message
    assert held(dom) == [('interface', net_vf(0), {'mac': '02:00:00:00:00:21', 'vlan': 21})]
