# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_hostdev against a real libvirtd (QEMU driver), in-process and through ansible-playbook.

Devices and IOMMU groups come from the sample workstation's sysfs tree (source: sysfs);
domains and edits go through the private libvirtd. Scratch domains are never started.
"""

from __future__ import annotations

import json
import os
import threading
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import (
    AssignmentRequest,
    plan_assignment,
)
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.domain_editor import (
    AssignmentRefused,
    EditFailed,
    apply_edits,
    assign,
    domain_state,
    lookup_domain,
)
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import HostLockTimeout, host_lock
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import hostdev_elements
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host

from fixtures.sample_host import build_tree
from support.playbook import assign_module_runner

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks')

GPU, AUDIO, IGPU = 'pci_0000_01_00_0', 'pci_0000_01_00_1', 'pci_0000_00_02_0'
NIC, KEYBOARD, DISK = 'pci_0000_02_00_0', 'usb_1_3', 'scsi_0_0_0_0'

SECRETS = """<graphics type='vnc' port='-1' autoport='yes' passwd='s3cr3tPw'/>"""
METADATA = """
  <metadata><app:owner xmlns:app='http://example.org/app/1'><team>render</team></app:owner></metadata>"""

PCI_HOSTDEV = ("<hostdev mode='subsystem' type='pci' managed='yes'><source>"
               "<address domain='0x0000' bus='0x{bus}' slot='0x00' function='0x{function}'/></source></hostdev>")


def config(dom):
    return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)


def stored_hostdevs(dom):
    return [element for element, _source in hostdev_elements(config(dom))]


def sources(dom):
    return [source for _element, source in hostdev_elements(config(dom))]


def without_hostdevs(xml):
    """The definition without <hostdev> and <controller> elements (libvirt may add controllers)."""
    root = ET.fromstring(xml)
    devices = root.find('devices')
    for element in list(devices):
        if element.tag in ('hostdev', 'controller'):
            devices.remove(element)
    return ET.canonicalize(ET.tostring(root, encoding='unicode'), strip_text=True)


CONNECTION_OPTIONS = ('source', 'sysfs_root', 'check_mode', 'lock_path', 'lock_timeout')


def run_assign(libvirtd, host, domain, devices, **options):
    """assign() of the request (domain, devices, options) with the sample host's sysfs tree."""
    connection = dict(source='sysfs', sysfs_root=host)
    connection.update((key, options.pop(key)) for key in CONNECTION_OPTIONS if key in options)
    return assign(AssignmentRequest(domain, devices, **options), libvirtd, **connection)


def refused(libvirtd, host, dom, devices, **options):
    before = config(dom)
    with pytest.raises(AssignmentRefused) as caught:
        run_assign(libvirtd, host, dom.name(), devices, **options)
    assert config(dom) == before, 'a refused change edited the domain'
    return caught.value


# -- references and the XML libvirt stores ---------------------------------

@pytest.mark.parametrize('reference, expected', [
    ('pci_0000_02_00_0', {'type': 'pci', 'address': '0000:02:00.0'}),
    ('0000:02:00.0', {'type': 'pci', 'address': '0000:02:00.0'}),
    ('02:00.0', {'type': 'pci', 'address': '0000:02:00.0'}),
    ('046d:c31c', {'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31c', 'bus': None, 'device': None}),
    ('1.3', {'type': 'usb', 'vendor_id': '0x046d', 'product_id': '0xc31c', 'bus': None, 'device': None}),
    ('scsi_0_0_0_0', {'type': 'scsi', 'adapter': 'scsi_host0', 'bus': 0, 'target': 0, 'unit': 0}),
])
def test_each_reference_form(libvirtd, host, scratch, reference, expected):
    dom = scratch()
    plan, used, _warnings = run_assign(libvirtd, host, dom.name(), [reference])
    assert used == 'sysfs' and plan.changed and len(plan.devices) == 1
    assert sources(dom) == [expected]


