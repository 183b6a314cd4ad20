# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt.hostdev lab: checks run inside the TCG guest (see tests/lab/run).

Runs the named checks in order and writes a JSON report:

    {"complete": bool, "meta": {...},
     "checks": [{"name", "ok", "details", "seconds"}, ...]}

The report is rewritten after every check, so a hang still leaves the results
so far.  A check is a function decorated with @check(NAME); it returns a dict
of details and raises CheckFailed (or anything else) to fail.  Later checks can
read what earlier ones found through STATE.

Adding more checks:
  * a Python check: write another @check function below;
  * an Ansible playbook: drop it in tests/lab/guest/playbooks/*.yml (see the
    ANSIBLE HOOK below); each playbook becomes the check "playbook:NAME";
  * a pytest file: drop it in tests/lab/guest/pytest/test_*.py; each file
    becomes the check "pytest:NAME" (run with the venv's pytest).

This file runs in the guest only: it starts nested domains with PCI hostdevs
of the guest's (emulated) devices.  Never run it on a real host.
"""

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET

CHECKOUT = os.environ.get("LAB_CHECKOUT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
VENV = os.environ.get("LAB_VENV") or sys.prefix
GUEST_DIR = os.path.join(CHECKOUT, "tests", "lab", "guest")
RESULTS = os.environ.get("LAB_RESULTS", "/lab/results")
SYS_PCI = "/sys/bus/pci/devices"

# PCI ids of the emulated devices (see TOPOLOGY in tests/lab/run).
E1000 = ("0x8086", "0x100e")
E1000E = ("0x8086", "0x10d3")
PCIE_PCI_BRIDGE = ("0x1b36", "0x000e")

CHECKS = []
STATE = {}


class CheckFailed(Exception):
    def __init__(self, message, **details):
        super().__init__(message)
        self.details = details


def check(name):
    def register(func):
        CHECKS.append((name, func))
        return func
    return register


def need(cond, message, **details):
    if not cond:
        raise CheckFailed(message, **details)


def log(msg):
    up = open("/proc/uptime").read().split()[0]
    print(f"LAB: {up} checks: {msg}", flush=True)


# ---------------------------------------------------------------- helpers

def read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def driver_of(addr):
    link = os.path.join(SYS_PCI, addr, "driver")
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else None


def pci_inventory():
    """Every PCI device the kernel sees, with ids, driver, group and parent."""
    devices = {}
    for addr in sorted(os.listdir(SYS_PCI)):
        base = os.path.join(SYS_PCI, addr)
        group = os.path.join(base, "iommu_group")
        parent = os.path.basename(os.path.dirname(os.path.realpath(base)))
        devices[addr] = {
            "vendor": read(os.path.join(base, "vendor")),
            "device": read(os.path.join(base, "device")),
            "class": read(os.path.join(base, "class")),
            "driver": driver_of(addr),
            "iommu_group": int(os.path.basename(os.readlink(group)))
            if os.path.islink(group) else None,
            "parent": parent if parent.startswith("0000:") else None,
        }
    return devices


def kernel_groups():
    groups = {}
    for gdir in glob.glob("/sys/kernel/iommu_groups/*"):
        members = sorted(os.listdir(os.path.join(gdir, "devices")))
        groups[int(os.path.basename(gdir))] = members
    return dict(sorted(groups.items()))


def ids(dev):
    return (dev["vendor"], dev["device"])


def libvirt_conn():
    import libvirt
    if "conn" not in STATE:
        # Errors are raised as exceptions; do not also print them to stderr.
        libvirt.registerErrorHandler(lambda ctx, err: None, None)
        STATE["conn"] = libvirt.open("qemu:///system")
    return STATE["conn"]


def wait_drivers(addrs, want, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        drivers = {a: driver_of(a) for a in addrs}
        if all(d == want for d in drivers.values()) or time.monotonic() > deadline:
            return drivers
        time.sleep(0.2)


def domain_xml(name, addrs):
    hostdevs = "".join(
        "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
        "<address domain='0x{}' bus='0x{}' slot='0x{}' function='0x{}'/>"
        "</source></hostdev>".format(*a.replace(".", ":").split(":"))
        for a in addrs)
    # No disk and no kernel: the nested TCG guest just sits in SeaBIOS.
    return (
        f"<domain type='qemu'><name>{name}</name>"
        "<memory unit='MiB'>128</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>"
        "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>"
        "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
        f"{hostdevs}<memballoon model='none'/></devices></domain>")


def cleanup_domain(name):
    import libvirt
    conn = libvirt_conn()
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError:
        return
    try:
        if dom.isActive():
            dom.destroy()
    finally:
        dom.undefine()


# ---------------------------------------------------------------- checks

@check("kernel_iommu")
def kernel_iommu():
    cmdline = read("/proc/cmdline")
    groups = kernel_groups()
    interrupts = read("/proc/interrupts", "")
    ir_chips = sorted({w for w in interrupts.split() if w.startswith("IR-")})
    STATE["kernel_groups"] = groups
    STATE["pci"] = pci_inventory()
    details = {
        "cmdline": cmdline,
        "groups": {str(k): v for k, v in groups.items()},
        "interrupt_remapping": bool(ir_chips),
        "ir_chips": ir_chips,
        "dmar": sorted(os.listdir("/sys/class/iommu")) if os.path.isdir("/sys/class/iommu") else [],
        "pci": STATE["pci"],
    }
    need("intel_iommu=on" in (cmdline or ""), "intel_iommu=on missing from cmdline", **details)
    need(groups, "no IOMMU groups", **details)
    need(ir_chips, "no IR- interrupt chips in /proc/interrupts", **details)
    ungrouped = [a for a, d in STATE["pci"].items() if d["iommu_group"] is None]
    need(not ungrouped, "PCI devices without a group", ungrouped=ungrouped, **details)
    return details


@check("topology")
def topology():
    """Find the devices of the lab topology by ids and parent bridge."""
    pci = STATE["pci"]
    groups = STATE["kernel_groups"]
    bridges = [a for a, d in pci.items() if ids(d) == PCIE_PCI_BRIDGE]
    need(len(bridges) == 1, "expected one pcie-pci-bridge", bridges=bridges)
    bridge = bridges[0]
    bridged = sorted(a for a, d in pci.items() if ids(d) == E1000 and d["parent"] == bridge)
    need(len(bridged) == 2, "expected two e1000 behind the bridge", bridged=bridged)
    e1000e = sorted(a for a, d in pci.items() if ids(d) == E1000E)
    slots = {}
    for a in e1000e:
        slots.setdefault(a.rsplit(".", 1)[0], []).append(a)
    alone = [m[0] for m in slots.values() if len(m) == 1]
    multi = [m for m in slots.values() if len(m) > 1]
    need(len(alone) == 1, "expected one single-function e1000e", e1000e=e1000e)
    need(len(multi) == 1, "expected one multi-function e1000e", e1000e=e1000e)
    found = {
        "bridge": bridge,
        "bridged_e1000": bridged,
        "bridged_group": pci[bridge]["iommu_group"],
        "e1000e_alone": alone[0],
        "e1000e_alone_group": pci[alone[0]]["iommu_group"],
        "multifunction": multi[0],
        "multifunction_group": pci[multi[0][0]]["iommu_group"],
    }
    STATE["topology"] = found
    bg = groups.get(found["bridged_group"], [])
    need(sorted(bg) == sorted([bridge] + bridged),
         "bridge and both e1000 should form one group", group=bg, **found)
    need(groups.get(found["e1000e_alone_group"]) == [alone[0]],
         "the e1000e should be alone in its group", **found)
    need(groups.get(found["multifunction_group"]) == sorted(multi[0]),
         "the functions of the multi-function device (no ACS) should share one group",
         **found)
    return found


@check("libvirt_iommu_groups")
def libvirt_iommu_groups():
    import libvirt
    conn = libvirt_conn()
    devs = conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV)
    seen = {}
    for dev in devs:
        xml_text = dev.XMLDesc(0)
        root = ET.fromstring(xml_text)
        cap = root.find("capability[@type='pci']")
        if cap is None:
            continue
        addr = "{:04x}:{:02x}:{:02x}.{:x}".format(
            *(int(cap.findtext(k), 0) for k in ("domain", "bus", "slot", "function")))
        grp = cap.find("iommuGroup")
        members = []
        if grp is not None:
            for a in grp.findall("address"):
                members.append("{:04x}:{:02x}:{:02x}.{:x}".format(
                    *(int(a.get(k), 0) for k in ("domain", "bus", "slot", "function"))))
        seen[addr] = {
            "name": dev.name(),
            "group": int(grp.get("number")) if grp is not None else None,
            "members": sorted(members),
            "driver": root.findtext("driver/name"),
            "xml": xml_text,
        }
    libvirt_groups = {}
    for addr, info in seen.items():
        if info["group"] is not None:
            libvirt_groups.setdefault(info["group"], info["members"])
    kgroups = STATE["kernel_groups"]
    mismatches = []
    for addr in sorted(set(seen) | set(STATE["pci"])):
        kg = STATE["pci"].get(addr, {}).get("iommu_group")
        lv = seen.get(addr)
        if lv is None:
            mismatches.append({"address": addr, "problem": "not listed by libvirt"})
        elif addr not in STATE["pci"]:
            mismatches.append({"address": addr, "problem": "not seen by the kernel"})
        elif lv["group"] != kg or lv["members"] != kgroups.get(kg):
            mismatches.append({"address": addr, "kernel": [kg, kgroups.get(kg)],
                               "libvirt": [lv["group"], lv["members"]]})
    details = {
        "libvirt_version": conn.getLibVersion(),
        "devices": seen,
        "groups": {str(k): v for k, v in sorted(libvirt_groups.items())},
        "mismatches": mismatches,
    }
    need(not mismatches, "libvirt's groups differ from the kernel's", **details)
    return details


@check("vfio_partial_group_not_viable")
def vfio_partial_group_not_viable():
    import libvirt
    topo = STATE["topology"]
    one = topo["bridged_e1000"][:1]
    name = "lab-vfio-partial"
    conn = libvirt_conn()
    cleanup_domain(name)
    before = {a: driver_of(a) for a in topo["bridged_e1000"]}
    dom = conn.defineXML(domain_xml(name, one))
    error = None
    try:
        t = time.monotonic()
        try:
            dom.create()
        except libvirt.libvirtError as e:
            error = {"code": e.get_error_code(), "message": str(e)}
        start_seconds = round(time.monotonic() - t, 2)
        active = bool(dom.isActive())
    finally:
        cleanup_domain(name)
    after = wait_drivers(topo["bridged_e1000"], "e1000")
    details = {"assigned": one, "error": error, "start_seconds": start_seconds,
               "started": active, "drivers_before": before, "drivers_after": after}
    need(error is not None and not active, "domain with half a group started", **details)
    need("not viable" in error["message"], "start failed, but not with 'not viable'", **details)
    need(all(d == "e1000" for d in after.values()),
         "devices not back on e1000 after the failed start", **details)
    return details


@check("vfio_full_group_assign")
def vfio_full_group_assign():
    topo = STATE["topology"]
    both = topo["bridged_e1000"]
    name = "lab-vfio-full"
    conn = libvirt_conn()
    cleanup_domain(name)
    before = {a: driver_of(a) for a in both}
    dom = conn.defineXML(domain_xml(name, both))
    try:
        t = time.monotonic()
        dom.create()
        start_seconds = round(time.monotonic() - t, 2)
        during = {a: driver_of(a) for a in both}
        running = bool(dom.isActive())
        vfio_dev = os.path.exists(f"/dev/vfio/{topo['bridged_group']}")
        t = time.monotonic()
        dom.destroy()
        destroy_seconds = round(time.monotonic() - t, 2)
    finally:
        cleanup_domain(name)
    after = wait_drivers(both, "e1000")
    try:
        conn.lookupByName(name)
        undefined = False
    except Exception:
        undefined = True
    details = {"assigned": both, "start_seconds": start_seconds, "running": running,
               "destroy_seconds": destroy_seconds, "vfio_group_node": vfio_dev,
               "drivers_before": before, "drivers_during": during,
               "drivers_after": after, "undefined": undefined}
    need(running, "domain with the whole group did not run", **details)
    need(all(d == "vfio-pci" for d in during.values()), "not bound to vfio-pci while running",
         **details)
    need(all(d == "e1000" for d in after.values()), "not back on e1000 after destroy",
         **details)
    need(undefined, "domain still defined", **details)
    return details


# ---------------------------------------------------------------- hooks

# About 200 s for the role playbook on an idle 2-core machine: room for one three times slower.
def run_logged(name, argv, env=None, timeout=1200):
    logfile = os.path.join(RESULTS, name.replace(":", "-").replace("/", "_") + ".log")
    t = time.monotonic()
    with open(logfile, "w") as out:
        proc = subprocess.run(argv, check=False, stdout=out, stderr=subprocess.STDOUT, env=env,
                              cwd=CHECKOUT, timeout=timeout)
    with open(logfile) as f:
        tail = f.read().splitlines()[-40:]
    return {"argv": argv, "rc": proc.returncode, "log": logfile,
            "seconds": round(time.monotonic() - t, 1), "tail": tail}


def extra_checks():
    """Checks found on disk: Ansible playbooks and pytest files."""
    extra = []

    # ---- ANSIBLE HOOK -------------------------------------------------
    # When the collection's Ansible content exists in the checkout, every
    # tests/lab/guest/playbooks/*.yml runs as one check "playbook:NAME" with
    #   ANSIBLE_COLLECTIONS_PATH=<checkout>/.build/collections \
    #   <venv>/bin/ansible-playbook -i localhost, -c local PLAYBOOK
    # (prepare .build/collections on the host before booting the lab).  An
    # Ansible module call costs about 13 s in the TCG guest: prefer few
    # playbooks with few tasks.
    content = os.path.join(CHECKOUT, "plugins", "modules", "hostdev_facts.py")
    playbooks = sorted(glob.glob(os.path.join(GUEST_DIR, "playbooks", "*.yml")))
    if os.path.exists(content):
        for pb in playbooks:
            def run_playbook(pb=pb):
                colls = os.path.join(CHECKOUT, ".build", "collections")
                need(os.path.isdir(colls), f"{colls} missing: build the collection first")
                env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=colls,
                           # the venv has libvirt-python; discovery would pick /usr/bin/python3
                           ANSIBLE_PYTHON_INTERPRETER=os.path.join(VENV, "bin", "python"),
                           ANSIBLE_LOCAL_TEMP="/tmp/ansible-local",
                           ANSIBLE_REMOTE_TEMP="/tmp/ansible-remote",
                           ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
                res = run_logged("playbook:" + os.path.basename(pb), [
                    os.path.join(VENV, "bin", "ansible-playbook"),
                    "-i", "localhost,", "-c", "local", pb], env=env)
                need(res["rc"] == 0, "playbook failed", **res)
                return res
            extra.append(("playbook:" + os.path.splitext(os.path.basename(pb))[0],
                          run_playbook))
    # ---- PYTEST HOOK --------------------------------------------------
    # Every tests/lab/guest/pytest/test_*.py runs as one check "pytest:NAME"
    # with the venv's pytest (the libvirtd above is running; the lab
    # topology found by the checks is in $LAB_TOPOLOGY as JSON).
    for tf in sorted(glob.glob(os.path.join(GUEST_DIR, "pytest", "test_*.py"))):
        def run_pytest(tf=tf):
            env = dict(os.environ, LAB_TOPOLOGY=json.dumps(STATE.get("topology", {})))
            res = run_logged("pytest:" + os.path.basename(tf), [
                os.path.join(VENV, "bin", "python"), "-m", "pytest", "-q",
                "-p", "no:cacheprovider", tf], env=env)
            need(res["rc"] == 0, "pytest failed", **res)
            return res
        extra.append(("pytest:" + os.path.splitext(os.path.basename(tf))[0], run_pytest))
    return extra


# ---------------------------------------------------------------- main

def meta():
    m = {
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "checkout": CHECKOUT,
        "venv": VENV,
        "udev": read("/run/lab/udev"),
        "uptime_at_start": float(read("/proc/uptime").split()[0]),
    }
    try:
        import libvirt
        m["libvirt_python"] = libvirt.getVersion()
    except Exception as e:  # reported by the checks themselves
        m["libvirt_python_error"] = repr(e)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(RESULTS, "report.json"))
    ap.add_argument("--only", action="append", help="run only these checks")
    args = ap.parse_args()
    # Safety: the VFIO checks detach PCI devices; only ever in the lab guest.
    if "virt_hostdev_lab=1" not in (read("/proc/cmdline") or "").split():
        sys.exit("checks.py runs only inside the lab guest (tests/lab/run)")

    report = {"complete": False, "meta": meta(), "checks": []}

    def save():
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2, sort_keys=True)
        os.replace(tmp, args.out)

    save()
    for name, func in CHECKS + extra_checks():
        if args.only and name not in args.only:
            continue
        log(f"{name} ...")
        t = time.monotonic()
        try:
            details, ok = func() or {}, True
        except CheckFailed as e:
            details, ok = dict(e.details, error=str(e)), False
        except Exception as e:
            details, ok = {"error": repr(e), "traceback": traceback.format_exc()}, False
        secs = round(time.monotonic() - t, 2)
        report["checks"].append({"name": name, "ok": ok, "details": details, "seconds": secs})
        log(f"{name}: {'ok' if ok else 'FAILED'} ({secs}s)"
            + ("" if ok else f": {details.get('error')}"))
        save()
    report["complete"] = True
    report["meta"]["uptime_at_end"] = float(read("/proc/uptime").split()[0])
    save()
    return 0 if all(c["ok"] for c in report["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
