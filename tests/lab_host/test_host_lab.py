# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs issue 9's real-host lab once (tests/lab_host/host.py passthrough) and checks its report.

The lab host is a Debian 12 system on its own disk, booting through GRUB under QEMU TCG
with a virtual Intel IOMMU, reached over SSH on a forwarded loopback port with a key made
for the run; Ansible runs the collection's roles and modules there on Debian's python3 and
python3-libvirt. One boot sequence, ten plays (playbooks/, one per step):

1. iommu_off: hostdev_facts with intel_iommu=off (IOMMU off, with a hint); the
   hostdev_assign role refuses the NIC with iommu_off, the domain unchanged.
2. sriov_count: sriov_vfs gives the igb PF (QEMU 10's 82576) four VFs on igbvf, now and at
   every boot (a udev rule); a second run changes nothing.
3. mtty: mtty.ko, built by host.py from Debian's linux-source for the image's kernel, is
   installed and loaded at every boot; its parent offers mtty-1 and mtty-2.
4. mdev_create: virt.hostdev.mdevs makes two persistent, autostarted mtty-2 mdevs with
   UUIDs derived from their name; a second run changes nothing.
5. prepare: the hostdev_prepare role reserves one of two identical e1000e NICs and
   reboots; the IOMMU is on, the facts' groups equal /sys/kernel/iommu_groups, the NIC is
   on vfio-pci and its twin on e1000e; a second run changes nothing; the four VFs, mtty and
   the two mdevs are back.
6. assign: hostdev_assign gives the NIC to a domain that starts with it (nested TCG) and
   holds its VFIO group; destroyed, the role takes the NIC back, the definition as before.
7. sriov: every VF's IOMMU group in hostdev_facts is the kernel's; domain_hostdev gives a VF
   to the domain as an interface with a MAC and VLAN 100, the domain starts and the PF
   reports that MAC and VLAN for the VF; sriov_vfs refuses to lower the count while the
   domain holds it (naming it), nothing changed; released, state absent leaves no VF.
8. mdev: hostdev_facts' mdev types have sysfs' available instances and the mdevs are active,
   persistent and autostarted; domain_hostdev gives one to the domain, which starts with it;
   mdevs state absent is refused with mdev_held naming the domain, nothing changed;
   released, state absent leaves no mdev and no definition.
9. refusals: reserving the default route's NIC or the root disk's controller is refused
   with host_in_use, and no file, initramfs or driver binding changes.
10. release: hostdev_prepare state absent and a reboot: the NIC back on e1000e, the IOMMU
   arguments and every file of the reservation gone.

Every test here FAILS (never skips) when the lab cannot build, boot or report.
Output: $LAB_HOST_OUT, default <repo>/.build/lab_host (report.json, serial.log, run/).
"""

import contextlib
import json
import os
import signal
import subprocess
import sys

import pytest

from support.lab_report import LabReport

pytestmark = pytest.mark.lab_host

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
HOST_PY = os.path.join(HERE, "host.py")
OUT = os.environ.get("LAB_HOST_OUT") or os.path.join(REPO, ".build", "lab_host")
# A hard bound for one run including an uncached image build (the harness bounds every
# step itself; this only catches a harness that hangs).
RUN_TIMEOUT = int(os.environ.get("LAB_HOST_RUN_TIMEOUT", "3600"))
SCENARIO = "passthrough"
STEPS = ["iommu_off", "sriov_count", "mtty", "mdev_create", "prepare", "assign", "sriov", "mdev", "refusals",
         "release"]
PLAYS = ["play:" + step for step in STEPS]
TWIN = ("0x8086", "0x10d3")  # e1000e
NIC, TWIN_NIC = "0000:01:00.0", "0000:02:00.0"  # reserved; kept by the host
UPLINK, ROOT_DISK = "0000:00:02.0", "0000:00:01.0"  # virtio-net (default route), virtio-blk (/)
NIC_NAME = "pci_0000_01_00_0"
# QEMU 10's igb behind the third root port, and the VFs sriov_vfs gives it (VF n at 03:10.(2n))
PF, PF_IDS = "0000:03:00.0", ("0x8086", "0x10c9")
VFS = ["0000:03:10.0", "0000:03:10.2", "0000:03:10.4", "0000:03:10.6"]
VF, VF_NAME, VF_INDEX = "0000:03:10.2", "pci_0000_03_10_2", 1  # the VF given to the domain
VF_MAC, VF_VLAN = "52:54:00:b0:00:01", 100
SRIOV_RULES = "/etc/udev/rules.d/70-virt-hostdev-sriov.rules"
DOMAIN = "labguest"
# mtty's parent (sysfs name; libvirt's node device) and the mdevs the mdevs module makes on it
MTTY, MTTY_NODE, MTTY_TYPES = "mtty", "mtty_mtty", ["mtty-1", "mtty-2"]
MDEV_NAME, MDEV_TYPE, MDEV_COUNT = "lab-serial", "mtty-2", 2
RESERVATION_FILES = [
    "/etc/virt-hostdev/vfio-pci.conf",
    "/etc/modules-load.d/virt-hostdev-vfio.conf",
    "/etc/udev/rules.d/60-virt-hostdev-vfio.rules",
    "/etc/initramfs-tools/hooks/virt-hostdev-vfio",
    "/etc/initramfs-tools/scripts/init-top/00-virt-hostdev-vfio",
    "/var/lib/virt-hostdev/vfio-initramfs.sha256",
]


def run_harness(argv, timeout):
    """host.py's output and exit code. On a timeout or Ctrl-C, host.py gets SIGTERM and time
    to power the lab host off and end its processes (subprocess.run would SIGKILL it)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
        output = proc.communicate(timeout=timeout)[0]
        return proc.returncode, output
    except BaseException as error:
        proc.send_signal(signal.SIGTERM)
        try:
            output = proc.communicate(timeout=300)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0]
        if isinstance(error, subprocess.TimeoutExpired):
            return None, (output or "") + f"\nTIMEOUT after {timeout}s"
        raise


