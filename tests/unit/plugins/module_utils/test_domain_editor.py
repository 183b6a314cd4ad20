"""domain_editor pieces that need no daemon: spotting a hot-unplug the guest has not completed."""

from ansible_collections.virt.hostdev.plugins.module_utils.domain_editor import pending_unplugs

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
