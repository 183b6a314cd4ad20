# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Against a real libvirtd: two runs that bypass the host lock never both keep one device, and a
run whose libvirtd dies between two edits is seen, and completed or undone, by the next run. And
vfio_reserve present and absent started at the same moment, as processes of their own, leave an
initramfs stamp that tells the truth; two mdevs runs, or two sriov_vfs runs, at the same moment leave what one of
them asked."""

import json
import os
import shutil
import threading
import uuid

import libvirt
import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.assigning import domain_editor
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.assignment import AssignmentRequest
from ansible_collections.virt.hostdev.plugins.module_utils.assigning.domain_editor import EditFailed, assign
from ansible_collections.virt.hostdev.plugins.module_utils.model.hostdev_xml import hostdev_elements
from ansible_collections.virt.hostdev.plugins.module_utils.model.mdev import derived_uuids
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.host_files import HostFiles
from ansible_collections.virt.hostdev.plugins.module_utils.host_lock import host_lock
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_boot import REGENERATING, ensure_reservation
from ansible_collections.virt.hostdev.plugins.module_utils.preparing.vfio_reservation import (
    INITRAMFS_FILES,
    STAMP,
    ReservationRequest,
    initramfs_stamp,
)
from ansible_collections.virt.hostdev.plugins.module_utils.reading.host_reader import read_host
from fixtures.sample_host import build_tree
from support import running_libvirtd
from support.domains import domain_xml
from support.fake_host import FakeTools, debian_root, read
from support.fake_mdev import install_mdevctl, mdev_host
from support.fake_sriov import PF, sriov_host
from support.module_run import module_process, process_result

IGPU = '0000:00:02.0'  # alone in its IOMMU group on the sample host, on i915: assignable
RACES = 20
SRIOV_RULES = '/etc/udev/rules.d/70-virt-hostdev-sriov.rules'


def held(dom):
    return [source for _element, source in hostdev_elements(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))]


def test_runs_that_bypass_the_lock_never_both_keep_a_device(libvirtd, scratch, sample_sysfs, tmp_path, monkeypatch):
    """Each race: two runs with separate lock directories (two controllers, containers with their
    own /run) plan the same free device for two domains, both before either edits (a barrier
    holds them), then both edit. libvirt accepts the device in both definitions; the re-read
    after the edits must leave it in one domain at most."""
    real_apply = domain_editor.apply_edits
    barrier = threading.Barrier(2, timeout=120)

    def apply_after_both_planned(dom, edits, domain=None):
        barrier.wait()
        return real_apply(dom, edits, domain)

    monkeypatch.setattr(domain_editor, 'apply_edits', apply_after_both_planned)
    doubles, detected, kept = 0, 0, 0
    for race in range(RACES):
        domains = [scratch(prefix='race'), scratch(prefix='race')]
        outcomes = [None, None]

        def run(index):
            try:
                assign(AssignmentRequest(domains[index].name(), [IGPU]), libvirtd, source='sysfs',
                       sysfs_root=sample_sysfs, lock_path=str(tmp_path / ('lock-%d-%d' % (race, index)) / 'lock'))
                outcomes[index] = 'kept'
            except HostdevError as error:
                outcomes[index] = error.message

        threads = [threading.Thread(target=run, args=(index,)) for index in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        barrier.reset()
        holders = [dom.name() for dom in domains if held(dom)]
        doubles += len(holders) > 1
        kept += outcomes.count('kept')
        assert outcomes.count('kept') == len(holders), (outcomes, holders)
        for outcome in outcomes:
            if outcome != 'kept':
                assert 'another run assigned them at the same time' in outcome, outcome
                assert 'rollback succeeded' in outcome, outcome
                detected += 1
        for dom in domains:  # the next race starts with the device free
            dom.undefine()
    assert doubles == 0
    # Every race really raced: both runs edited, so at least one of each pair saw the other.
    assert detected >= RACES and kept + detected == 2 * RACES


@pytest.fixture()
def daemon():
    """A private libvirtd of this test's own: the test kills it."""
    with running_libvirtd() as started:
        yield started