@pytest.fixture(scope="module")
def lab():
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(OUT, "report.json"))  # never read a previous run's
    rc, output = run_harness([sys.executable, HOST_PY, SCENARIO, "--out", OUT], RUN_TIMEOUT)
    report = None
    path = os.path.join(OUT, "report.json")
    if os.path.exists(path):
        with open(path) as handle:
            report = json.load(handle)
    print(output)
    return LabReport(rc, output, report, "tests/lab_host/host.py")


def twins(pci):
    return sorted(address for address, dev in pci.items() if (dev["vendor"], dev["device"]) == TWIN)


def reserved(text):
    """The addresses a reservation file lists."""
    return [line.split()[0] for line in (text or "").splitlines() if line.strip() and not line.startswith("#")]


def test_lab_host_run_passed(lab):
    if lab.report is None:
        lab.fail(f"the lab produced no report (exit code {lab.rc})")
    if not lab.report.get("complete"):
        lab.fail(f"the run did not finish: {lab.report['meta'].get('error')}")
    if lab.rc != 0 or not lab.report.get("ok"):
        lab.fail(f"tests/lab_host/host.py exited with {lab.rc}: {lab.report['meta'].get('error')}")


@pytest.mark.parametrize("name", PLAYS)
def test_play_passed(lab, name):
    check = lab.check(name)
    assert check["ok"], f"{name} failed, see {check['details']['log']}"
    assert check["details"]["tasks"], "no per-task times (junit callback)"


def test_modules_ran_over_ssh_on_debian_python(lab):
    data = lab.recorded("play:iommu_off")
    python = data["kernel"]["python"]
    assert python["executable"] == "/usr/bin/python3"
    assert python["libvirt"]["path"].startswith("/usr/lib/python3/dist-packages/")
    assert data["facts"]["source"] == "libvirt"
    # the roles' own facts (source auto) came from the host's libvirtd too
    assert lab.recorded("play:prepare")["facts"]["source"] == "libvirt"
    inventory = lab.report["meta"]["qemu"]
    assert "hostfwd=tcp:127.0.0.1:%d-:22" % inventory["port"] in " ".join(inventory["argv"])


# -- step 1: IOMMU off

def test_iommu_off_with_a_hint(lab):
    data = lab.recorded("play:iommu_off")
    iommu = data["facts"]["iommu"]
    assert "intel_iommu=off" in data["kernel"]["cmdline"].split()
    assert "BOOT_IMAGE=" in data["kernel"]["cmdline"], "not booted through GRUB"
    assert iommu["kernel_args"].get("intel_iommu") == "off"
    assert iommu["enabled"] is False
    assert iommu["groups"] == 0 and data["facts"]["iommu_groups"] == []
    assert data["kernel"]["groups"] == []
    assert iommu["hint"] and "intel_iommu=on" in iommu["hint"]
    assert twins(data["kernel"]["pci"]) == [NIC, TWIN_NIC]
    # the firmware describes the (virtual) Intel IOMMU even while it is off: kernel_cmdline's
    # vendor comes from this table (QEMU's TCG CPU says AuthenticAMD)
    assert "DMAR" in data["kernel"]["acpi_tables"] and "IVRS" not in data["kernel"]["acpi_tables"]


