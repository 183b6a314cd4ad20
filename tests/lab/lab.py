# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt.hostdev lab: boot a q35 guest with a virtual IOMMU under QEMU TCG and
run tests/lab/guest/checks.py inside it (real IOMMU groups, real VFIO).

    tests/lab/run [--venv DIR] [--out DIR] [--timeout S] [--rebuild]
    (tests/lab/run is a /bin/sh wrapper that runs this file with python3)

1. Caches (tests/lab/.cache/) the Debian kernel linux-image-6.1.0-*-amd64 and
   busybox-static (apt-get download, dpkg -x), builds the module index
   (busybox depmod) and an initramfs (busybox cpio) keyed on its inputs.
2. Boots the guest; the initramfs /init (tests/lab/guest/init) mounts the
   host's /usr, /etc, the Python install and this checkout read-only over
   virtio-9p, chroots and runs tests/lab/guest/payload.sh (libvirtd +
   checks.py).  Results come back through one writable 9p share.
3. Copies the JSON report to OUT/report.json (default <repo>/.build/lab) and
   exits 0 only when the report is complete and every check passed.

Stdlib only.  Needs apt-get/dpkg (Debian) and qemu-system-x86_64.  The venv
(--venv, $LAB_VENV, default <repo>/.venv) must have libvirt-python.
"""

import argparse
import fcntl
import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(HERE, ".cache")
GUEST = os.path.join(HERE, "guest")
INIT_SCRIPT = os.path.join(GUEST, "init")
PAYLOAD = "tests/lab/guest/payload.sh"  # relative to the checkout

# Modules for the initramfs; their dependencies come from modules.dep.
MODULES = [
    "virtio_pci", "9pnet_virtio", "9p",              # the 9p shares
    "e1000", "e1000e",                               # the NICs under test
    "vfio-pci", "vfio_iommu_type1",                  # passthrough
    "xhci-pci", "usbhid", "usb-storage",             # USB devices
    "virtio_scsi", "sd_mod",                         # SCSI disk
]
INITRD_FORMAT = "2"  # bump to invalidate every cached initramfs

QEMU = "qemu-system-x86_64"
# Guest topology.  Expected IOMMU groups (checked in the guest and by
# test_lab.py): each root port, xhci, virtio-scsi, VGA and 9p device alone;
# the ICH9 functions 1f.* together; e1000e on rp1 alone; the pcie-pci-bridge
# on rp2 together with both e1000 behind it; the two functions of the
# multi-function e1000e on rp3 (no ACS between functions) together.
TOPOLOGY = [
    "-device", "intel-iommu,intremap=on,caching-mode=on",
    "-device", "pcie-root-port,id=rp1,chassis=1",
    "-device", "e1000e,bus=rp1,mac=52:54:00:00:01:01",
    "-device", "pcie-root-port,id=rp2,chassis=2",
    "-device", "pcie-pci-bridge,id=br1,bus=rp2",
    "-device", "e1000,bus=br1,addr=1,mac=52:54:00:00:02:01",
    "-device", "e1000,bus=br1,addr=2,mac=52:54:00:00:02:02",
    "-device", "pcie-root-port,id=rp3,chassis=3",
    "-device", "e1000e,bus=rp3,addr=0.0,multifunction=on,mac=52:54:00:00:03:00",
    "-device", "e1000e,bus=rp3,addr=0.1,mac=52:54:00:00:03:01",
    "-device", "qemu-xhci,id=xhci",
    "-device", "usb-kbd,bus=xhci.0",
    "-device", "usb-storage,bus=xhci.0,drive=usb0,serial=LABUSB0001",
    "-device", "virtio-scsi-pci,id=scsi0",
    "-device", "scsi-hd,drive=d0,bus=scsi0.0,serial=LABSCSI0001",
    "-device", "VGA",
]
DISKS = {"d0": ("disk-scsi.raw", 64), "usb0": ("disk-usb.raw", 16)}  # MiB, sparse

T0 = time.monotonic()


def log(msg):
    print(f"[lab {time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class LabError(Exception):
    pass


def run(argv, **kw):
    check = kw.pop("check", True)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    try:
        return subprocess.run(argv, check=check, **kw)
    except subprocess.CalledProcessError as e:
        raise LabError(f"{' '.join(argv)} failed ({e.returncode}): {e.stderr or e.stdout}")


# ------------------------------------------------------------------ fetch

def resolve_kernel_package():
    """The linux-image-6.1.0-*-amd64 that linux-image-amd64 depends on."""
    for attempt in (1, 2):
        p = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], check=False,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        m = re.search(r"Depends:\s*(linux-image-[0-9][^\s]*-amd64)", p.stdout)
        if m:
            return m.group(1)
        if attempt == 1:
            log("apt-cache cannot resolve linux-image-amd64: apt-get update")
            run(["apt-get", "update"], stdout=subprocess.DEVNULL)
    cached = sorted(glob.glob(os.path.join(CACHE, "debs", "linux-image-*-amd64_*.deb")))
    if cached:
        return os.path.basename(cached[-1]).split("_")[0]
    raise LabError("cannot resolve the kernel package (apt-cache depends linux-image-amd64)")


def fetch_deb(package):
    debs = os.path.join(CACHE, "debs")
    os.makedirs(debs, exist_ok=True)
    found = sorted(glob.glob(os.path.join(debs, f"{package}_*.deb")))
    if found:
        return found[-1]
    log(f"downloading {package}")
    for attempt in (1, 2):
        p = subprocess.run(["apt-get", "download", package], check=False, cwd=debs,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        found = sorted(glob.glob(os.path.join(debs, f"{package}_*.deb")))
        if found:
            return found[-1]
        if attempt == 1:
            log(f"apt-get download {package} failed, running apt-get update")
            run(["apt-get", "update"], stdout=subprocess.DEVNULL)
    raise LabError(f"apt-get download {package} failed: {p.stderr.strip()}")


def extract(deb, dest, after=None):
    """dpkg -x DEB into DEST once (atomic; DEST/.done marks completion)."""
    if os.path.exists(os.path.join(dest, ".done")):
        return dest
    log(f"extracting {os.path.basename(deb)}")
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    run(["dpkg", "-x", deb, tmp])
    if after:
        after(tmp)
    open(os.path.join(tmp, ".done"), "w").close()
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)
    return dest


def prepare_kernel():
    pkg = resolve_kernel_package()
    kver = pkg[len("linux-image-"):]
    kdeb = fetch_deb(pkg)
    bdeb = fetch_deb("busybox-static")
    bdir = extract(bdeb, os.path.join(CACHE, "busybox", os.path.basename(bdeb)[:-4]))
    busybox = os.path.join(bdir, "bin", "busybox")

    def depmod(tmp):
        run([busybox, "depmod", "-b", tmp, kver])
    kdir = extract(kdeb, os.path.join(CACHE, "kernel", kver), after=depmod)
    for old in glob.glob(os.path.join(CACHE, "kernel", "*")):  # superseded kernels
        if os.path.basename(old) != kver:
            shutil.rmtree(old, ignore_errors=True)
    for old in glob.glob(os.path.join(CACHE, "debs", "linux-image-*.deb")):
        if old != kdeb:
            os.unlink(old)
    vmlinuz = os.path.join(kdir, "boot", f"vmlinuz-{kver}")
    moddir = os.path.join(kdir, "lib", "modules", kver)
    if not os.path.exists(vmlinuz) or not os.path.exists(os.path.join(moddir, "modules.dep")):
        raise LabError(f"bad kernel tree {kdir}")
    return kver, vmlinuz, moddir, busybox, bdeb


# ------------------------------------------------------------------ initramfs

def norm(name):
    return name.replace("-", "_")


def resolve_modules(moddir, wanted):
    """Module files (relative to moddir) in load order, dependencies first."""
    deps, by_name = {}, {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            if ":" not in line:
                continue
            path, rest = line.split(":", 1)
            deps[path] = rest.split()
            by_name[norm(re.sub(r"\.ko(\.[a-z]+)?$", "", os.path.basename(path)))] = path
    builtin = set()
    bfile = os.path.join(moddir, "modules.builtin")
    if os.path.exists(bfile):
        with open(bfile) as f:
            builtin = {norm(re.sub(r"\.ko$", "", os.path.basename(line.strip())))
                       for line in f}
    order, seen = [], set()

    def visit(path):
        if path in seen:
            return
        seen.add(path)
        for d in deps.get(path, []):
            visit(d)
        order.append(path)

    for name in wanted:
        if norm(name) in by_name:
            visit(by_name[norm(name)])
        elif norm(name) not in builtin:
            raise LabError(f"module {name} not found in {moddir}/modules.dep")
    return order


def build_initramfs(kver, moddir, busybox, bdeb, rebuild=False):
    with open(INIT_SCRIPT, "rb") as f:
        init = f.read()
    key = hashlib.sha256("\0".join(
        [INITRD_FORMAT, kver, os.path.basename(bdeb), " ".join(MODULES)]).encode()
        + b"\0" + init).hexdigest()[:16]
    out = os.path.join(CACHE, f"initrd-{kver}-{key}.gz")
    if os.path.exists(out) and not rebuild:
        log(f"initramfs cached: {os.path.basename(out)}")
        return out
    t = time.monotonic()
    mods = resolve_modules(moddir, MODULES)
    with tempfile.TemporaryDirectory(dir=CACHE) as stage:
        os.makedirs(os.path.join(stage, "bin"))
        os.makedirs(os.path.join(stage, "modules"))
        shutil.copy2(busybox, os.path.join(stage, "bin", "busybox"))
        os.symlink("busybox", os.path.join(stage, "bin", "sh"))  # for /init's #!/bin/sh
        with open(os.path.join(stage, "init"), "wb") as f:
            f.write(init)
        os.chmod(os.path.join(stage, "init"), 0o755)
        names = []
        for m in mods:
            base = os.path.basename(m)
            shutil.copy2(os.path.join(moddir, m), os.path.join(stage, "modules", base))
            names.append(base)
        with open(os.path.join(stage, "modules.list"), "w") as f:
            f.write("\n".join(names) + "\n")
        files = []
        for root, dirs, fnames in os.walk(stage):
            rel = os.path.relpath(root, stage)
            if rel != ".":
                files.append(rel)
            files += [os.path.normpath(os.path.join(rel, n)) for n in sorted(fnames)]
        p = subprocess.run([busybox, "cpio", "-o", "-H", "newc"], check=False, cwd=stage,
                           input=("\n".join(files) + "\n").encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise LabError(f"busybox cpio failed: {p.stderr.decode()}")
        cpio = p.stdout
    tmp = out + ".tmp"
    with gzip.open(tmp, "wb", compresslevel=6) as f:
        f.write(cpio)
    os.replace(tmp, out)
    for old in glob.glob(os.path.join(CACHE, "initrd-*.gz")):
        if old != out:
            os.unlink(old)
    log(f"initramfs built: {os.path.basename(out)}, {len(mods)} modules, "
        f"{os.path.getsize(out) // 1024} KiB, {time.monotonic() - t:.1f}s")
    return out


def make_disks():
    paths = {}
    for drive, (name, mib) in DISKS.items():
        path = os.path.join(CACHE, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.truncate(mib << 20)
        paths[drive] = path
    return paths


# ------------------------------------------------------------------ shares

def python_setup(venv):
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        raise LabError(f"no Python venv at {venv} (use --venv or $LAB_VENV)")
    p = subprocess.run([py, "-c", "import sys, libvirt; print(sys.base_prefix)"], check=False,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise LabError(f"{py} cannot import libvirt: {p.stderr.strip()}")
    return p.stdout.strip()


def shares(venv, base_prefix):
    """Read-only shares (tag, path), parents before children, no duplicates."""
    paths = ["/usr", REPO, os.path.abspath(venv), os.path.realpath(venv), base_prefix,
             os.path.realpath(base_prefix)]
    keep = []
    for p in sorted(set(paths), key=len):
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in keep):
            keep.append(p)
    out = [("etc", "/etc")]
    out += [(f"s{i}", p) for i, p in enumerate(keep)]
    return out


# ------------------------------------------------------------------ boot

class Qemu:
    def __init__(self):
        self.proc = None

    def start(self, argv, logfile):
        self.log = open(logfile, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self.proc

    def kill(self):
        """Kill QEMU and its whole process group (it runs in its own session)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:  # leftovers in the group after QEMU itself exited
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()