@pytest.mark.parametrize('then', ['present', 'absent'])
def test_a_run_whose_libvirtd_dies_between_edits_is_completed_or_undone_by_the_next(
        daemon, sample_sysfs, tmp_path, monkeypatch, then):
    name = 'crash-%s' % uuid.uuid4().hex[:8]
    conn = libvirt.open(daemon.uri)
    conn.defineXML(domain_xml(name))
    conn.close()
    devices = [IGPU, '046d:c31c', 'scsi_0_0_0_0']
    lock_path = str(tmp_path / 'lock' / 'lock')
    options = dict(source='sysfs', sysfs_root=sample_sysfs, lock_path=lock_path)

    real_attach = libvirt.virDomain.attachDeviceFlags
    attached = []

    def attach_then_crash(dom, xml, flags=0):
        result = real_attach(dom, xml, flags)
        attached.append(xml)
        if len(attached) == 1:
            daemon.crash()  # libvirtd dies after the first of three edits
        return result

    monkeypatch.setattr(libvirt.virDomain, 'attachDeviceFlags', attach_then_crash)
    with pytest.raises(EditFailed) as caught:
        assign(AssignmentRequest(name, devices), daemon.uri, **options)
    monkeypatch.undo()
    failure = caught.value
    assert failure.rolled_back is False and len(attached) == 1 and failure.result['source'] == 'sysfs'
    assert 'ROLLBACK FAILED' in failure.message and 'run the same task again' in failure.message
    journals = [entry for entry in os.listdir(os.path.dirname(lock_path)) if entry.startswith('journal-')]
    assert len(journals) == 1

    daemon.start()  # the same root: the domain and the one edit that stayed
    conn = libvirt.open(daemon.uri)
    try:
        dom = conn.lookupByName(name)
        assert held(dom) == [{'type': 'pci', 'address': '0000:00:02.0'}]
        plan, _used, warnings = assign(AssignmentRequest(name, devices, state=then), daemon.uri, **options)
        assert any('stopped before it finished or undid its edits' in warning for warning in warnings), warnings
        if then == 'present':
            assert plan.added == ['scsi_0_0_0_0', 'usb_1_3']
            assert len(held(dom)) == 3
        else:
            assert plan.removed == ['pci_0000_00_02_0']
            assert held(dom) == []
        assert [entry for entry in os.listdir(os.path.dirname(lock_path)) if entry.startswith('journal-')] == []
        # and the run after that has nothing to report
        _plan, _used, warnings = assign(AssignmentRequest(name, devices, state=then), daemon.uri, **options)
        assert not any('stopped before' in warning for warning in warnings)
    finally:
        conn.lookupByName(name).undefine()
        conn.close()


INITRAMFS_INPUTS = INITRAMFS_FILES['initramfs-tools']
# Generous: a module process takes about a second on a quiet machine, and this one is shared.
PROCESS_BOUND = 300


def test_present_and_absent_at_the_same_moment_leave_a_true_stamp(tmp_path):
    """Each race: the host holds another reservation (02:00.0), then vfio_reserve present (the GPU
    with its audio function) and absent start at the same moment, each a process of its own. The
    fake update-initramfs records what it read and reads its inputs 0.3 s after it started and writes the image
    0.3 s later. Afterwards the
    image holds exactly what the files say, and the stamp describes that image: so no later run
    skips a regeneration it needs."""
    root = str(tmp_path / 'root')
    build_tree(root)
    debian_root(root)
    files = HostFiles(root)
    tools = FakeTools(tmp_path, root)
    fake = dict(FAKE_INITRAMFS_INPUTS=os.pathsep.join(INITRAMFS_INPUTS), FAKE_INITRAMFS_SECONDS='0.3')
    env = dict(os.environ, **tools.env(**fake))
    for race in range(RACES):
        with host_lock(root=root, timeout=PROCESS_BOUND):  # both runs of the pair change the host
            ensure_reservation(files, tools.commands(**fake), read_host('sysfs', sysfs_root=root + '/sys')[0],
                               ReservationRequest(['02:00.0']))
        pair = [module_process('vfio_reserve', dict(root=root, source='sysfs', devices=['01:00.0'],
                                                    include_group=True), env),
                module_process('vfio_reserve', dict(root=root, source='sysfs', state='absent'), env)]
        present, absent = [process_result(process, PROCESS_BOUND) for process in pair]
        assert not present['failed'] and not absent['failed'], (race, present, absent)
        assert present['changed'] and absent['changed'], race  # each found a host to change
        on_disk = dict((path, files.read(path)) for path in INITRAMFS_INPUTS)
        with open(os.path.join(root, 'boot', 'fake-initramfs.json')) as image:
            assert json.load(image) == on_disk, race
        stamp = read(root, STAMP) if files.exists(STAMP) else None
        assert stamp == initramfs_stamp('initramfs-tools', on_disk), race
        assert not files.exists(REGENERATING), race