def test_assign_refused_with_iommu_off_domain_unchanged(lab):
    data = lab.recorded("play:iommu_off")
    assign = data["assign"]
    assert assign["refused"] is True
    assert [(p["code"], p["device"]) for p in assign["problems"]] == [("iommu_off", NIC_NAME)]
    assert assign["changed"] is False
    before, after = data["domain_before"], data["domain_after"]
    assert before["config_hostdevs"] == [] and after["config_hostdevs"] == []
    assert "<hostdev" not in after["config_xml"]
    assert after["config_xml"] == before["config_xml"]
    assert after["active"] is False


def test_lab_host_runs_on_qemu_10_with_an_igb_after_the_twins(lab):
    qemu = lab.report["meta"]["qemu"]
    assert qemu["version"].startswith("QEMU emulator version 10."), qemu["version"]
    assert qemu["argv"][0] == "/usr/bin/qemu-system-x86_64"  # in the cached QEMU root
    assert any(arg.startswith("igb,bus=rp3,") for arg in qemu["argv"])
    pci = lab.recorded("play:iommu_off")["kernel"]["pci"]
    assert twins(pci) == [NIC, TWIN_NIC]  # the igb's root port moved no existing address
    assert (pci[PF]["vendor"], pci[PF]["device"], pci[PF]["driver"]) == PF_IDS + ("igb",)


# -- step 2 (SR-IOV), before prepare's reboot: four VFs, now and at every boot

def test_sriov_vfs_made_four_vfs_with_a_udev_rule(lab):
    data = lab.recorded("play:sriov_count")
    before, after, first = data["before"]["pci"], data["after"]["pci"], data["first"]
    assert (before[PF]["sriov_totalvfs"], before[PF]["sriov_numvfs"]) == ("7", "0")
    assert first["changed"] is True and (first["before"], first["after"]) == (0, 4)
    assert first["writes"] == [{"attribute": "sriov_numvfs", "value": 4}]
    assert first["virtual_functions"] == VFS and first["files"] == [SRIOV_RULES]
    assert after[PF]["sriov_numvfs"] == "4"
    assert sorted(a for a, dev in after.items() if dev["physfn"] == PF) == VFS
    assert [after[vf]["driver"] for vf in VFS] == ["igbvf"] * 4
    rules = [line for line in data["after"]["rules"].splitlines() if line and not line.startswith("#")]
    assert rules == [f'ACTION=="add|bind", SUBSYSTEM=="pci", KERNEL=="{PF}", DRIVER=="?*", '
                     'ATTR{sriov_numvfs}="4"'], rules


def test_sriov_vfs_second_run_changes_nothing(lab):
    second = lab.recorded("play:sriov_count")["second"]
    assert second["changed"] is False and (second["before"], second["after"]) == (4, 4)
    assert second["writes"] == [] and second["commands"] == [] and second["files"] == []
    assert second["virtual_functions"] == VFS


# -- steps 3-4 (mdev), before prepare's reboot: mtty at every boot, two persistent mdevs

def derived_uuids():
    """The UUIDs the collection derives from the mdevs' name (one home: model/mdev.py)."""
    from ansible_collections.virt.hostdev.plugins.module_utils.model import mdev
    return mdev.derived_uuids(MDEV_NAME, MDEV_COUNT)


def test_mtty_built_for_the_image_kernel_and_loaded(lab):
    image, mtty = lab.report["meta"]["image"], lab.report["meta"]["mtty"]
    assert mtty["kernel"] == image["kernel"] and mtty["version"] == image["kernel_package"]
    assert mtty["vermagic"].startswith(image["kernel"] + " ")
    assert mtty["source_package"] == "linux-source-6.1"
    data = lab.recorded("play:mtty")
    assert data["installed"] == f"/lib/modules/{image['kernel']}/updates/mtty.ko"
    assert data["modules_load"], "no modules-load.d file for mtty"
    mdev = data["mdev"]
    assert mdev["module"] is True and sorted(mdev["parents"]) == [MTTY]
    assert sorted(mdev["parents"][MTTY]) == MTTY_TYPES
    assert mdev["parents"][MTTY][MDEV_TYPE]["device_api"] == "vfio-pci"
    assert mdev["parents"][MTTY][MDEV_TYPE]["available_instances"] > MDEV_COUNT
    assert mdev["devices"] == {} and mdev["definitions"] == {}