def test_pci_usb_scsi_xml_as_libvirt_stores_it(libvirtd, host, scratch):
    dom = scratch()
    plan, _used, _warnings = run_assign(libvirtd, host, dom.name(), ['02:00.0', '046d:c31c', 'scsi_0_0_0_0'])
    assert plan.added == [NIC, DISK, KEYBOARD]
    pci, usb, scsi = stored_hostdevs(dom)
    assert (pci.get('type'), pci.get('managed')) == ('pci', 'yes')
    assert pci.find('source/address').attrib == {'domain': '0x0000', 'bus': '0x02', 'slot': '0x00', 'function': '0x0'}
    assert pci.find('address').get('type') == 'pci'  # libvirt placed it in the guest
    assert (usb.get('type'), usb.get('managed')) == ('usb', 'yes')
    assert usb.find('source/vendor').get('id') == '0x046d' and usb.find('source/product').get('id') == '0xc31c'
    assert usb.find('source/address') is None  # vendor:product is unique on the host
    assert (scsi.get('type'), scsi.get('managed')) == ('scsi', 'no')
    assert scsi.find('source/adapter').get('name') == 'scsi_host0'
    assert scsi.find('source/address').attrib == {'bus': '0', 'target': '0', 'unit': '0'}


def test_managed_false(libvirtd, host, scratch):
    dom = scratch()
    run_assign(libvirtd, host, dom.name(), ['02:00.0'], managed=False)
    assert stored_hostdevs(dom)[0].get('managed') == 'no'


def test_secrets_metadata_and_everything_else_survive_a_round_trip(libvirtd, host, scratch):
    dom = scratch(devices=SECRETS + "<disk type='file' device='disk'><source file='/nonexistent.img'/>"
                  "<target dev='vda' bus='virtio'/></disk>", extra=METADATA)
    before = config(dom)
    assert "passwd='s3cr3tPw'" in before and 'render' in before
    run_assign(libvirtd, host, dom.name(), ['01:00.0', '046d:c31c', 'scsi_0_0_0_0'], include_group=True)
    during = config(dom)
    assert len(stored_hostdevs(dom)) == 4
    assert without_hostdevs(during) == without_hostdevs(before)
    run_assign(libvirtd, host, dom.name(), ['01:00.0', '046d:c31c', 'scsi_0_0_0_0'], include_group=True,
               state='absent')
    after = config(dom)
    assert stored_hostdevs(dom) == []
    assert "passwd='s3cr3tPw'" in after
    metadata = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, 'http://example.org/app/1',
                            libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    assert ET.fromstring(metadata).findtext('team') == 'render'
    assert without_hostdevs(after) == without_hostdevs(before)


def test_live_on_a_stopped_domain_changes_only_the_config(libvirtd, host, scratch):
    dom = scratch()
    plan, _used, warnings = run_assign(libvirtd, host, dom.name(), ['02:00.0'], live=True)
    assert plan.targets == ['config'] and [e['target'] for e in plan.edits] == ['config']
    assert any('is not running' in warning for warning in warnings)
    assert len(stored_hostdevs(dom)) == 1
    with pytest.raises(AssignmentRefused, match='not running and config is false'):
        run_assign(libvirtd, host, dom.name(), ['046d:c31c'], live=True, config=False)


def test_unknown_domain(libvirtd, host):
    with pytest.raises(Exception, match='domain no-such-domain-x is not defined'):
        run_assign(libvirtd, host, 'no-such-domain-x', ['02:00.0'])


# -- refusals ---------------------------------------------------------------

def test_refuses_unknown_and_ineligible_devices(libvirtd, host, scratch):
    dom = scratch()
    error = refused(libvirtd, host, dom, ['nope', '09:00.0', '00:1f.4', 'usb_usb1', '02:00.0'])
    codes = sorted(item['code'] for item in error.plan.problems)
    assert codes == ['group_not_viable', 'not_eligible', 'not_eligible', 'unresolved_reference',
                     'unresolved_reference']
    assert "'nope'" in error.message and '0000:09:00.0' in error.message
    assert 'pci_0000_00_1f_4 is not eligible for passthrough: pci_smbus' in error.message
    assert 'usb_usb1 is not eligible for passthrough: usb_root_hub' in error.message
    # group 9: the SMBus shares it with the PCH audio, which stays on snd_hda_intel
    assert 'pci_0000_00_1f_3 (driver snd_hda_intel)' in error.message