def boot(args, kver, vmlinuz, initrd, disks, share_list, out):
    results = os.path.join(out, "results")
    shutil.rmtree(results, ignore_errors=True)
    os.makedirs(results)
    with open(os.path.join(results, "lab.env"), "w") as f:
        f.write(f"LAB_CHECKOUT='{REPO}'\nLAB_VENV='{os.path.abspath(args.venv)}'\n"
                f"LAB_PAYLOAD='{PAYLOAD}'\nLAB_TIMEOUT='{max(args.timeout - 30, 60)}'\n")
    with open(os.path.join(results, "shares"), "w") as f:
        f.write("".join(f"{t} {p}\n" for t, p in share_list))
    serial = os.path.join(out, "serial.log")
    for stale in (serial, os.path.join(out, "qemu.log")):
        if os.path.exists(stale):
            os.unlink(stale)
    argv = [
        QEMU, "-machine", "q35,kernel-irqchip=split", "-accel", "tcg",
        "-m", str(args.memory), "-smp", "2",
        "-display", "none", "-vga", "none", "-nodefaults", "-no-reboot", "-no-user-config",
        "-monitor", "none", "-serial", f"file:{serial}",
        "-kernel", vmlinuz, "-initrd", initrd,
        # no_timer_check: under TCG on a busy machine the IO-APIC timer check can fail and panic the boot.
        "-append", "console=ttyS0 intel_iommu=on panic=-1 loglevel=5 no_timer_check virt_hostdev_lab=1",
    ] + TOPOLOGY
    for drive, path in disks.items():
        argv += ["-drive", f"file={path},if=none,id={drive},format=raw,file.locking=off"]
    for tag, path in share_list:
        argv += ["-virtfs", f"local,path={path},mount_tag={tag},security_model=none,"
                            f"readonly=on,multidevs=remap"]
    argv += ["-virtfs", f"local,path={results},mount_tag=results,security_model=none,"
                        f"multidevs=remap"]
    with open(os.path.join(out, "qemu.cmdline"), "w") as f:
        f.write(" ".join(argv) + "\n")

    qemu = Qemu()
    t_boot = time.monotonic()
    timed_out = False
    try:
        proc = qemu.start(argv, os.path.join(out, "qemu.log"))
        log(f"booting {kver} (TCG, pid {proc.pid}), serial log {serial}")
        pos = 0
        deadline = t_boot + args.timeout
        while True:
            rc = proc.poll()
            pos = echo_progress(serial, pos, t_boot)
            if rc is not None:
                break
            if time.monotonic() > deadline:
                log(f"TIMEOUT after {args.timeout}s: killing QEMU")
                timed_out = True
                break
            time.sleep(0.5)
    finally:
        qemu.kill()
    echo_progress(serial, pos, t_boot)
    how = "killed" if timed_out else f"exited ({proc.returncode})"
    log(f"QEMU {how} after {time.monotonic() - t_boot:.1f}s")
    return serial