def test_mdevs_module_made_two_persistent_autostarted_mdevs(lab):
    data = lab.recorded("play:mdev_create")
    first, after = data["first"], data["after"]
    before = lab.recorded("play:mtty")["mdev"]  # taken just before
    uuids = derived_uuids()
    assert before["devices"] == {} and before["definitions"] == {}
    assert first["changed"] is True
    assert [m["uuid"] for m in first["mdevs"]] == uuids
    for record in first["mdevs"]:
        assert (record["type"], record["parent"]) == (MDEV_TYPE, MTTY_NODE), record
        assert (record["active"], record["persistent"], record["autostart"]) == (True, True, True), record
        assert record["name"] == "mdev_%s_%s" % (record["uuid"].replace("-", "_"), MTTY)
    assert sorted(after["devices"]) == sorted(uuids)
    assert {(d["type"], d["parent"], d["driver"]) for d in after["devices"].values()} == {
        (MDEV_TYPE, MTTY, "mtty")}
    # persistent and autostarted: mdevctl's definitions (what brings them back at boot)
    assert sorted(after["definitions"]) == sorted(f"{MTTY}/{uuid}" for uuid in uuids)
    assert {(d["mdev_type"], d["start"]) for d in after["definitions"].values()} == {(MDEV_TYPE, "auto")}
    free = before["parents"][MTTY][MDEV_TYPE]["available_instances"]
    assert after["parents"][MTTY][MDEV_TYPE]["available_instances"] == free - MDEV_COUNT


def test_mdevs_second_run_changes_nothing(lab):
    data = lab.recorded("play:mdev_create")
    second = data["second"]
    assert second["changed"] is False
    assert second["actions"] == [] and second["commands"] == []
    assert second["mdevs"] == data["first"]["mdevs"]
    assert data["again"] == data["after"]


# -- step 5: hostdev_prepare reserves one NIC and reboots

def test_prepare_reserved_one_nic_and_rebooted(lab):
    data = lab.recorded("play:prepare")
    first, vfio, cmdline = data["first"], data["first_vfio"], data["first_kernel_cmdline"]
    assert first["changed"] is True and first["rebooted"] is True
    assert first["reboot_required"] is False and first["pending"] == []
    assert first["addresses"] == [NIC] and first["devices"] == [NIC_NAME]
    assert (first["bootloader"], first["initramfs"]) == ("grub", "initramfs-tools")
    assert vfio["changed"] is True and vfio["regenerated"] is True
    assert vfio["pending"] == [NIC_NAME]  # before the reboot
    assert [command[0].rsplit("/", 1)[-1] for command in vfio["commands"]] == ["update-initramfs", "modprobe"]
    assert cmdline["vendor"] == "intel"
    assert cmdline["added"] == ["intel_iommu=on"] and cmdline["removed"] == ["intel_iommu=off"]
    assert [command[0].rsplit("/", 1)[-1] for command in cmdline["commands"]] == ["update-grub"]
    assert data["reboot_elapsed"] > 0
    kernel = data["kernel"]
    assert data["boot_id_after_reboot"] != data["boot_ids"][0]
    assert "BOOT_IMAGE=" in kernel["cmdline"]
    tokens = kernel["cmdline"].split()
    assert "intel_iommu=on" in tokens and "intel_iommu=off" not in tokens
    grub = kernel["texts"]["/etc/default/grub"]
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=on"' in grub.splitlines()
    # the files of docs/hostdev_prepare.md, naming the reserved NIC only, by address
    assert all(kernel["files"][path] for path in RESERVATION_FILES)
    assert reserved(kernel["texts"]["/etc/virt-hostdev/vfio-pci.conf"]) == [NIC]
    rules = kernel["texts"]["/etc/udev/rules.d/60-virt-hostdev-vfio.rules"]
    assert f'KERNEL=="{NIC}"' in rules and TWIN_NIC not in rules
    assert reserved(kernel["texts"]["/etc/modules-load.d/virt-hostdev-vfio.conf"]) == [
        "vfio", "vfio_iommu_type1", "vfio_pci"]
    assert kernel["modules"] == {"vfio": True, "vfio_iommu_type1": True, "vfio_pci": True}