def test_refuses_a_group_left_half_on_host_drivers(libvirtd, host, scratch):
    dom = scratch()
    error = refused(libvirtd, host, dom, ['01:00.0'])
    assert [item['code'] for item in error.plan.problems] == ['group_not_viable']
    assert '%s (driver snd_hda_intel)' % AUDIO in error.message
    assert 'include_group: true' in error.message
    assert 'bridges in the group (pci_0000_00_01_0) never need assigning' in error.message
    error = refused(libvirtd, host, dom, ['04:00.0'])
    assert 'pci_0000_04_01_0 (driver e1000)' in error.message and 'pci_0000_03_00_0' in error.message
    # with the group it goes through
    plan, _used, warnings = run_assign(libvirtd, host, dom.name(), ['04:00.0'], include_group=True)
    assert plan.added == ['pci_0000_04_00_0', 'pci_0000_04_01_0']
    assert [entry['interface'] for entry in plan.impact] == ['enp4s0', 'enp4s1']
    assert any('network interface enp4s0' in warning for warning in warnings)


def test_refuses_the_controller_of_the_root_disk_unless_forced(libvirtd, host, scratch):
    dom = scratch()
    error = refused(libvirtd, host, dom, ['00:17.0'])
    assert [item['code'] for item in error.plan.problems] == ['host_in_use']
    assert 'disk /dev/sdb' in error.message and 'mounted at /, mounted at /boot/efi, swap' in error.message
    plan = run_assign(libvirtd, host, dom.name(), ['00:17.0'], force=True)[0]
    assert plan.added == ['pci_0000_00_17_0']
    assert [source['address'] for source in sources(dom)] == ['0000:00:17.0']


def test_refuses_a_device_held_by_another_domain_naming_it(libvirtd, host, scratch):
    holder = scratch(devices=PCI_HOSTDEV.format(bus='02', function='0'), prefix='holder')
    dom = scratch()
    error = refused(libvirtd, host, dom, ['02:00.0'])
    assert error.plan.problems[0]['code'] == 'assigned_elsewhere'
    assert '%s is already assigned to domain %s' % (NIC, holder.name()) in error.message


def test_refuses_an_affected_device_held_by_another_domain(libvirtd, host, scratch, tmp_path):
    root = build_tree(str(tmp_path))
    audio = os.path.join(root, 'bus', 'pci', 'devices', '0000:01:00.1')
    os.unlink(os.path.join(os.path.realpath(audio), 'driver'))  # free by driver ...
    holder = scratch(devices=PCI_HOSTDEV.format(bus='01', function='1'), prefix='holder')  # ... but held
    dom = scratch()
    error = refused(libvirtd, root, dom, ['01:00.0'])
    assert sorted(item['code'] for item in error.plan.problems) == ['assigned_elsewhere', 'group_not_viable']
    assert 'is assigned to domain %s' % holder.name() in error.message
    assert 'held by domain %s' % holder.name() in error.message


def test_refuses_display_hotplug_unless_forced(libvirtd, host, scratch):
    dom = scratch()
    error = refused(libvirtd, host, dom, ['00:02.0'], live=True)
    assert error.plan.problems[0]['code'] == 'display_hotplug'
    assert 'display controller pci_0000_00_02_0 (class 0x030200)' in error.message
    plan, _used, _warnings = run_assign(libvirtd, host, dom.name(), ['00:02.0'], live=True, force=True)
    assert plan.added == [IGPU]