# Each pair: two mdevs runs on one host at the same moment, each a process of its own (two controllers, one host):
# the same request, present against absent, and two types for one name (vendor drivers take one per UUID).
MDEV_PAIRS = [
    (dict(count=2), dict(count=2)),
    (dict(count=2), dict(state='absent')),
    (dict(count=3), dict(count=1, type='fake-2')),
]


def mdevs_state(kernel):
    """{uuid: (parent, type)} of the mdevs there, after checking that each has its definition and nothing else has."""
    made, defined = kernel.mdevs(), kernel.definitions()
    assert dict((uuid, (parent, kind)) for uuid, (parent, kind, _auto) in defined.items()) == made, (made, defined)
    return made


@pytest.mark.parametrize('first, second', MDEV_PAIRS)
def test_two_mdevs_runs_at_the_same_moment_leave_what_one_of_them_asked(tmp_path, first, second):
    """The host lock orders them: the second reads the host after the first's last action, so the end is what one
    of them asked (each mdev with its definition, never one run's half and the other's), and a run that cannot
    have what it asks fails with its problem, having changed nothing."""
    root, kernel = mdev_host(tmp_path / 'root')
    tools = FakeTools(tmp_path, root, tools=())
    install_mdevctl(tools.bin)
    env = dict(os.environ, **tools.env(FAKE_SYSFS=os.path.join(root, 'sys')))
    requests = [dict(dict(root=root, source='sysfs', name='race', type='fake-1'), **first),
                dict(dict(root=root, source='sysfs', name='race', type='fake-1'), **second)]

    def wanted(request):
        if request.get('state') == 'absent':
            return {}
        return dict((uuid, ('fake0', request['type'])) for uuid in derived_uuids('race', request['count']))

    for race in range(2):
        pair = [module_process('mdevs', request, env) for request in requests]
        results = [process_result(process, PROCESS_BOUND) for process in pair]
        state = mdevs_state(kernel)
        assert state in [wanted(request) for request in requests], (race, results, state)
        for result in results:
            if result['failed']:
                assert [item['code'] for item in result.get('problems', [])] == ['uuid_type_mismatch'], (race, result)
        assert sum(not result['failed'] for result in results) >= 1, (race, results)
        if first == second:
            assert sorted(result['changed'] for result in results) == [False, True], (race, results)
        for uuid in list(state):  # the next race starts from an empty host
            kernel.remove(uuid)
        shutil.rmtree(os.path.join(root, 'etc', 'mdevctl.d'), ignore_errors=True)


def test_two_sriov_vfs_runs_at_the_same_moment_leave_one_count_and_its_rule(tmp_path):
    root, kernel = sriov_host(str(tmp_path / 'root'), numvfs=0)
    tools = FakeTools(tmp_path, root, tools=('udevadm',))
    env = dict(os.environ, **tools.env())
    requests = [dict(root=root, source='sysfs', device=PF, count=count) for count in (4, 2)]
    with kernel.watching():
        for race in range(2):
            pair = [module_process('sriov_vfs', request, env) for request in requests]
            results = [process_result(process, PROCESS_BOUND) for process in pair]
            assert not any(result['failed'] for result in results), (race, results)
            count = len(kernel.vfs(PF))
            assert count in (4, 2) and results[0]['after'] + results[1]['after'] == 6, (race, results)
            assert read(root, SRIOV_RULES).endswith('ATTR{sriov_numvfs}="%d"\n' % count), race