def test_iommu_on_and_facts_groups_equal_sysfs(lab):
    data = lab.recorded("play:prepare")
    facts, kernel = data["facts"], data["kernel"]
    assert facts["iommu"]["enabled"] is True
    assert facts["iommu"]["hint"] is None
    assert len(kernel["groups"]) > 2
    assert facts["iommu_groups"] == kernel["groups"]
    assert data["facts_first"]["iommu_groups"] == kernel["groups"]
    assert facts["iommu"]["groups"] == len(kernel["groups"])
    assert kernel["interrupt_remapping"] is True
    assert facts["iommu"]["interrupt_remapping"] is True


def test_reserved_nic_on_vfio_pci_twin_on_e1000e(lab):
    data = lab.recorded("play:prepare")
    pci = data["kernel"]["pci"]
    assert twins(pci) == [NIC, TWIN_NIC]
    assert (pci[NIC]["driver"], pci[NIC]["driver_override"]) == ("vfio-pci", "vfio-pci")
    assert (pci[TWIN_NIC]["driver"], pci[TWIN_NIC]["driver_override"]) == ("e1000e", "(null)")
    groups = [pci[address]["iommu_group"] for address in (NIC, TWIN_NIC)]
    assert None not in groups and groups[0] != groups[1]
    assert str(groups[0]) in data["kernel"]["vfio_devices"]
    by_name = {dev["name"]: dev for dev in data["facts"]["devices"]}
    assert by_name[NIC_NAME]["driver"] == "vfio-pci"
    assert by_name["pci_0000_02_00_0"]["driver"] == "e1000e"
    assert [by_name[n]["iommu_group"] for n in (NIC_NAME, "pci_0000_02_00_0")] == groups


def test_second_prepare_run_changes_nothing(lab):
    data = lab.recorded("play:prepare")
    second = data["second"]
    assert second["changed"] is False and second["rebooted"] is False
    assert second["reboot_required"] is False and second["pending"] == []
    assert second["vfio"]["changed"] is False and second["vfio"]["commands"] == []
    assert second["kernel_cmdline"]["changed"] is False and second["kernel_cmdline"]["commands"] == []
    assert second["addresses"] == [NIC]
    assert data["boot_ids"][1] == data["boot_id_after_reboot"]


def test_vfs_back_after_the_reboot(lab):
    data = lab.recorded("play:prepare")
    pci = data["kernel"]["pci"]
    assert data["boot_id_after_reboot"] != data["boot_ids"][0]
    assert pci[PF]["sriov_numvfs"] == "4"
    assert sorted(a for a, dev in pci.items() if dev["physfn"] == PF) == VFS
    assert [pci[vf]["driver"] for vf in VFS] == ["igbvf"] * 4
    assert f'KERNEL=="{PF}"' in data["kernel"]["texts"][SRIOV_RULES]


def test_mtty_back_after_the_reboot(lab):
    data = lab.recorded("play:prepare")
    mdev = data["kernel"]["mdev"]
    assert data["boot_id_after_reboot"] != lab.recorded("play:mdev_create")["boot_id"]
    assert mdev["module"] is True and sorted(mdev["parents"][MTTY]) == MTTY_TYPES  # modules-load.d


def test_mdevs_autostarted_after_the_reboot(lab):
    # Debian 12's mdevctl (1.2.0-3+b1) ships /usr/bin/mdevctl but its udev rule runs
    # /usr/sbin/mdevctl ("not found" in the journal): unless the collection sees to it, nothing
    # starts autostart mdevs at boot. This is the claim that says so.
    data = lab.recorded("play:prepare")
    created = lab.recorded("play:mdev_create")
    mdev = data["kernel"]["mdev"]
    assert mdev["definitions"] == created["after"]["definitions"]
    assert sorted(mdev["devices"]) == sorted(derived_uuids()), "the autostart mdevs did not come back"
    assert {d["type"] for d in mdev["devices"].values()} == {MDEV_TYPE}
    rerun = lab.recorded("play:mdev")["rerun"]
    assert rerun["changed"] is False and rerun["actions"] == [], rerun


# -- step 6: the reserved NIC in a running domain