def test_real_devices_iommu_off_refused_then_forced_config_only(libvirtd, scratch):
    """This machine's own devices through the real libvirtd: no IOMMU, so refused unless forced."""
    model, used, _warnings = read_host('libvirt', libvirtd)
    assert used == 'libvirt' and not model.iommu.get('enabled')
    candidates = [name for name in model.eligible_names() if model.device(name)['type'] == 'pci']
    assert candidates, 'the private libvirtd lists no eligible PCI device of this machine'
    device = candidates[0]
    dom = scratch(prefix='real')
    before = config(dom)
    with pytest.raises(AssignmentRefused) as caught:
        assign(AssignmentRequest(dom.name(), [device]), libvirtd, source='libvirt')
    assert [item['code'] for item in caught.value.plan.problems] == ['iommu_off']
    for hint in ('intel_iommu=on', 'amd_iommu=off', 'AMD needs no argument', 'VT-d', 'AMD-Vi', device):
        assert hint in caught.value.message
    assert config(dom) == before
    plan, _used, _warnings = assign(AssignmentRequest(dom.name(), [device], force=True), libvirtd,
                                    source='libvirt')
    assert plan.added == [device]
    assert sources(dom) == [{'type': 'pci', 'address': model.device(device)['pci']['address']}]
    assert not dom.isActive()  # never started: it holds one of the machine's own devices
    plan, _used, _warnings = assign(AssignmentRequest(dom.name(), [device], state='absent'), libvirtd,
                                    source='libvirt')
    assert plan.removed == [device] and sources(dom) == []


# -- all or nothing -----------------------------------------------------------

class FlakyDomain:
    """A virDomain whose second attach fails with a real libvirt error (and optionally every detach)."""

    def __init__(self, dom, fail_detach=False):
        self._dom = dom
        self._fail_detach = fail_detach
        self.attaches = 0

    def attachDeviceFlags(self, xml, flags):  # noqa: N802 (libvirt's name)
        self.attaches += 1
        if self.attaches == 2:
            # attaching the first device again: libvirt refuses it (already in the configuration)
            first = self.first_xml
            return self._dom.attachDeviceFlags(first, flags)
        return self._dom.attachDeviceFlags(xml, flags)

    def detachDeviceFlags(self, xml, flags):  # noqa: N802
        if self._fail_detach:
            return self._dom.detachDeviceFlags(
                "<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0x7f' slot='0' "
                "function='0'/></source></hostdev>", flags)
        return self._dom.detachDeviceFlags(xml, flags)

    def __getattr__(self, name):
        return getattr(self._dom, name)


def _plan(libvirtd, host, conn, dom, devices):
    model, _used, _warnings = read_host('sysfs', libvirtd, host, conn=conn)
    state = domain_state(lookup_domain(conn, dom.name()))
    return plan_assignment(model, AssignmentRequest(dom.name(), devices), config_xml=state['config_xml'])


def test_second_edit_fails_first_is_undone(libvirtd, host, conn, scratch):
    dom = scratch()
    before = config(dom)
    plan = _plan(libvirtd, host, conn, dom, ['02:00.0', '046d:c31c'])
    assert [edit['device'] for edit in plan.edits] == [NIC, KEYBOARD]
    flaky = FlakyDomain(dom)
    flaky.first_xml = plan.edits[0]['xml']
    with pytest.raises(EditFailed) as caught:
        apply_edits(flaky, plan.edits, dom.name())
    assert caught.value.rolled_back is True
    assert 'cannot attach usb_1_3 to the persistent definition of %s' % dom.name() in caught.value.message
    assert 'libvirt error code 55' in caught.value.message
    assert 'rollback succeeded: the 1 earlier edit was undone' in caught.value.message
    assert stored_hostdevs(dom) == []
    assert without_hostdevs(config(dom)) == without_hostdevs(before)


def test_failed_rollback_is_reported(libvirtd, host, conn, scratch):
    dom = scratch()
    plan = _plan(libvirtd, host, conn, dom, ['02:00.0', '046d:c31c'])
    flaky = FlakyDomain(dom, fail_detach=True)
    flaky.first_xml = plan.edits[0]['xml']
    with pytest.raises(EditFailed) as caught:
        apply_edits(flaky, plan.edits, dom.name())
    assert caught.value.rolled_back is False
    assert 'ROLLBACK FAILED' in caught.value.message and 'cannot undo: attach %s' % NIC in caught.value.message
    assert len(stored_hostdevs(dom)) == 1  # left as the message says