def echo_progress(serial, pos, t_boot):
    """Print the guest's 'LAB:' progress lines as they appear on the console."""
    try:
        with open(serial, "rb") as f:
            if os.fstat(f.fileno()).st_size < pos:
                pos = 0  # truncated: a new file
            f.seek(pos)
            data = f.read()
    except FileNotFoundError:
        return pos
    end = data.rfind(b"\n") + 1
    for line in data[:end].decode(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("LAB: "):
            parts = line.split(" ", 2)
            up, rest = (parts[1], parts[2]) if len(parts) == 3 else ("?", line)
            log(f"  guest {up:>7}s  {rest}")
    return pos + end


# ------------------------------------------------------------------ report

def summarize(report_path):
    try:
        with open(report_path) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        log(f"no report: {e}")
        return False
    ok = report.get("complete", False)
    for c in report.get("checks", []):
        mark = "ok  " if c["ok"] else "FAIL"
        extra = "" if c["ok"] else f"  {c['details'].get('error')}"
        log(f"  {mark} {c['name']} ({c.get('seconds')}s){extra}")
        ok = ok and c["ok"]
    if not report.get("checks"):
        ok = False
    if not report.get("complete"):
        log("report incomplete (the payload stopped early)")
    return ok


def tail(path, n=60):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    print(f"----- last {n} lines of {path} -----")
    print("\n".join(lines[-n:]))
    print("-----")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--venv", default=os.environ.get("LAB_VENV") or os.path.join(REPO, ".venv"))
    ap.add_argument("--out", default=os.environ.get("LAB_OUT") or os.path.join(REPO, ".build", "lab"))
    # About 300 s on an idle 2-core machine: the limit leaves room for one three or four times slower.
    ap.add_argument("--timeout", type=int, default=int(os.environ.get("LAB_TIMEOUT", "1500")),
                    help="hard limit for the guest run in seconds (default 1500)")
    ap.add_argument("--memory", type=int, default=2048, help="guest RAM in MiB")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the initramfs")
    ap.add_argument("--prepare-only", action="store_true",
                    help="fetch and build, do not boot")
    args = ap.parse_args()

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    os.makedirs(CACHE, exist_ok=True)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    lock = open(os.path.join(out, ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"another lab run holds {out}/.lock; waiting")
        fcntl.flock(lock, fcntl.LOCK_EX)
    report = os.path.join(out, "report.json")
    if os.path.exists(report):
        os.unlink(report)
    serial = os.path.join(out, "serial.log")
    try:
        kver, vmlinuz, moddir, busybox, bdeb = prepare_kernel()
        initrd = build_initramfs(kver, moddir, busybox, bdeb, args.rebuild)
        disks = make_disks()
        base_prefix = python_setup(args.venv)
        share_list = shares(args.venv, base_prefix)
        log(f"prepared: kernel {kver}, venv {args.venv}, shares "
            + ", ".join(path for _tag, path in share_list))
        if args.prepare_only:
            return 0
        serial = boot(args, kver, vmlinuz, initrd, disks, share_list, out)
    except LabError as e:
        log(f"ERROR: {e}")
        return 2
    except KeyboardInterrupt as e:
        log(f"interrupted ({str(e) or 'Ctrl-C'}): QEMU killed")
        return 130

    guest_report = os.path.join(out, "results", "report.json")
    if os.path.exists(guest_report):
        shutil.copy2(guest_report, report)
    ok = summarize(report)
    log(f"report: {report}" if os.path.exists(report) else "report: missing")
    log(f"serial log: {serial}")
    if not ok:
        tail(serial)
        log("LAB FAILED")
        return 1
    log(f"LAB OK in {time.monotonic() - T0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