def test_domain_starts_with_the_reserved_nic(lab):
    data = lab.recorded("play:assign")
    assert data["assigned"]["changed"] is True and data["assigned"]["added"] == [NIC_NAME]
    assert data["before"]["active"] is False and data["before"]["config_hostdevs"] == []
    running = data["running"]
    assert running["active"] is True and running["state"] == 1  # VIR_DOMAIN_RUNNING
    assert running["config_hostdevs"] == [NIC] and running["live_hostdevs"] == [NIC]
    assert running["device"]["driver"] == "vfio-pci"
    group = running["device"]["iommu_group"]
    assert running["qemu_vfio"] == [f"/dev/vfio/{group}", "/dev/vfio/vfio"]


def test_domain_stopped_and_nic_removed(lab):
    data = lab.recorded("play:assign")
    assert data["stopped"]["active"] is False and data["stopped"]["qemu_vfio"] == []
    # libvirt (managed) found it on vfio-pci at start, so it leaves it there: still reserved
    assert data["stopped"]["device"]["driver"] == "vfio-pci"
    removed = data["removed"]
    assert removed["changed"] is True and removed["removed"] == [NIC_NAME]
    after = data["after"]
    assert after["config_hostdevs"] == [] and "<hostdev" not in after["config_xml"]
    assert after["config_xml"] == data["before"]["config_xml"]


# -- step 7 (SR-IOV), after assign: facts, a VF in a running domain, the count held, none left

def test_vf_iommu_groups_in_facts_equal_sysfs(lab):
    data = lab.recorded("play:sriov")
    kernel, facts = data["kernel"], data["facts"]
    assert facts["iommu_groups"] == kernel["groups"]
    records = {record["name"]: record for record in facts["vfs"]}
    assert sorted(records) == ["pci_" + vf.replace(":", "_").replace(".", "_") for vf in VFS]
    groups = [kernel["pci"][vf]["iommu_group"] for vf in VFS]
    assert None not in groups and len(set(groups)) == 4  # each VF alone (the 82576 ACS quirk)
    assert [records[name]["iommu_group"] for name in sorted(records)] == groups
    for index, name in enumerate(sorted(records)):
        group = [g["devices"] for g in kernel["groups"] if g["number"] == groups[index]]
        assert group == [[name]]
        assert records[name]["pci"]["sriov"]["physical_function"] == PF
        assert records[name]["pci"]["sriov"]["vf_index"] == index


def test_vf_to_a_running_domain_with_mac_and_vlan(lab):
    data = lab.recorded("play:sriov")
    assigned, running = data["assigned"], data["running"]
    assert assigned["changed"] is True and assigned["added"] == [VF_NAME]
    assert assigned["interfaces"] == [{"device": VF_NAME, "address": VF, "mac": VF_MAC, "vlan": VF_VLAN}]
    assert data["before"]["config_interfaces"] == [] and data["before"]["active"] is False
    interface = {"address": VF, "mac": VF_MAC, "vlan": VF_VLAN}
    assert running["active"] is True and running["state"] == 1
    assert running["config_interfaces"] == [interface] and running["live_interfaces"] == [interface]
    assert running["config_hostdevs"] == [] and running["live_hostdevs"] == []
    assert running["device"]["driver"] == "vfio-pci"
    assert running["qemu_vfio"] == [f"/dev/vfio/{running['device']['iommu_group']}", "/dev/vfio/vfio"]
    # what the PF says (ip -j -d link show): the MAC and VLAN of that VF, the others untouched
    vfs = {vf["vf"]: vf for vf in data["link"]["vfinfo_list"]}
    assert sorted(vfs) == [0, 1, 2, 3]
    assert vfs[VF_INDEX]["address"] == VF_MAC and vfs[VF_INDEX]["vlan_list"] == [{"vlan": VF_VLAN}]
    assert [vfs[i]["vlan_list"] for i in (0, 2, 3)] == [[{}]] * 3


def test_lowering_the_count_refused_while_a_vf_is_held(lab):
    data = lab.recorded("play:sriov")
    lowered = data["lowered"]
    assert lowered["refused"] is True and lowered["changed"] is False
    assert [(p["code"], p["device"]) for p in lowered["problems"]] == [("vf_assigned", VF_NAME)]
    assert DOMAIN in lowered["problems"][0]["message"]
    before, after = data["before_refusal"], data["after_refusal"]
    assert after["pci"][PF]["sriov_numvfs"] == "4" and after["pci"][VF]["driver"] == "vfio-pci"
    assert after["pci"] == before["pci"]
    assert after["files"] == before["files"] and before["files"][SRIOV_RULES]