def test_first_edit_failing_changes_nothing(libvirtd, host, conn, scratch):
    dom = scratch(devices=PCI_HOSTDEV.format(bus='02', function='0'))
    plan = _plan(libvirtd, host, conn, dom, ['046d:c31c'])
    plan.edits[0]['xml'] = PCI_HOSTDEV.format(bus='02', function='0')  # already there: 55
    with pytest.raises(EditFailed, match='no earlier edit to undo'):
        apply_edits(dom, plan.edits, dom.name())


# -- the host lock ----------------------------------------------------------------

def test_host_lock_times_out_with_a_clear_message(libvirtd, host, scratch, tmp_path):
    dom = scratch()
    path = str(tmp_path / 'hostdev.lock')
    with host_lock(path):
        with pytest.raises(HostLockTimeout, match='held the lock %s for more than 0.3 s' % path):
            run_assign(libvirtd, host, dom.name(), ['02:00.0'], lock_path=path, lock_timeout=0.3)
    assert stored_hostdevs(dom) == []
    run_assign(libvirtd, host, dom.name(), ['02:00.0'], lock_path=path, lock_timeout=0.3)
    assert len(stored_hostdevs(dom)) == 1


def test_the_host_is_read_only_after_the_lock_is_taken(libvirtd, host, scratch, tmp_path):
    """A run waiting for the lock must see what the holder did meanwhile (a fresh read under the lock)."""
    first, second = scratch(prefix='lock-a'), scratch(prefix='lock-b')
    path = str(tmp_path / 'hostdev.lock')
    outcome = {}

    def waiter():
        try:
            outcome['plan'] = run_assign(libvirtd, host, second.name(), ['02:00.0'], lock_path=path,
                                         lock_timeout=30)
        except AssignmentRefused as error:
            outcome['error'] = error

    with host_lock(path):
        thread = threading.Thread(target=waiter)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), 'the run did not wait for the lock'
        # the lock holder gives the NIC to the first domain while the run waits
        first.attachDeviceFlags(PCI_HOSTDEV.format(bus='02', function='0'), libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    thread.join(30)
    assert 'error' in outcome, outcome
    assert 'already assigned to domain %s' % first.name() in outcome['error'].message
    assert stored_hostdevs(second) == []


# -- end to end: ansible-playbook ----------------------------------------------

@pytest.fixture()
def module_run(libvirtd, host, tmp_path):
    """module_run(domain, devices, check=False, **options) -> the module's registered result."""
    call = assign_module_runner(os.path.join(PLAYBOOKS, 'assign_module.yml'), libvirtd, host, tmp_path)
    return lambda domain, devices, check=False, **options: call(domain, check, devices=devices, **options)


def test_check_apply_check_apply_then_remove(module_run, scratch):
    dom = scratch(devices=SECRETS, extra=METADATA)
    before = config(dom)
    devices = ['0000:01:00.0', '1.3']

    checked = module_run(dom.name(), devices, check=True, include_group=True)
    assert checked['changed'] is True and not checked.get('failed'), checked
    assert config(dom) == before, 'check mode edited the domain'
    assert checked['added'] == [GPU, AUDIO, KEYBOARD]
    assert checked['devices'] == [GPU, KEYBOARD, AUDIO]
    assert checked['affected'] == ['pci_0000_00_01_0', 'usb_1_3_1_0']
    assert checked['diff']['before'] == '' and checked['diff']['after'].count('<hostdev ') == 3

    applied = module_run(dom.name(), devices, include_group=True)
    assert applied['changed'] is True
    assert applied['diff'] == checked['diff']
    assert sorted(s.get('address') or s['vendor_id'] for s in sources(dom)) == \
        ['0000:01:00.0', '0000:01:00.1', '0x046d']
    assert any('USB device' in warning or 'usb device' in warning for warning in applied['warnings'])

    again = module_run(dom.name(), devices, check=True, include_group=True)
    assert again['changed'] is False and again['added'] == []
    assert again['diff']['before'] == again['diff']['after'] != ''
    final = module_run(dom.name(), devices, include_group=True)
    assert final['changed'] is False
    assert without_hostdevs(config(dom)) == without_hostdevs(before)

    stored = config(dom)
    removing = module_run(dom.name(), devices, check=True, state='absent', include_group=True)
    assert removing['changed'] is True and removing['removed'] == [GPU, AUDIO, KEYBOARD]
    assert config(dom) == stored
    removed = module_run(dom.name(), devices, state='absent', include_group=True)
    assert removed['changed'] is True and removed['diff'] == removing['diff']
    assert removed['diff']['after'] == '' and sources(dom) == []
    assert module_run(dom.name(), devices, state='absent', include_group=True)['changed'] is False
    assert "passwd='s3cr3tPw'" in config(dom) and 'render' in config(dom)


def test_refusal_through_the_module_lists_every_problem(module_run, scratch):
    dom = scratch()
    result = module_run(dom.name(), ['01:00.0', '00:1f.4'])
    assert result['failed'] is True and result['changed'] is False and result['source'] == 'sysfs'
    assert result['msg'].startswith('3 problems, nothing was changed: (1) ')
    assert sorted(item['code'] for item in result['problems']) == \
        ['group_not_viable', 'group_not_viable', 'not_eligible']
    assert stored_hostdevs(dom) == []


def test_two_plays_at_once_give_a_device_to_one_domain_only(run_playbook, libvirtd, host, scratch, tmp_path):
    first, second = scratch(prefix='race-a'), scratch(prefix='race-b')
    results = {}

    def play(dom):
        out = tmp_path / ('%s.json' % dom.name())
        completed = run_playbook(os.path.join(PLAYBOOKS, 'assign_module.yml'), extra_vars={
            'assign_uri': libvirtd, 'assign_domain': dom.name(), 'assign_devices': ['02:00.0'],
            'assign_source': 'sysfs', 'assign_sysfs_root': host, 'assign_out': str(out)})
        results[dom.name()] = (completed, out)

    threads = [threading.Thread(target=play, args=(dom,)) for dom in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = {}
    for name, (completed, out) in results.items():
        assert completed.returncode == 0, completed.stdout + completed.stderr
        outcomes[name] = json.loads(out.read_text())
    winners = [name for name, result in outcomes.items() if not result.get('failed')]
    losers = [name for name, result in outcomes.items() if result.get('failed')]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    message = outcomes[losers[0]]['msg']
    assert '%s is already assigned to domain %s' % (NIC, winners[0]) in message
    held = [dom.name() for dom in (first, second) if stored_hostdevs(dom)]
    assert held == winners


def test_absent_removes_a_device_the_host_no_longer_has(libvirtd, host, scratch):
    dom = scratch(devices=PCI_HOSTDEV.format(bus='0a', function='0'))
    plan, _used, warnings = run_assign(libvirtd, host, dom.name(), ['0000:0a:00.0'], state='absent')
    assert plan.removed == ['0000:0a:00.0'] and stored_hostdevs(dom) == []
    assert any('is not on this host' in warning for warning in warnings)


@pytest.mark.parametrize('source', ['sysfs', 'libvirt'])
def test_a_wrong_sysfs_root_fails_naming_it_and_changes_nothing(libvirtd, scratch, tmp_path, source):
    """The host-use guard and the groups read sysfs: a wrong root must not pass as an empty host."""
    dom = scratch()
    before = config(dom)
    with pytest.raises(HostdevError, match='^sysfs_root %s is not a sysfs tree' % tmp_path):
        assign(AssignmentRequest(dom.name(), ['0000:00:02.0']), libvirtd, source=source, sysfs_root=str(tmp_path),
               lock_path=str(tmp_path / 'lock' / 'lock'))
    assert config(dom) == before
