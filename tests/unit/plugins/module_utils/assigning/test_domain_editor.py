"""domain_editor pieces that need no daemon: spotting a hot-unplug the guest has not completed,
no edit after a session's deadline."""

import threading
import time

import libvirt
import pytest

from ansible_collections.virt.hostdev.plugins.module_utils.assigning.domain_editor import (
    apply_edits,
    pending_unplugs,
    start_mdevs,
    stop_mdevs,
)
from ansible_collections.virt.hostdev.plugins.module_utils.errors import HostdevError
from ansible_collections.virt.hostdev.plugins.module_utils.libvirt_errors import (
    DeadlineExceeded,
    cancelled,
    within_deadline,
)

NIC = ("<hostdev mode='subsystem' type='pci' managed='yes'><source>"
       "<address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev>")
DISK = ("<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
        "<address bus='0' target='0' unit='0'/></source></hostdev>")


class FakeDomain:
    def __init__(self, live_hostdevs, active=True):
        self.live = "<domain><name>vm</name><devices>%s</devices></domain>" % ''.join(live_hostdevs)
        self.active = active

    def name(self):
        return 'vm'

    def isActive(self):
        return self.active

    def XMLDesc(self, flags):
        assert flags == 0, 'only the running definition is read'
        return self.live


def detach(device, xml, target='live'):
    return {'action': 'detach', 'device': device, 'target': target, 'xml': xml}


def test_device_still_in_the_running_domain_is_pending():
    # libvirt stores the element with a guest address; matching is by source.
    stored = NIC.replace('</source>', "</source><address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>")
    edits = [detach('pci_0000_01_00_0', NIC), detach('scsi_0_0_0_0', DISK)]
    assert pending_unplugs(FakeDomain([stored]), edits) == ['pci_0000_01_00_0']


def test_released_devices_and_config_only_edits_are_not_pending():
    assert pending_unplugs(FakeDomain([]), [detach('pci_0000_01_00_0', NIC)]) == []
    assert pending_unplugs(FakeDomain([NIC]), [detach('pci_0000_01_00_0', NIC, target='config')]) == []


def test_a_domain_that_stopped_has_nothing_pending():
    assert pending_unplugs(FakeDomain([NIC], active=False), [detach('pci_0000_01_00_0', NIC)]) == []


def attach(device, xml, target='config'):
    return {'action': 'attach', 'device': device, 'target': target, 'xml': xml}


def wait_until_cancelled():
    deadline = time.monotonic() + 30
    while not cancelled() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cancelled()


class RecordingDomain:
    """Records each edit; the edit number block_at waits for the deadline, then fails like a dropped connection."""

    def __init__(self, block_at=None):
        self.calls = []
        self.block_at = block_at

    def name(self):
        return 'vm'

    def _edit(self, verb, xml):
        self.calls.append(verb)
        if len(self.calls) == self.block_at:
            wait_until_cancelled()
            raise libvirt.libvirtError('internal error: connection closed due to keepalive timeout')

    def attachDeviceFlags(self, xml, flags):
        self._edit('attach', xml)

    def detachDeviceFlags(self, xml, flags):
        self._edit('detach', xml)


def run_past_deadline(session):
    """Run session under a 0.2 s deadline it overruns; return what it raised once it finished."""
    finished, outcome = threading.Event(), {}

    def recorded():
        try:
            session()
        except HostdevError as error:
            outcome['error'] = error
        finally:
            finished.set()

    with pytest.raises(DeadlineExceeded):
        within_deadline(recorded, 'test:///default', timeout=0.2)
    assert finished.wait(30), 'the session did not finish'
    return outcome['error']


def test_no_edit_starts_after_the_deadline():
    dom = RecordingDomain()

    def session():
        wait_until_cancelled()
        apply_edits(dom, [attach('pci_0000_01_00_0', NIC)], 'vm')

    error = run_past_deadline(session)
    assert dom.calls == []
    assert error.message == ('attach pci_0000_01_00_0 to the persistent definition of vm: not done, '
                             'the run had already failed at its deadline')


def test_no_undo_starts_after_the_deadline():
    # The second edit was sent before the deadline and fails after it: the first is not undone.
    dom = RecordingDomain(block_at=2)
    error = run_past_deadline(lambda: apply_edits(
        dom, [attach('pci_0000_01_00_0', NIC), attach('scsi_0_0_0_0', DISK)], 'vm'))
    assert dom.calls == ['attach', 'attach']
    assert 'ROLLBACK FAILED' in error.message and 'the run had already failed at its deadline' in error.message


# -- starting mdevs (libvirt's test driver has no node device create: virNodeDeviceCreate is
# "not supported by the connection driver" in libvirt 9.0, so a fake connection stands in) --------

def not_found():
    error = libvirt.libvirtError('Node device not found')
    error.err = (libvirt.VIR_ERR_NO_NODE_DEVICE, libvirt.VIR_FROM_NODEDEV, 'Node device not found',
                 libvirt.VIR_ERR_ERROR, None, None, None, -1, -1)
    return error


class FakeNodeDevices:
    """A connection's node devices: records create/destroy calls; fail_create names one whose create fails."""

    def __init__(self, known, fail_create=None, fail_destroy=None):
        self.known, self.fail_create, self.fail_destroy = known, fail_create, fail_destroy
        self.calls = []

    def getURI(self):
        return 'qemu:///system'

    def nodeDeviceLookupByName(self, name):
        if name not in self.known:
            raise not_found()
        conn = self

        class Device:
            def create(self):
                if name == conn.fail_create:
                    raise libvirt.libvirtError('Unable to start mediated device: mdevctl failed')
                conn.calls.append(('create', name))

            def destroy(self):
                if name == conn.fail_destroy:
                    raise libvirt.libvirtError('device busy')
                conn.calls.append(('destroy', name))
        return Device()


A, B, C = 'mdev_a_mtty', 'mdev_b_mtty', 'mdev_c_mtty'


def test_mdevs_are_started_in_order():
    conn = FakeNodeDevices([A, B])
    assert start_mdevs(conn, [A, B], 'vm') == [A, B]
    assert conn.calls == [('create', A), ('create', B)]


def test_a_failed_start_stops_the_ones_this_run_started_and_says_so():
    conn = FakeNodeDevices([A, B, C], fail_create=C)
    with pytest.raises(HostdevError) as caught:
        start_mdevs(conn, [A, B, C], 'vm')
    assert conn.calls == [('create', A), ('create', B), ('destroy', B), ('destroy', A)]
    assert caught.value.message == (
        'cannot start mdev %s for domain vm: Unable to start mediated device: mdevctl failed; the mdevs this run '
        'started (%s, %s) were stopped again' % (C, A, B))


def test_an_mdev_libvirt_does_not_know_is_a_clear_error_and_nothing_changes():
    conn = FakeNodeDevices([])
    with pytest.raises(HostdevError) as caught:
        start_mdevs(conn, [A], 'vm')
    assert conn.calls == []
    assert caught.value.message == ('libvirt at qemu:///system does not know mdev %s, so it cannot start it (define '
                                    'it with virt.hostdev.mdevs); nothing was changed' % A)


def test_stopping_again_says_which_mdev_stays_started():
    conn = FakeNodeDevices([A, B], fail_destroy=A)
    assert stop_mdevs(conn, [A, B]) == ('; not every mdev this run started was stopped again: cannot stop mdev %s again: '
                                        'device busy' % A)
    assert conn.calls == [('destroy', B)]