def test_vf_released_and_state_absent_leaves_none(lab):
    data = lab.recorded("play:sriov")
    assert data["stopped"]["active"] is False and data["stopped"]["qemu_vfio"] == []
    assert data["removed"]["changed"] is True and data["removed"]["removed"] == [VF_NAME]
    after = data["after"]
    assert after["config_interfaces"] == [] and "<interface" not in after["config_xml"]
    assert after["config_xml"] == data["before"]["config_xml"]
    absent, end = data["absent"], data["end"]
    assert absent["changed"] is True and (absent["before"], absent["after"]) == (4, 0)
    assert absent["files"] == [SRIOV_RULES]
    assert end["pci"][PF]["sriov_numvfs"] == "0"
    assert [a for a, dev in end["pci"].items() if dev["physfn"]] == []
    assert end["files"][SRIOV_RULES] is None


# -- step 8 (mdev), after sriov: facts, one to a running domain, removal held, none left

def test_facts_mdev_types_follow_sysfs(lab):
    data = lab.recorded("play:mdev")
    parent, sysfs = data["parent"], data["kernel"]["parents"][MTTY]
    assert parent["type"] == "mdev_types"
    types = {t["type"]: t for t in parent["mdev_parent"]["types"]}
    assert sorted(types) == MTTY_TYPES
    assert {name: t["available_instances"] for name, t in types.items()} == {
        name: t["available_instances"] for name, t in sysfs.items()}
    assert {name: t["device_api"] for name, t in types.items()} == dict.fromkeys(MTTY_TYPES, "vfio-pci")
    # two of mtty-2 are taken (4 of mtty's ports): fewer available than before the mdevs
    before = lab.recorded("play:mtty")["mdev"]["parents"][MTTY]
    assert types[MDEV_TYPE]["available_instances"] == before[MDEV_TYPE]["available_instances"] - MDEV_COUNT


def test_facts_mdevs_active_persistent_autostarted(lab):
    data = lab.recorded("play:mdev")
    records = data["mdevs"]
    assert [r["mdev"]["uuid"] for r in records] == sorted(derived_uuids())
    for record in records:
        mdev = record["mdev"]
        assert (mdev["type"], mdev["parent_address"], mdev["device_api"]) == (MDEV_TYPE, MTTY, "vfio-pci")
        assert (mdev["active"], mdev["persistent"], mdev["autostart"]) == (True, True, True), record
        assert mdev["iommu_group"] == data["kernel"]["devices"][mdev["uuid"]]["iommu_group"]


def test_domain_starts_with_an_mdev(lab):
    data = lab.recorded("play:mdev")
    uuid = data["uuid"]
    assert uuid == derived_uuids()[0]
    assert data["assigned"]["changed"] is True
    assert data["before"]["config_mdevs"] == [] and data["before"]["active"] is False
    running = data["running"]
    hostdev = {"uuid": uuid, "model": "vfio-pci"}
    assert running["active"] is True and running["state"] == 1
    assert running["config_mdevs"] == [hostdev] and running["live_mdevs"] == [hostdev]
    assert running["device"]["driver"] == "mtty"  # the parent's own mdev driver (kernel 6.1)
    assert running["qemu_vfio"] == [f"/dev/vfio/{running['device']['iommu_group']}", "/dev/vfio/vfio"]


def test_removing_a_held_mdev_refused_nothing_changed(lab):
    data = lab.recorded("play:mdev")
    held = data["held"]
    assert held["refused"] is True and held["changed"] is False
    assert {p["code"] for p in held["problems"]} == {"mdev_held"}, held["problems"]
    assert any(DOMAIN in p["message"] for p in held["problems"]), held["problems"]
    assert data["after_refusal"] == data["kernel"]
    assert len(data["after_refusal"]["devices"]) == MDEV_COUNT


