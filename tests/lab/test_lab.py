# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the IOMMU/VFIO lab (tests/lab/run) once and checks its report.

The lab boots a q35 guest under QEMU TCG with a virtual Intel IOMMU and runs
tests/lab/guest/checks.py inside it.  Every test here FAILS (never skips)
when the lab cannot boot or the report is missing.

Venv used in the guest: $LAB_VENV, else this interpreter's venv, else
<repo>/.venv (the run script's default).
"""

import json
import os
import subprocess
import sys

import pytest

from support.lab_report import LabReport

pytestmark = pytest.mark.lab

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LAB_PY = os.path.join(HERE, "lab.py")  # what tests/lab/run runs

CHECKS = [
    "kernel_iommu",
    "topology",
    "libvirt_iommu_groups",
    "vfio_partial_group_not_viable",
    "vfio_full_group_assign",
    "playbook:facts",
    "playbook:role",
]
E1000 = ("0x8086", "0x100e")
E1000E = ("0x8086", "0x10d3")
PCIE_PCI_BRIDGE = ("0x1b36", "0x000e")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    out = os.environ.get("LAB_OUT") or os.path.join(REPO, ".build", "lab")
    argv = [sys.executable, LAB_PY, "--out", out]
    venv = os.environ.get("LAB_VENV")
    if not venv and sys.prefix != sys.base_prefix:
        venv = sys.prefix
    if venv:
        argv += ["--venv", venv]
    try:
        proc = subprocess.run(argv, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=1800)
        rc, output = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as e:
        rc, output = None, (e.stdout or b"").decode(errors="replace") + "\nTIMEOUT"
    report = None
    path = os.path.join(out, "report.json")
    if os.path.exists(path):
        with open(path) as f:
            report = json.load(f)
    return LabReport(rc, output, report, "tests/lab/run")


def pci(lab):
    return lab.details("kernel_iommu")["pci"]


def groups(lab):
    return {int(k): v for k, v in lab.details("kernel_iommu")["groups"].items()}


def test_lab_run_passed(lab):
    if lab.report is None:
        lab.fail(f"the lab produced no report (exit code {lab.rc})")
    if not lab.report.get("complete"):
        lab.fail("the guest payload did not finish")
    if lab.rc != 0:
        lab.fail(f"tests/lab/run exited with {lab.rc}")


@pytest.mark.parametrize("name", CHECKS)
def test_check_ok(lab, name):
    c = lab.check(name)
    assert c["ok"], json.dumps(c["details"], indent=1)[:4000]


def test_interrupt_remapping(lab):
    d = lab.details("kernel_iommu")
    assert "intel_iommu=on" in d["cmdline"]
    assert d["interrupt_remapping"]
    assert "IR-PCI-MSI" in d["ir_chips"]


def test_bridged_group_holds_bridge_and_both_e1000(lab):
    devs = pci(lab)
    bridges = [a for a, d in devs.items() if (d["vendor"], d["device"]) == PCIE_PCI_BRIDGE]
    assert len(bridges) == 1
    bridge = bridges[0]
    e1000 = sorted(a for a, d in devs.items()
                   if (d["vendor"], d["device"]) == E1000 and d["parent"] == bridge)
    assert len(e1000) == 2
    group = devs[bridge]["iommu_group"]
    assert groups(lab)[group] == sorted([bridge] + e1000)
    assert lab.details("topology")["bridged_e1000"] == e1000


def test_e1000e_alone(lab):
    devs = pci(lab)
    single = [a for a, d in devs.items() if (d["vendor"], d["device"]) == E1000E
              and a.endswith(".0") and a[:-1] + "1" not in devs]
    assert len(single) == 1
    assert groups(lab)[devs[single[0]]["iommu_group"]] == single


def test_multifunction_functions_share_a_group(lab):
    devs = pci(lab)
    fn1 = [a for a, d in devs.items() if (d["vendor"], d["device"]) == E1000E
           and a.endswith(".1")]
    assert len(fn1) == 1
    pair = sorted([fn1[0][:-1] + "0", fn1[0]])
    assert groups(lab)[devs[fn1[0]]["iommu_group"]] == pair


def test_ich9_functions_share_a_group(lab):
    devs = pci(lab)
    assert groups(lab)[devs["0000:00:1f.0"]["iommu_group"]] == [
        "0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3"]


def test_libvirt_groups_equal_kernel_groups(lab):
    d = lab.details("libvirt_iommu_groups")
    assert d["mismatches"] == []
    assert {int(k): v for k, v in d["groups"].items()} == groups(lab)
    assert set(d["devices"]) == set(pci(lab))


def test_half_group_is_not_viable(lab):
    d = lab.details("vfio_partial_group_not_viable")
    assert len(d["assigned"]) == 1
    assert not d["started"]
    assert "not viable" in d["error"]["message"]
    assert set(d["drivers_after"].values()) == {"e1000"}


def test_whole_group_binds_vfio_and_returns(lab):
    d = lab.details("vfio_full_group_assign")
    assert len(d["assigned"]) == 2
    assert d["running"]
    assert d["vfio_group_node"]
    assert set(d["drivers_before"].values()) == {"e1000"}
    assert set(d["drivers_during"].values()) == {"vfio-pci"}
    assert set(d["drivers_after"].values()) == {"e1000"}
    assert d["undefined"]


def recorded(lab, name):
    """What a guest playbook (tests/lab/guest/playbooks/) recorded in results/NAME.json."""
    out = os.environ.get("LAB_OUT") or os.path.join(REPO, ".build", "lab")
    path = os.path.join(out, "results", name + ".json")
    if not os.path.exists(path):
        lab.fail(f"{path} missing: the {name} playbook did not run in the guest")
    with open(path) as f:
        return json.load(f)


def lab_facts(lab):
    """The kernel's groups and both readers' facts, from playbooks/facts.yml."""
    return recorded(lab, "facts")


def as_name(address):
    return "pci_" + address.replace(":", "_").replace(".", "_")


def test_facts_groups_are_the_kernel_groups_through_both_readers(lab):
    facts = lab_facts(lab)
    kernel = [{"number": number, "devices": sorted(as_name(a) for a in members)}
              for number, members in sorted(groups(lab).items())]
    assert facts["kernel_groups"] == kernel
    assert facts["libvirt"]["iommu_groups"] == kernel
    assert facts["sysfs"]["iommu_groups"] == kernel
    bridged = lab.details("topology")["bridged_e1000"]
    by_name = {d["name"]: d for d in facts["libvirt"]["devices"]}
    group = by_name[as_name(bridged[0])]["iommu_group"]
    assert by_name[as_name(bridged[1])]["iommu_group"] == group


def test_facts_iommu_state_is_the_kernels(lab):
    facts = lab_facts(lab)
    for reader in ("libvirt", "sysfs"):
        iommu = facts[reader]["iommu"]
        assert iommu["enabled"] is True
        assert iommu["groups"] == len(groups(lab))
        assert iommu["interrupt_remapping"] is True is facts["kernel_interrupt_remapping"]
        assert iommu["kernel_args"]["intel_iommu"] == "on"
        assert iommu["hint"] is None


def test_facts_readers_agree_on_pci_devices_of_a_real_kernel(lab):
    facts = lab_facts(lab)
    via_libvirt = {d["name"]: d for d in facts["libvirt"]["devices"] if d["type"] == "pci"}
    via_sysfs = {d["name"]: d for d in facts["sysfs"]["devices"] if d["type"] == "pci"}
    assert sorted(via_libvirt) == sorted(via_sysfs) == sorted(as_name(a) for a in pci(lab))
    for name, device in via_libvirt.items():
        other = via_sysfs[name]
        for key in ("parent", "driver", "iommu_group", "passthrough", "pci"):
            assert device[key] == other[key], (name, key)


def test_facts_boot_vga_of_a_real_kernel_is_not_eligible(lab):
    facts = lab_facts(lab)
    vga = [d for d in facts["sysfs"]["devices"] if d["type"] == "pci" and d["pci"]["class"] == "0x030000"]
    assert len(vga) == 1
    assert vga[0]["pci"]["boot_vga"] is True
    assert vga[0]["passthrough"] == {"eligible": False, "reasons": ["boot_vga"]}
    assert vga[0]["name"] not in facts["libvirt"]["eligible"]


def as_names(addresses):
    return sorted(as_name(a) for a in addresses)


def test_role_refuses_half_a_group_naming_the_other_nic(lab):
    role = recorded(lab, "role")
    assert role["bridged"] == as_names(lab.details("topology")["bridged_e1000"])
    first, second = role["bridged"]
    assert role["half_group"]["refused"] is True
    message = role["half_group"]["msg"]
    assert "nothing was changed" in message
    assert f"{first} shares IOMMU group" in message and f"{second} (driver e1000)" in message
    assert "include_group: true" in message


def test_role_assigns_the_whole_group_and_the_domain_runs_on_vfio(lab):
    role = recorded(lab, "role")
    assert role["group_result"]["changed"] is True
    assert sorted(role["group_result"]["devices"]) == role["bridged"]
    assert role["group_start"] == {"started": True, "error": None}
    drivers = role["group_drivers"]
    assert set(drivers["before"].values()) == {"e1000"}
    assert set(drivers["during"].values()) == {"vfio-pci"}
    assert set(drivers["after"].values()) == {"e1000"}
    impact = sorted(item["type"] for item in role["group_result"]["impact"])
    assert impact == ["net", "net"]


def test_role_assigns_the_lone_nic_and_the_domain_runs(lab):
    role = recorded(lab, "role")
    assert role["lone"] == [as_name(lab.details("topology")["e1000e_alone"])]
    assert role["lone_result"]["changed"] is True
    assert role["lone_start"]["started"] is True
    assert list(role["lone_drivers"]["during"].values()) == ["vfio-pci"]
    assert list(role["lone_drivers"]["after"].values()) == ["e1000e"]


def test_role_refuses_a_device_another_domain_holds(lab):
    role = recorded(lab, "role")
    assert role["taken"]["refused"] is True
    assert f"{role['bridged'][1]} is already assigned to domain lab-a" in role["taken"]["msg"]


def test_role_removal_leaves_no_hostdev(lab):
    role = recorded(lab, "role")
    assert role["removal"]["changed"] is True
    assert sorted(role["removal"]["removed"]) == role["bridged"]
    assert role["removal"]["diff"]["after"] == ""
    assert role["a_hostdevs_after_removal"] == []


def test_role_hot_plugs_into_a_running_domain_and_reports_a_pending_unplug(lab):
    role = recorded(lab, "role")
    live, lone = role["live"], role["lone"]
    assert live["start"]["started"] is True
    assert live["plug"]["changed"] is True and live["plug"]["added"] == lone
    assert list(live["plug_driver"].values()) == ["vfio-pci"]
    assert len(live["plug_live"]) == 1
    # lab-c runs firmware only: nothing acknowledges the hot-unplug, so it is pending.
    assert live["unplug"]["changed"] is True and live["unplug"]["removed"] == lone
    assert live["unplug"]["pending_unplug"] == lone
    assert any("has not released" in warning for warning in live["unplug"]["warnings"])
    assert live["unplug_config"] == [] and len(live["unplug_live"]) == 1
    assert list(live["driver_after_stop"].values()) == ["e1000e"]


def test_role_refuses_the_controller_of_the_disk_the_host_swaps_on(lab):
    role = recorded(lab, "role")
    assert role["swap"]["swap"].startswith("/dev/sd")
    assert role["in_use"]["refused"] is True
    assert "host_in_use" not in role["in_use"]["msg"]  # the message speaks to people, not codes
    assert "in use by the host: swap" in role["in_use"]["msg"]