def test_mdev_released_and_state_absent_leaves_none(lab):
    data = lab.recorded("play:mdev")
    assert data["stopped"]["active"] is False and data["stopped"]["qemu_vfio"] == []
    assert data["removed"]["changed"] is True
    after = data["after"]
    assert after["config_mdevs"] == [] and "type='mdev'" not in after["config_xml"]
    assert after["config_xml"] == data["before"]["config_xml"]
    assert data["absent"]["changed"] is True and data["absent"]["mdevs"] == []
    assert sorted(m["uuid"] for m in data["absent"]["removed"]) == sorted(derived_uuids())
    end = data["end"]
    assert end["devices"] == {} and end["definitions"] == {}
    assert data["end_libvirt"] == []
    # every instance free again
    assert end["parents"][MTTY] == lab.recorded("play:mtty")["mdev"]["parents"][MTTY]


# -- step 9: what the host runs on is never reserved

@pytest.mark.parametrize("which", ["uplink", "root_disk"])
def test_reserving_what_the_host_runs_on_is_refused(lab, which):
    refusal = lab.recorded("play:refusals")["refusals"][which]
    assert refusal["refused"] is True and refusal["changed"] is False
    codes = sorted(set(problem["code"] for problem in refusal["problems"]))
    assert codes == ["host_in_use"], refusal["problems"]
    # what the host runs on is the PCI device's child: the interface of the default route, the
    # disk holding /
    device, use = ("net_enp0s2_", "default route") if which == "uplink" else ("block_vda", "mounted at /")
    assert [problem["device"].startswith(device) for problem in refusal["problems"]] == [True]
    assert use in refusal["problems"][0]["message"], refusal["problems"]


def test_refusals_changed_nothing(lab):
    data = lab.recorded("play:refusals")
    before, after = data["before"], data["after"]
    assert after["files"] == before["files"]
    assert before["files"]["/etc/virt-hostdev/vfio-pci.conf"], "the reservation of step 2 is gone"
    assert after["initramfs"] == before["initramfs"] and before["initramfs"]
    assert after["pci"] == before["pci"]
    assert (after["pci"][UPLINK]["driver"], after["pci"][ROOT_DISK]["driver"]) == ("virtio-pci", "virtio-pci")
    assert after["pci"][NIC]["driver"] == "vfio-pci"
    assert after["boot_id"] == before["boot_id"] and after["cmdline"] == before["cmdline"]


# -- step 10: state absent and a reboot

def test_release_back_to_e1000e_and_files_gone(lab):
    data = lab.recorded("play:release")
    result, kernel = data["result"], data["kernel"]
    assert result["changed"] is True and result["rebooted"] is True and result["reboot_required"] is False
    assert result["released"] == [NIC] and result["pending"] == []
    assert data["vfio"]["regenerated"] is True
    assert data["reboot_elapsed"] > 0
    assert kernel["boot_id"] != data["boot_id_before"]
    assert kernel["pci"][NIC]["driver"] == "e1000e" and kernel["pci"][NIC]["driver_override"] == "(null)"
    assert kernel["pci"][TWIN_NIC]["driver"] == "e1000e"
    assert {path: kernel["files"][path] for path in RESERVATION_FILES} == dict.fromkeys(RESERVATION_FILES)


def test_release_removed_the_iommu_arguments(lab):
    data = lab.recorded("play:release")
    kernel = data["kernel"]
    assert data["kernel_cmdline"]["removed"] == ["intel_iommu=on"] and data["kernel_cmdline"]["added"] == []
    tokens = kernel["cmdline"].split()
    assert "BOOT_IMAGE=" in kernel["cmdline"]
    assert not [token for token in tokens if token.startswith("intel_iommu=")]
    grub = kernel["texts"]["/etc/default/grub"]
    assert 'GRUB_CMDLINE_LINUX_DEFAULT=""' in grub.splitlines()
    # documented: the intel_iommu=off of step 1 is not put back, so Debian 12's kernel default
    # (CONFIG_INTEL_IOMMU_DEFAULT_ON) applies: the IOMMU stays on
    assert "intel_iommu=off" not in grub
    assert len(kernel["groups"]) > 2


def test_phase_times_and_clean_stop(lab):
    phases = lab.report["phases"]
    for phase in (["image", "qemu_root", "mtty", "boot_to_ssh", "upload"] + PLAYS
                  + ["reboot:prepare", "reboot:release", "shutdown", "total"]):
        assert phase in phases, f"phase {phase} missing: {phases}"
    stop = lab.report["meta"]["stop"]
    assert stop["how"] == "poweroff"
    assert stop["leftover_pids_killed"] == []


def test_no_process_left(lab):
    needle = os.path.join(OUT, "run").encode()
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if needle in handle.read():
                    left.append(pid)
        except OSError:
            continue
    assert left == []
