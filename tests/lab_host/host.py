# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt.hostdev real-host lab: a Debian 12 system on its own disk, booting through GRUB
under QEMU 10 (TCG, q35, a virtual Intel IOMMU, an SR-IOV igb), reached over SSH as a fleet
member is.

    python3 tests/lab_host/host.py build [--rebuild]   build (or find) the cached image and
                                                       QEMU root
    python3 tests/lab_host/host.py passthrough [--out DIR]
                                                       issue 9's scenario (playbooks/, see
                                                       SCENARIOS), power off
    python3 tests/lab_host/host.py up [--out DIR]      boot, print the inventory, wait for
                                                       Ctrl-C, power off (for development)

Image (cached outside the checkout, in $VIRT_HOSTDEV_CACHE, else
$XDG_CACHE_HOME/virt-hostdev, else ~/.cache/virt-hostdev; under lab-host/<key>/): mmdebstrap
of RELEASE with PACKAGES (image/build.sh), a 3 GiB disk with one MBR partition, a first
boot with -kernel/-initrd that installs GRUB on the disk and powers off, then a compressed
qcow2 (base.qcow2). The key hashes the release, the package list, the disk size and every
file under image/; the image is rebuilt only when one of them changes. Runs never write
to it: each run boots a qcow2 overlay in its own directory.

QEMU 10 (cached the same way, in lab-host-qemu/<key>/): mmdebstrap --variant=apt of RELEASE
with bookworm-backports' qemu-system-x86, run by unshare + chroot in a mount namespace of its
own (QEMU_ROOT_SCRIPT); the machine's QEMU makes the image's first boot only.

Run (OUT, default <repo>/.build/lab_host): a fresh SSH client key and host key per run
(passed through QEMU fw_cfg, installed at every boot by virt-hostdev-provision.service),
sshd forwarded to 127.0.0.1:<free port> (QEMU user networking), a known_hosts file with the
run's host key and StrictHostKeyChecking=yes, an Ansible inventory (run/inventory.yml) with
ansible_python_interpreter=/usr/bin/python3 (Debian's, with python3-libvirt).
Outputs: report.json, serial.log (the guest console, every boot), qemu.log,
run/results/*.json (what the plays recorded), run/play-*.log.

Stdlib only. Needs root (mmdebstrap, mke2fs -d), qemu-system-x86_64, qemu-img, ssh,
ssh-keygen, and ansible-playbook (the venv next to this interpreter, or <repo>/.venv).
Exit codes: 0 ok, 1 a check failed, 2 setup error, 130 interrupted.
"""

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from xml.etree import ElementTree

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
IMAGE_DIR = os.path.join(HERE, "image")
BUILD_SH = os.path.join(IMAGE_DIR, "build.sh")
PLAYBOOKS = os.path.join(HERE, "playbooks")

RELEASE = "bookworm"
# The lab host's packages (beyond mmdebstrap's minbase). Changing this list rebuilds the image.
PACKAGES = [
    "linux-image-amd64", "grub-pc", "initramfs-tools", "kmod", "udev", "systemd-sysv",
    "e2fsprogs", "iproute2", "procps", "pciutils",
    "openssh-server", "python3", "python3-libvirt",
    "libvirt-daemon-system", "libvirt-daemon-driver-qemu", "libvirt-clients",
    "qemu-system-x86",  # for a nested domain
    "mdevctl",  # libvirt defines, starts and autostarts mdevs through it
]
DISK_MIB = 3072
IMAGE_FORMAT = "1"  # bump to invalidate every cached image
FIRSTBOOT_APPEND = ("root=/dev/vda1 ro console=ttyS0,115200n8 no_timer_check intel_iommu=off "
                    "virt_hostdev_firstboot=1")

QEMU = "qemu-system-x86_64"  # the machine's own (QEMU 7.2): the image's first boot
# The lab host runs on QEMU 10 (bookworm-backports) for its igb, an SR-IOV NIC QEMU 7.2 lacks:
# installed in a cached chroot (the machine's QEMU and libvirt stay as they are), see
# ensure_qemu_root. Changing any of these rebuilds that chroot, not the image.
QEMU_ROOT_FORMAT = "1"  # bump to invalidate every cached QEMU root
QEMU_ROOT_SUITE = f"{RELEASE}-backports"
QEMU_ROOT_PACKAGES = ["qemu-system-x86"]
QEMU_ROOT_BINARY = "/usr/bin/qemu-system-x86_64"
MEMORY_MIB = 2048
SMP = 2
# The two identical NICs behind their own root ports (one to reserve, one the host keeps).
TWIN_NIC = {"model": "e1000e", "vendor": "0x8086", "device": "0x10d3"}
TWIN_MACS = ["52:54:00:a0:00:01", "52:54:00:a0:00:02"]
# The SR-IOV NIC behind a third root port, after the twins so that their addresses stay
# 01:00.0 and 02:00.0: QEMU 10's igb (Intel 82576, 7 VFs, Linux igb/igbvf) at 03:00.0.
SRIOV_NIC = {"model": "igb", "vendor": "0x8086", "device": "0x10c9"}
SRIOV_MAC = "52:54:00:a0:00:03"
UPLINK_MAC = "52:54:00:12:34:56"
FW_CFG_PREFIX = "opt/virt-hostdev/"

# Time bounds: generous, so that a machine 3x slower than a 2-core CI runner passes.
BOOT_TIMEOUT = int(os.environ.get("LAB_HOST_BOOT_TIMEOUT", "600"))
FIRSTBOOT_TIMEOUT = int(os.environ.get("LAB_HOST_FIRSTBOOT_TIMEOUT", "900"))
PLAY_TIMEOUT = int(os.environ.get("LAB_HOST_PLAY_TIMEOUT", "1800"))
REBOOT_TIMEOUT = int(os.environ.get("LAB_HOST_REBOOT_TIMEOUT", "900"))
SHUTDOWN_TIMEOUT = int(os.environ.get("LAB_HOST_SHUTDOWN_TIMEOUT", "180"))

T0 = time.monotonic()


def log(msg):
    print(f"[lab_host {time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class LabError(Exception):
    pass


def cache_root():
    if os.environ.get("VIRT_HOSTDEV_CACHE"):
        return os.path.abspath(os.environ["VIRT_HOSTDEV_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "virt-hostdev")


def tail(path, n=60):
    try:
        with open(path, errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def run_quiet(argv, logfile, timeout=None, **kw):
    """Run argv with its output in logfile; LabError with the log's tail on failure."""
    with open(logfile, "ab") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, **kw)
        try:
            rc = proc.wait(timeout)
        except BaseException:  # timeout, Ctrl-C: take the whole process group down
            kill_group(proc)
            raise
    if rc != 0:
        raise LabError(f"{' '.join(argv[:3])} ... failed ({rc}); last lines of {logfile}:\n{tail(logfile, 40)}")


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when this harness dies, even by SIGKILL (Linux)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def spawn(argv, **kw):
    """Popen in its own session (its group is killed as one), tied to this process's life."""
    return subprocess.Popen(argv, start_new_session=True, preexec_fn=_die_with_parent, **kw)


def kill_group(proc, grace=5):
    """SIGTERM, then SIGKILL, the process group of proc (started with start_new_session)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers in the group


# ------------------------------------------------------------------ image

def image_key():
    """Hash of everything the image is made from."""
    digest = hashlib.sha256()
    for part in (IMAGE_FORMAT, RELEASE, ",".join(sorted(PACKAGES)), str(DISK_MIB), FIRSTBOOT_APPEND):
        digest.update(part.encode() + b"\0")
    for root, dirs, files in os.walk(IMAGE_DIR):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, IMAGE_DIR).encode() + b"\0")
            digest.update(b"x" if os.access(path, os.X_OK) else b"-")
            with open(path, "rb") as handle:
                digest.update(handle.read() + b"\0")
    return f"{RELEASE}-{digest.hexdigest()[:16]}"


class CacheEntry:
    """A built cache entry (CACHE/<store>/<key>/ with meta.json), held by the runs using it."""

    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "meta.json")) as handle:
            self.meta = json.load(handle)
        self._use = None

    def hold(self):
        """A shared lock for as long as a run uses it (pruning skips held entries).
        False when the entry was pruned in the meantime."""
        if self._use is None:
            self._use = open(os.path.join(self.path, ".use.lock"), "a")
            fcntl.flock(self._use, fcntl.LOCK_SH)
        return os.path.exists(os.path.join(self.path, "meta.json"))

    def release(self):
        if self._use:
            self._use.close()
            self._use = None


class Image(CacheEntry):
    """The lab host's disk: base.qcow2 and meta.json in CACHE/lab-host/<key>/."""

    def __init__(self, path):
        super().__init__(path)
        self.base = os.path.join(path, "base.qcow2")


def build_workdir(store, key):
    """Where the rootfs and the raw disk are made: tmpfs when it has room (much faster
    than a disk that syncs), else the cache's own disk. $VIRT_HOSTDEV_BUILD_TMP wins."""
    base = os.environ.get("VIRT_HOSTDEV_BUILD_TMP")
    if not base:
        base = store
        with contextlib.suppress(OSError):
            st = os.statvfs("/dev/shm")
            if st.f_bavail * st.f_frsize >= 5 << 30 and os.access("/dev/shm", os.W_OK):
                base = "/dev/shm"
    return os.path.join(base, f"virt-hostdev-build-{key}")


def ensure_cached(store_name, key, build, entry_class, rebuild=False, report=None, phase="image"):
    """The cached entry CACHE/<store_name>/<key>, built (build(store, key, entry)) when missing
    or with rebuild; one build at a time (an exclusive lock), every user holds a shared lock on
    its entry until it ends, and a build prunes the entries of older keys no run holds."""
    store = os.path.join(cache_root(), store_name)
    os.makedirs(store, exist_ok=True)
    entry = os.path.join(store, key)
    t = time.monotonic()
    with open(os.path.join(store, ".build.lock"), "a") as lock:
        if not os.path.exists(os.path.join(entry, "meta.json")) or rebuild:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; others wait and reuse it
        if os.path.exists(os.path.join(entry, "meta.json")) and not rebuild:
            cached = entry_class(entry)
            if cached.hold():  # held from now on, so that no other build prunes it
                log(f"{phase} cached: {entry}")
                if report:
                    report.meta[phase] = dict(cached.meta, cached=True, path=entry)
                    report.phase(phase, time.monotonic() - t)
                return cached
            cached.release()
            fcntl.flock(lock, fcntl.LOCK_EX)
        if os.geteuid() != 0:
            raise LabError(f"building the lab host's {phase} needs root (mmdebstrap --mode=root)")
        build(store, key, entry)
        built = entry_class(entry)
        built.hold()
        prune(store, keep=key)
    if report:
        report.meta[phase] = dict(built.meta, cached=False, path=entry)
        report.phase(phase, time.monotonic() - t)
    return built


def ensure_image(rebuild=False, report=None):
    """The cached image for the current inputs, built when missing (or with rebuild)."""
    return ensure_cached("lab-host", image_key(), build_image, Image, rebuild, report, "image")


# ------------------------------------------------------------------ QEMU 10 root

def apt_mirror(suite=RELEASE, env="VIRT_HOSTDEV_MIRROR", default="http://deb.debian.org/debian"):
    """$VIRT_HOSTDEV_MIRROR, else the Debian archive this machine's apt uses for suite (the
    URIs of the deb822 entry listing it, or a sources.list line), else deb.debian.org."""
    if os.environ.get(env):
        return os.environ[env]
    with contextlib.suppress(OSError):
        with open("/etc/apt/sources.list.d/debian.sources") as handle:
            for stanza in handle.read().split("\n\n"):
                fields = dict(line.split(":", 1) for line in stanza.splitlines()
                              if ":" in line and not line.startswith("#"))
                if suite in fields.get("Suites", "").split() and fields.get("URIs", "").split():
                    return fields["URIs"].split()[0]
    with contextlib.suppress(OSError):
        with open("/etc/apt/sources.list") as handle:
            for line in handle:
                words = line.split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                    return words[1]
    return default


def security_mirror():
    """$VIRT_HOSTDEV_SECURITY_MIRROR, else the one this machine's apt uses, else deb.debian.org."""
    return apt_mirror(f"{RELEASE}-security", "VIRT_HOSTDEV_SECURITY_MIRROR", "http://deb.debian.org/debian-security")


def qemu_root_argv(rootfs, mirror):
    """mmdebstrap of RELEASE (--variant=apt) with QEMU_ROOT_PACKAGES from QEMU_ROOT_SUITE."""
    # "$1" in the hook is the root mmdebstrap made, expanded by the shell it runs the hook in
    install = (f'chroot "$1" apt-get install -y -q -t {QEMU_ROOT_SUITE} --no-install-recommends '
               + " ".join(QEMU_ROOT_PACKAGES))
    return ["mmdebstrap", "--mode=root", "--variant=apt", "--format=directory",
            "--hook-directory=/usr/share/mmdebstrap/hooks/eatmydata", "--dpkgopt=force-unsafe-io",
            "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            f"--customize-hook={install}", RELEASE, rootfs,
            f"deb {mirror} {RELEASE} main", f"deb {mirror} {QEMU_ROOT_SUITE} main"]


def qemu_root_key():
    """Hash of what the QEMU root is made from (the mirror is not part of it, as for the image)."""
    digest = hashlib.sha256()
    for part in [QEMU_ROOT_FORMAT] + qemu_root_argv("ROOT", "MIRROR"):
        digest.update(part.encode() + b"\0")
    return f"{RELEASE}-qemu-{digest.hexdigest()[:16]}"


# Runs QEMU from the cached root without touching it: in a mount namespace of its own (gone
# when QEMU exits), a tmpfs becomes the new root with the cached usr/ and etc/ bound read-only,
# /dev, /proc and /sys, and each path QEMU's arguments name bound at the same place.
#   sh -c SCRIPT sh CACHED_ROOT NEW_ROOT PATH... -- ARGV...
QEMU_ROOT_SCRIPT = r"""set -eu
root=$1 new=$2
shift 2
mount -t tmpfs -o mode=0755 virt-hostdev-qemu "$new"
for dir in usr etc; do
    mkdir "$new/$dir"
    mount --bind "$root/$dir" "$new/$dir"
    mount -o remount,bind,ro "$new/$dir"
done
for link in "$root"/*; do
    if [ -L "$link" ]; then ln -s "$(readlink "$link")" "$new/${link##*/}"; fi
done
mkdir "$new/dev" "$new/proc" "$new/sys" "$new/tmp" "$new/run"
mount --rbind /dev "$new/dev"
mount -t proc proc "$new/proc"
mount --rbind /sys "$new/sys"
while [ "$1" != -- ]; do
    mkdir -p "$new$1"
    mount --bind "$1" "$new$1"
    shift
done
shift
exec chroot "$new" "$@"
"""


class QemuRoot(CacheEntry):
    """The cached chroot with QEMU 10: CACHE/lab-host-qemu/<key>/{rootfs,meta.json}."""

    def __init__(self, path):
        super().__init__(path)
        self.rootfs = os.path.join(path, "rootfs")

    def command(self, argv, mount_point, paths):
        """argv (QEMU_ROOT_BINARY and its arguments) run from this root; paths (directories)
        are bound at the same place, mount_point is an empty directory for the new root."""
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", QEMU_ROOT_SCRIPT, "sh",
                self.rootfs, mount_point, *paths, "--", *argv]


def build_qemu_root(store, key, entry):
    for tool in ("mmdebstrap", "unshare", "chroot", "mount"):
        if not shutil.which(tool):
            raise LabError(f"{tool} not found (bindep.txt lists the lab host's build packages)")
    tmp_entry = entry + ".tmp"
    shutil.rmtree(tmp_entry, ignore_errors=True)
    os.makedirs(tmp_entry)
    build_log = os.path.join(tmp_entry, "build.log")
    rootfs = os.path.join(tmp_entry, "rootfs")
    mirror = apt_mirror()
    t = time.monotonic()
    log(f"building the QEMU root {key} from {mirror} (log {build_log})")
    try:
        run_quiet(qemu_root_argv(rootfs, mirror), build_log, timeout=1800)
        version = subprocess.run(["chroot", rootfs, QEMU_ROOT_BINARY, "--version"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 timeout=60, check=True).stdout.splitlines()[0]
    except (LabError, subprocess.SubprocessError) as error:
        log(f"QEMU root build failed; its log stays in {build_log}")
        raise LabError(f"building the QEMU root failed: {error}") from None
    meta = {"key": key, "release": RELEASE, "suite": QEMU_ROOT_SUITE, "packages": QEMU_ROOT_PACKAGES,
            "format": QEMU_ROOT_FORMAT, "mirror": mirror, "qemu": version,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - t, 1)}
    with open(os.path.join(tmp_entry, "meta.json"), "w") as handle:
        json.dump(meta, handle, indent=1)
    shutil.rmtree(entry, ignore_errors=True)
    os.rename(tmp_entry, entry)
    log(f"QEMU root built in {meta['build_seconds']}s: {version}")


def ensure_qemu_root(rebuild=False, report=None):
    """The cached QEMU 10 chroot for the current inputs, built when missing (or with rebuild)."""
    return ensure_cached("lab-host-qemu", qemu_root_key(), build_qemu_root, QemuRoot, rebuild, report,
                         "qemu_root")


# ------------------------------------------------------------------ mtty.ko

# mtty, the kernel's sample mdev driver (a virtual serial card offering mtty-1 and mtty-2):
# Debian's kernels build no samples, so it is built here from Debian's linux-source and the
# headers of the image's kernel (the same Debian version), in a throwaway chroot (mmdebstrap
# --format=null: the machine's own packages stay as they are and any kernel version builds).
# Only mtty.ko is kept, cached by kernel version and source version; never committed.
MTTY_FORMAT = "1"  # bump to invalidate every cached mtty.ko
MTTY_SOURCE_PACKAGE = "linux-source-6.1"
MTTY_SOURCE_TAR = "/usr/src/linux-source-6.1.tar.xz"
MTTY_MEMBER = "linux-source-6.1/samples/vfio-mdev/mtty.c"
# Runs in the chroot: sh -c SCRIPT sh KERNEL_VERSION SOURCE_TAR MEMBER; the module ends up in
# /build/mtty.ko.
MTTY_BUILD_SCRIPT = r"""set -eu
mkdir -p /build
tar -xJf "$2" -C /build --strip-components=3 "$3"
echo 'obj-m := mtty.o' >/build/Kbuild
make -C "/usr/src/linux-headers-$1" M=/build modules
"""


class MttyModule(CacheEntry):
    """A built mtty.ko: CACHE/lab-host-mtty/<key>/{mtty.ko,meta.json,build.log}."""

    def __init__(self, path):
        super().__init__(path)
        self.ko = os.path.join(path, "mtty.ko")


def mtty_packages(kernel, version):
    """What the chroot installs: the headers and the source of the image's kernel's version."""
    return ["make", "xz-utils", f"linux-headers-{kernel}={version}", f"{MTTY_SOURCE_PACKAGE}={version}"]


def mtty_argv(kernel, version, outdir, mirror, security):
    build = " ".join(shlex.quote(arg) for arg in (
        "sh", "-c", MTTY_BUILD_SCRIPT, "sh", kernel, MTTY_SOURCE_TAR, MTTY_MEMBER))
    return ["mmdebstrap", "--mode=root", "--variant=apt", "--format=null",
            "--hook-directory=/usr/share/mmdebstrap/hooks/eatmydata", "--dpkgopt=force-unsafe-io",
            "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--include=" + ",".join(mtty_packages(kernel, version)),
            f'--customize-hook=chroot "$1" {build}',
            f"--customize-hook=copy-out /build/mtty.ko {outdir}",
            RELEASE, "-",
            f"deb {mirror} {RELEASE} main", f"deb {mirror} {RELEASE}-updates main",
            f"deb {security} {RELEASE}-security main"]


def mtty_key(kernel, version):
    """The kernel version, the source version, and a hash of how it is built."""
    digest = hashlib.sha256()
    for part in [MTTY_FORMAT] + mtty_argv(kernel, version, "OUT", "MIRROR", "SECURITY"):
        digest.update(part.encode() + b"\0")
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in f"{kernel}-{version}")
    return f"{safe}-{digest.hexdigest()[:12]}"


def build_mtty(kernel, version):
    """build(store, key, entry) for ensure_cached: mtty.ko for kernel (uname -r) from Debian's
    packages of version (the kernel package's Debian version)."""
    def build(store, key, entry):
        if not shutil.which("mmdebstrap"):
            raise LabError("mmdebstrap not found (bindep.txt lists the lab host's build packages)")
        tmp_entry = entry + ".tmp"
        shutil.rmtree(tmp_entry, ignore_errors=True)
        os.makedirs(tmp_entry)
        build_log = os.path.join(tmp_entry, "build.log")
        mirror, security = apt_mirror(), security_mirror()
        # the chroot lives in tmpfs when it has room (as the image's build), gone afterwards
        env = dict(os.environ, TMPDIR=os.path.dirname(build_workdir(store, key)))
        t = time.monotonic()
        log(f"building mtty.ko for {kernel} from {MTTY_SOURCE_PACKAGE} {version} (log {build_log})")
        try:
            run_quiet(mtty_argv(kernel, version, tmp_entry, mirror, security), build_log, timeout=1800, env=env)
        except LabError as error:
            with open(build_log, errors="replace") as handle:
                text = handle.read()
            if re.search(r"Version '[^']*' for '[^']*' was not found|Unable to locate package", text):
                raise LabError(f"the mirror ({mirror}, {security}) no longer carries linux-headers-{kernel} or "
                               f"{MTTY_SOURCE_PACKAGE} {version} for the cached image's kernel: rebuild the "
                               f"image with the current kernel (host.py build --rebuild); log {build_log}") from None
            raise LabError(f"building mtty.ko failed: {error}") from None
        ko = os.path.join(tmp_entry, "mtty.ko")
        with open(ko, "rb") as handle:
            data = handle.read()
        sha256 = hashlib.sha256(data).hexdigest()
        # the kernel loads a module only for its own vermagic (.modinfo: "vermagic=<uname -r> SMP ...")
        start = data.find(b"vermagic=")
        vermagic = data[start + 9:data.index(b"\0", start)].decode(errors="replace") if start >= 0 else ""
        if not vermagic.startswith(kernel + " "):
            raise LabError(f"mtty.ko was built for {vermagic!r}, not {kernel}; log {build_log}")
        meta = {"key": key, "kernel": kernel, "source_package": MTTY_SOURCE_PACKAGE, "version": version,
                "format": MTTY_FORMAT, "mirror": mirror, "security_mirror": security, "vermagic": vermagic,
                "sha256": sha256, "bytes": os.path.getsize(ko),
                "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build_seconds": round(time.monotonic() - t, 1)}
        with open(os.path.join(tmp_entry, "meta.json"), "w") as handle:
            json.dump(meta, handle, indent=1)
        shutil.rmtree(entry, ignore_errors=True)
        os.rename(tmp_entry, entry)
        log(f"mtty.ko built in {meta['build_seconds']}s ({meta['bytes']} bytes, vermagic {vermagic})")
    return build


def ensure_mtty(image, rebuild=False, report=None):
    """The cached mtty.ko for the image's kernel, built when missing (or with rebuild)."""
    kernel, version = image.meta["kernel"], image.meta.get("kernel_package")
    if not version:
        raise LabError(f"image {image.path} does not record its kernel package's version: "
                       "rebuild it (host.py build --rebuild)")
    return ensure_cached("lab-host-mtty", mtty_key(kernel, version), build_mtty(kernel, version), MttyModule,
                         rebuild, report, "mtty")


def build_image(store, key, entry):
    for tool in ("mmdebstrap", "sfdisk", "mkfs.ext4", "qemu-img", QEMU, "dpkg-architecture"):
        if not shutil.which(tool):
            raise LabError(f"{tool} not found (bindep.txt lists the lab host's build packages)")
    work = build_workdir(store, key)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    tmp_entry = entry + ".tmp"
    shutil.rmtree(tmp_entry, ignore_errors=True)
    os.makedirs(tmp_entry)
    build_log = os.path.join(tmp_entry, "build.log")
    times = {}
    t_all = time.monotonic()
    try:
        log(f"building image {key} in {work} (log {build_log})")
        t = time.monotonic()
        run_quiet(["bash", BUILD_SH, "image", work, os.path.join(store, "debs"), RELEASE,
                   ",".join(PACKAGES), str(DISK_MIB)], build_log, timeout=3600)
        times["mmdebstrap_and_disk"] = round(time.monotonic() - t, 1)
        log(f"  rootfs and disk: {times['mmdebstrap_and_disk']}s")

        t = time.monotonic()
        disk = os.path.join(work, "disk.raw")
        firstboot(work, disk, os.path.join(tmp_entry, "firstboot-serial.log"))
        times["first_boot"] = round(time.monotonic() - t, 1)
        log(f"  first boot (grub-install, update-grub): {times['first_boot']}s")

        t = time.monotonic()
        base = os.path.join(tmp_entry, "base.qcow2")
        run_quiet(["qemu-img", "convert", "-p", "-O", "qcow2", "-c", "-o", "compression_type=zstd",
                   disk, base], build_log, timeout=1800)
        times["qcow2"] = round(time.monotonic() - t, 1)
        log(f"  qcow2 (compressed): {times['qcow2']}s, {os.path.getsize(base) >> 20} MiB")

        with open(os.path.join(work, "kernel-version")) as handle:
            kver = handle.read().strip()
        with open(os.path.join(work, "kernel-package-version")) as handle:
            kernel_package = handle.read().strip()
        meta = {
            "key": key, "release": RELEASE, "packages": PACKAGES, "disk_mib": DISK_MIB,
            "format": IMAGE_FORMAT, "kernel": kver,
            "kernel_package": kernel_package, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": dict(times, total=round(time.monotonic() - t_all, 1)),
            "base_mib": os.path.getsize(base) >> 20,
        }
        with open(os.path.join(tmp_entry, "meta.json"), "w") as handle:
            json.dump(meta, handle, indent=1)
        shutil.rmtree(entry, ignore_errors=True)
        os.rename(tmp_entry, entry)
    except BaseException:
        log(f"image build failed; its log stays in {build_log}")
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"image built in {meta['build_seconds']['total']}s: {entry}")


def firstboot(work, disk, serial):
    """Boot the raw disk once with the image's own kernel and initrd; the guest installs
    GRUB on /dev/vda, runs update-grub and powers off."""
    argv = [
        QEMU, "-machine", "q35", "-accel", "tcg", "-m", str(MEMORY_MIB), "-smp", str(SMP),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-chardev", f"file,id=serial0,path={serial}", "-serial", "chardev:serial0",
        "-kernel", os.path.join(work, "vmlinuz"), "-initrd", os.path.join(work, "initrd.img"),
        "-append", FIRSTBOOT_APPEND,
        "-drive", f"file={disk},if=none,id=disk0,format=raw,discard=unmap",
        "-device", "virtio-blk-pci,drive=disk0",
    ]
    qemu_log = os.path.join(os.path.dirname(serial), "firstboot-qemu.log")
    with open(qemu_log, "w") as out:
        proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            proc.wait(FIRSTBOOT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise LabError(f"first boot did not power off within {FIRSTBOOT_TIMEOUT}s; "
                           f"console:\n{tail(serial)}")
        finally:
            kill_group(proc)
    with open(serial, errors="replace") as handle:
        console = handle.read()
    if "VIRT-HOSTDEV-FIRSTBOOT: OK" not in console:
        raise LabError(f"first boot failed (QEMU exit {proc.returncode}); console:\n{tail(serial)}")


def prune(store, keep):
    """Remove other entries of store no run holds (the cache keeps one of each kind)."""
    for name in os.listdir(store):
        path = os.path.join(store, name)
        if name == keep or name == "debs" or name.startswith(".") or not os.path.isdir(path):
            continue
        lock_path = os.path.join(path, ".use.lock")
        try:
            with open(lock_path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(path, ignore_errors=True)
                log(f"pruned old cache entry {path}")
        except (BlockingIOError, FileNotFoundError):
            continue


# ------------------------------------------------------------------ report

class Report:
    """JSON report, rewritten after every change so that a crash leaves what was done."""

    def __init__(self, path):
        self.path = path
        self.data = {"complete": False, "ok": None, "meta": {}, "phases": {}, "checks": []}
        self.meta = self.data["meta"]
        self.write()

    def phase(self, name, seconds):
        self.data["phases"][name] = round(seconds, 1)
        self.write()

    def check(self, name, ok, seconds=None, **details):
        self.data["checks"].append({"name": name, "ok": bool(ok),
                                    "seconds": None if seconds is None else round(seconds, 1),
                                    "details": details})
        log(f"  {'ok  ' if ok else 'FAIL'} {name}" + (f" ({seconds:.1f}s)" if seconds is not None else ""))
        self.write()

    def finish(self, ok):
        self.data["complete"] = True
        self.data["ok"] = bool(ok) and all(c["ok"] for c in self.data["checks"])
        self.write()

    def write(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(self.data, handle, indent=1, sort_keys=False)
        os.replace(tmp, self.path)


# ------------------------------------------------------------------ QMP

class Qmp:
    """The smallest QMP client: connect, negotiate, run commands (events are skipped)."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")
        self._read()  # greeting
        self.command("qmp_capabilities")

    def _read(self):
        while True:
            line = self.file.readline()
            if not line:
                raise LabError("QMP connection closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def command(self, name, **arguments):
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self.file.write(json.dumps(msg).encode() + b"\n")
        self.file.flush()
        reply = self._read()
        if "error" in reply:
            raise LabError(f"QMP {name}: {reply['error']}")
        return reply.get("return")

    def close(self):
        with contextlib.suppress(OSError):
            self.file.close()
            self.sock.close()


# ------------------------------------------------------------------ the host

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_ansible_playbook():
    for candidate in (os.environ.get("LAB_HOST_ANSIBLE_PLAYBOOK"),
                      os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                      os.path.join(REPO, ".venv", "bin", "ansible-playbook"),
                      shutil.which("ansible-playbook")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise LabError("ansible-playbook not found (run `make setup`, or set LAB_HOST_ANSIBLE_PLAYBOOK)")


def task_times(junit_dir):
    """[{task, seconds, status}] from the junit callback's XML files, in run order."""
    tasks = []
    if not os.path.isdir(junit_dir):
        return tasks
    for name in sorted(os.listdir(junit_dir)):
        try:
            tree = ElementTree.parse(os.path.join(junit_dir, name))
        except (ElementTree.ParseError, OSError):
            continue
        for case in tree.iter("testcase"):
            status = "ok"
            for child, label in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
                if case.find(child) is not None:
                    status = label
            tasks.append({"task": case.get("name"), "seconds": round(float(case.get("time") or 0), 1),
                          "status": status})
    return tasks


class LabHost:
    """One boot of the lab host: start(), wait_for_ssh(), playbook(), ssh(), stop().
    Use it as a context manager: stop() always runs and ends every process it started."""

    def __init__(self, image, qemu_root, out, report=None, memory=MEMORY_MIB):
        self.image = image
        self.qemu_root = qemu_root
        self.out = os.path.abspath(out)
        self.run_dir = os.path.join(self.out, "run")
        self.results = os.path.join(self.run_dir, "results")
        self.report = report
        self.memory = memory
        self.proc = None
        self.port = None
        self.ssh_ready = False
        self.serial = os.path.join(self.out, "serial.log")
        self.qemu_log = os.path.join(self.out, "qemu.log")
        self.qmp_path = os.path.join(self.run_dir, "qmp.sock")
        self.key = os.path.join(self.run_dir, "id_ed25519")
        self.known_hosts = os.path.join(self.run_dir, "known_hosts")
        self.inventory = os.path.join(self.run_dir, "inventory.yml")
        self.ansible_cfg = os.path.join(self.run_dir, "ansible.cfg")
        self.cp_dir = os.path.join(self.run_dir, "cp")
        self.children = []  # ansible-playbook processes while they run

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- setup

    def _prepare(self):
        shutil.rmtree(self.run_dir, ignore_errors=True)
        for stale in (self.serial, self.qemu_log):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        os.makedirs(self.results)
        os.makedirs(self.cp_dir, mode=0o700)
        if not self.image.hold():
            raise LabError(f"image {self.image.path} was removed (another build pruned it)")
        if not self.qemu_root.hold():
            raise LabError(f"QEMU root {self.qemu_root.path} was removed (another build pruned it)")
        self.mount_point = os.path.join(self.run_dir, "qemu-root")
        os.makedirs(self.mount_point)
        for path, comment in ((self.key, "virt-hostdev-lab-client"),
                              (os.path.join(self.run_dir, "ssh_host_ed25519_key"), "virt-hostdev-lab-host")):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                           check=True, stdin=subprocess.DEVNULL)
        self.overlay = os.path.join(self.run_dir, "disk.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", self.image.base,
                        self.overlay], check=True, stdin=subprocess.DEVNULL)

    def _write_access(self):
        """known_hosts with the run's host key, the inventory and ansible.cfg for self.port."""
        with open(os.path.join(self.run_dir, "ssh_host_ed25519_key.pub")) as handle:
            host_key = " ".join(handle.read().split()[:2])
        with open(self.known_hosts, "w") as handle:
            handle.write(f"[127.0.0.1]:{self.port} {host_key}\n")
        inventory = {"lab_host": {"hosts": {"labhost": {
            "ansible_host": "127.0.0.1",
            "ansible_port": self.port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": self.key,
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": " ".join(self.ssh_options()),
        }}}}
        with open(self.inventory, "w") as handle:  # JSON is YAML
            json.dump(inventory, handle, indent=2)
        with open(self.ansible_cfg, "w") as handle:
            handle.write(
                "# written by tests/lab_host/host.py for this run\n"
                "[defaults]\n"
                "host_key_checking = True\n"
                "retry_files_enabled = False\n"
                "forks = 1\n"
                "timeout = 60\n"
                "nocolor = True\n"
                f"local_tmp = {self.run_dir}/ansible-tmp\n"
                "[ssh_connection]\n"
                "pipelining = True\n"
                f"control_path_dir = {self.cp_dir}\n"
                "ssh_args = -o ControlMaster=auto -o ControlPersist=120s "
                "-o ServerAliveInterval=15 -o ServerAliveCountMax=8\n")

    def ssh_options(self):
        return ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
                "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no"]

    def qemu_argv(self):
        argv = [
            QEMU_ROOT_BINARY, "-name", "virt-hostdev-lab-host",
            "-machine", "q35,kernel-irqchip=split", "-accel", "tcg",
            "-m", str(self.memory), "-smp", str(SMP),
            "-nodefaults", "-no-user-config", "-display", "none",
            "-chardev", f"file,id=serial0,path={self.serial},append=on", "-serial", "chardev:serial0",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            "-device", "intel-iommu,intremap=on,caching-mode=on",
            "-drive", f"file={self.overlay},if=none,id=disk0,format=qcow2,discard=unmap",
            "-device", "virtio-blk-pci,drive=disk0,bootindex=1",
            "-netdev", f"user,id=uplink,hostfwd=tcp:127.0.0.1:{self.port}-:22",
            "-device", f"virtio-net-pci,netdev=uplink,mac={UPLINK_MAC},romfile=",
        ]
        for index, mac in enumerate(TWIN_MACS, start=1):
            argv += ["-device", f"pcie-root-port,id=rp{index},chassis={index},slot={index}",
                     "-device", f"{TWIN_NIC['model']},bus=rp{index},mac={mac},romfile="]
        # the SR-IOV PF; its own user network, restricted (no route out), only so that it has a peer
        index = len(TWIN_MACS) + 1
        argv += ["-netdev", "user,id=sriov,restrict=on",
                 "-device", f"pcie-root-port,id=rp{index},chassis={index},slot={index}",
                 "-device", f"{SRIOV_NIC['model']},bus=rp{index},netdev=sriov,mac={SRIOV_MAC},romfile="]
        for name in ("authorized_keys", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"):
            source = self.key + ".pub" if name == "authorized_keys" else os.path.join(self.run_dir, name)
            argv += ["-fw_cfg", f"name={FW_CFG_PREFIX}{name},file={source}"]
        return argv

    # -- lifecycle

    def start(self):
        self._prepare()
        for attempt in range(1, 4):
            self.port = free_port()
            self._write_access()
            argv = self.qemu_argv()
            with open(os.path.join(self.out, "qemu.cmdline"), "w") as handle:
                handle.write(" ".join(argv) + "\n")
            self._qemu_out = open(self.qemu_log, "a")
            # QEMU 10 from its cached root; it sees the run's files and the image at their paths
            command = self.qemu_root.command(argv, self.mount_point, [self.out, self.image.path])
            self.proc = spawn(command, stdin=subprocess.DEVNULL, stdout=self._qemu_out, stderr=subprocess.STDOUT)
            self.t_start = time.monotonic()
            # a port taken in between makes QEMU exit at once: try another one
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None and not os.path.exists(self.qmp_path):
                time.sleep(0.1)
            if self.proc.poll() is None:
                break
            self._qemu_out.close()
            if "host forwarding" not in tail(self.qemu_log, 5) or attempt == 3:
                raise LabError(f"QEMU exited at once ({self.proc.returncode}):\n{tail(self.qemu_log, 20)}")
            log(f"port {self.port} was taken, trying another")
        log(f"QEMU pid {self.proc.pid}, ssh on 127.0.0.1:{self.port}, console {self.serial}")
        if self.report:
            self.report.meta["qemu"] = {"argv": argv, "pid": self.proc.pid, "port": self.port,
                                        "root": self.qemu_root.path, "version": self.qemu_root.meta["qemu"]}
            self.report.meta["inventory"] = self.inventory
            self.report.write()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def ssh(self, command, timeout=120, connect_timeout=20):
        """Run a command on the host as root (plain ssh, not through Ansible)."""
        argv = ["ssh", "-F", "none", "-i", self.key, "-p", str(self.port), *self.ssh_options(),
                "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}",
                "root@127.0.0.1", command]
        proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            kill_group(proc, grace=2)
            raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def upload(self, source, dest, timeout=120):
        """Copy a file to the host (scp: a second or two, where Ansible's copy costs two module
        runs under TCG); LabError when it fails."""
        argv = ["scp", "-q", "-F", "none", "-i", self.key, "-P", str(self.port), *self.ssh_options(),
                "-o", "BatchMode=yes", source, f"root@127.0.0.1:{dest}"]
        proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out = proc.communicate(timeout=timeout)[0]
        except BaseException:
            kill_group(proc, grace=2)
            raise
        if proc.returncode != 0:
            raise LabError(f"scp {source} to the lab host failed ({proc.returncode}): {out.strip()}")

    def _banner(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.settimeout(10)
                return sock.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    def wait_for_ssh(self, timeout=BOOT_TIMEOUT):
        """Until root logs in with the run's key and host key; LabError (with the console's
        tail) when QEMU dies or the bound passes."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise LabError(f"QEMU exited ({self.proc.returncode}) before SSH answered; "
                               f"console:\n{tail(self.serial)}")
            if self._banner():
                result = self.ssh("true", timeout=60)
                if result.returncode == 0:
                    self.ssh_ready = True
                    seconds = time.monotonic() - self.t_start
                    log(f"ssh answers after {seconds:.1f}s")
                    return seconds
                last = result.stderr.strip()
            time.sleep(2)
        raise LabError(f"no SSH login within {timeout}s (last ssh error: {last}); console:\n{tail(self.serial)}")

    def playbook(self, path, name, extra_vars=None, timeout=PLAY_TIMEOUT):
        """ansible-playbook PATH against the host; returns {rc, seconds, log}."""
        variables = {"lab_host_results": self.results, "lab_host_reboot_timeout": REBOOT_TIMEOUT}
        variables.update(extra_vars or {})
        vars_file = os.path.join(self.run_dir, f"vars-{name}.json")
        with open(vars_file, "w") as handle:
            json.dump(variables, handle)
        logfile = os.path.join(self.run_dir, f"play-{name}.log")
        junit_dir = os.path.join(self.run_dir, "junit", name)
        env = dict(os.environ, ANSIBLE_CONFIG=self.ansible_cfg, ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1",
                   # per-task times for the report (ansible-core's own junit callback)
                   ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.junit", JUNIT_OUTPUT_DIR=junit_dir,
                   JUNIT_HIDE_TASK_ARGUMENTS="true")
        env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".build", "collections"))
        argv = [find_ansible_playbook(), "-i", self.inventory, "-e", f"@{vars_file}", path]
        t = time.monotonic()
        with open(logfile, "w") as out:
            out.write("$ " + " ".join(argv) + "\n")
            out.flush()
            proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
            self.children.append(proc)
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                rc = None
            except BaseException:
                kill_group(proc)
                raise
            finally:
                self.children.remove(proc)
        seconds = time.monotonic() - t
        log(f"play {name}: rc {rc} in {seconds:.1f}s (log {logfile})")
        return {"rc": rc, "seconds": round(seconds, 1), "log": logfile, "tasks": task_times(junit_dir)}

    def result(self, name):
        """A JSON file the plays recorded in run/results/, or None."""
        path = os.path.join(self.results, name + ".json")
        if not os.path.exists(path):
            return None
        with open(path) as handle:
            return json.load(handle)

    def stop(self):
        """Power off cleanly (systemctl poweroff over SSH, else ACPI through QMP), then kill
        what is left; end the SSH control masters and any process still naming the run dir.
        A second Ctrl-C (or SIGTERM) during the clean power-off goes straight to the kill."""
        t = time.monotonic()
        how = "not running"
        try:
            for proc in list(self.children):
                kill_group(proc)
            if self.alive():
                how = self._power_off()
        except KeyboardInterrupt:
            log("interrupted again: killing QEMU")
            how = "killed"
        masked = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            for proc in list(self.children):
                kill_group(proc)
            if self.proc is not None:
                if self.alive():
                    log("QEMU still running: killing it")
                kill_group(self.proc)  # and any leftovers of its group
                self._qemu_out.close()
            self._end_control_masters()
            leftovers = self._kill_leftovers()
            if self.image:
                self.image.release()
            if self.qemu_root:
                self.qemu_root.release()
            if self.proc is not None and not os.environ.get("LAB_HOST_KEEP_DISK"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.run_dir, "disk.qcow2"))
        finally:
            for sig, handler in masked.items():
                signal.signal(sig, handler)
        seconds = time.monotonic() - t
        if self.proc is not None:
            log(f"stopped ({how}) in {seconds:.1f}s")
            if self.report:
                self.report.meta["stop"] = {"how": how, "seconds": round(seconds, 1),
                                            "leftover_pids_killed": leftovers}
                self.report.phase("shutdown", seconds)
        return how

    def _power_off(self):
        if self.ssh_ready:
            with contextlib.suppress(LabError, OSError, subprocess.SubprocessError):
                self.ssh("systemctl poweroff", timeout=30, connect_timeout=10)
            if self._wait_exit(SHUTDOWN_TIMEOUT):
                return "poweroff"
        # not up yet (interrupted while booting) or SSH gone: the ACPI power button
        with contextlib.suppress(LabError, OSError, ValueError):
            qmp = Qmp(self.qmp_path)
            qmp.command("system_powerdown")
            qmp.close()
        if self._wait_exit(60 if self.ssh_ready else 20):
            return "acpi powerdown"
        return "killed"

    def _wait_exit(self, timeout):
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def _end_control_masters(self):
        if not os.path.isdir(self.cp_dir):
            return
        for name in os.listdir(self.cp_dir):
            sock = os.path.join(self.cp_dir, name)
            with contextlib.suppress(Exception):
                subprocess.run(["ssh", "-F", "none", "-o", f"ControlPath={sock}", "-O", "exit", "labhost"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=10, check=False)

    def _kill_leftovers(self):
        """Processes whose command line names this run's directory (SSH control masters,
        a stray QEMU): SIGTERM, then SIGKILL, each by its pid."""
        mine = os.getpid()
        needle = self.run_dir.encode()
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            if int(pid) == mine:
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if needle in handle.read():
                        found.append(int(pid))
            except OSError:
                continue
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in found:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            if sig == signal.SIGTERM and found:
                time.sleep(1)
        if found:
            log(f"killed leftover processes {found}")
        return found


# ------------------------------------------------------------------ scenarios

# A scenario is a list of steps (name, playbook in playbooks/, extra vars), run in order
# against one boot of the lab host; it stops at the first failed step. Every play gets
# lab_host_step (its step name) and lab_host_results (run/results/ on the controller), and
# records what it saw in {{ lab_host_results }}/{{ lab_host_step }}.json; a recorded
# reboot_elapsed becomes the phase reboot:<step> in the report.
SCENARIOS = {
    # Issue 9, as users write it, in one boot sequence (two reboots by the role):
    # IOMMU off -> hostdev_assign refuses; hostdev_prepare reserves one of the twin NICs and
    # reboots, a second run changes nothing; hostdev_assign gives the NIC to a domain that starts
    # with it, then takes it back; reserving the uplink NIC or the root disk's controller is
    # refused with nothing changed; state absent and a reboot undo it all.
    # Issue 19 in the same boot sequence (no reboot of its own): sriov_vfs gives the igb PF four
    # VFs before prepare's reboot, which they survive; after assign, a VF goes to the domain as
    # an interface with a MAC and a VLAN the PF reports, lowering the count is refused while it
    # is held, and state absent leaves none.
    # Issue 21 in the same boot sequence (no reboot of its own): mtty (built for the image's
    # kernel) is loaded at every boot and the mdevs module makes two persistent, autostarted mdevs
    # before prepare's reboot, which brings them back; after sriov, the facts' types follow sysfs,
    # one mdev goes to the domain, which starts; removing it is refused while held, then absent
    # leaves no mdev and no definition.
    "passthrough": [
        ("iommu_off", "iommu_off.yml", {}),
        ("sriov_count", "sriov_count.yml", {}),
        ("mtty", "mtty.yml", {}),
        ("mdev_create", "mdev_create.yml", {}),
        ("prepare", "prepare.yml", {}),
        ("assign", "assign.yml", {}),
        ("sriov", "sriov.yml", {}),
        ("mdev", "mdev.yml", {}),
        ("refusals", "refusals.yml", {}),
        ("release", "release.yml", {}),
    ],
}


# Where the harness puts mtty.ko on the lab host after boot (playbooks/mtty.yml installs it).
MTTY_UPLOAD = "/root/mtty.ko"


def play_vars(image):
    """What every play gets besides its step: where mtty.ko is on the lab host and the kernel it
    was built for."""
    return {"lab_host_mtty_ko": MTTY_UPLOAD, "lab_host_kernel_release": image.meta["kernel"]}


def run_scenario(args, report):
    image = ensure_image(args.rebuild, report)
    qemu_root = ensure_qemu_root(args.rebuild, report)
    mtty = ensure_mtty(image, args.rebuild, report)
    with LabHost(image, qemu_root, args.out, report, memory=args.memory) as host:
        host.start()
        report.phase("boot_to_ssh", host.wait_for_ssh())
        t = time.monotonic()
        host.upload(mtty.ko, MTTY_UPLOAD)
        report.phase("upload", time.monotonic() - t)
        for name, playbook, extra in SCENARIOS[args.command]:
            play = host.playbook(os.path.join(PLAYBOOKS, playbook), name,
                                 dict(play_vars(image), **extra, lab_host_step=name))
            recorded = host.result(name)
            report.phase(f"play:{name}", play["seconds"])
            if isinstance(recorded, dict) and recorded.get("reboot_elapsed") is not None:
                report.phase(f"reboot:{name}", recorded["reboot_elapsed"])
            report.check(f"play:{name}", play["rc"] == 0, play["seconds"], rc=play["rc"], log=play["log"],
                         tasks=play["tasks"], recorded=recorded)
            if play["rc"] != 0:
                log(f"play {name} failed; last lines of its log:\n{tail(play['log'], 40)}")
                return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("command", choices=["build", "up"] + sorted(SCENARIOS))
    ap.add_argument("--out", default=os.environ.get("LAB_HOST_OUT") or os.path.join(REPO, ".build", "lab_host"))
    ap.add_argument("--memory", type=int, default=MEMORY_MIB, help="guest RAM in MiB")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the image even when cached")
    args = ap.parse_args()

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored

    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)
    lock = open(os.path.join(args.out, ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"another lab_host run holds {args.out}/.lock; waiting")
        fcntl.flock(lock, fcntl.LOCK_EX)

    report = Report(os.path.join(args.out, "report.json"))
    report.meta["command"] = args.command
    ok = False
    try:
        if args.command == "build":
            image = ensure_image(args.rebuild, report)
            ensure_qemu_root(args.rebuild, report)
            ensure_mtty(image, args.rebuild, report)
            ok = True
        elif args.command in SCENARIOS:
            ok = run_scenario(args, report)
        else:
            image = ensure_image(args.rebuild, report)
            qemu_root = ensure_qemu_root(args.rebuild, report)
            mtty = ensure_mtty(image, args.rebuild, report)
            with LabHost(image, qemu_root, args.out, report, memory=args.memory) as host:
                host.start()
                host.wait_for_ssh()
                host.upload(mtty.ko, MTTY_UPLOAD)
                extra = " ".join(f"-e {key}={value}" for key, value in play_vars(image).items())
                print(f"\nlab host up. Inventory: {host.inventory}\n"
                      f"  ANSIBLE_CONFIG={host.ansible_cfg} ansible-playbook -i {host.inventory} {extra} PLAYBOOK\n"
                      f"  ssh -F none -i {host.key} -p {host.port} {' '.join(host.ssh_options())} root@127.0.0.1\n"
                      "Ctrl-C powers it off.", flush=True)
                try:
                    while host.alive():
                        time.sleep(1)
                except KeyboardInterrupt:
                    log("Ctrl-C: powering the lab host off")
                ok = True
    except LabError as error:
        log(f"ERROR: {error}")
        report.meta["error"] = str(error)[:4000]
        report.phase("total", time.monotonic() - T0)
        report.finish(False)
        return 2
    except KeyboardInterrupt as error:
        log(f"interrupted ({str(error) or 'Ctrl-C'}): every process this run started is stopped")
        report.meta["error"] = f"interrupted: {error}"
        report.phase("total", time.monotonic() - T0)
        report.finish(False)
        return 130
    report.phase("total", time.monotonic() - T0)
    report.finish(ok)
    log(f"report: {report.path}")
    if not report.data["ok"]:
        log(f"LAB HOST FAILED; console: {os.path.join(args.out, 'serial.log')}")
        return 1
    log(f"LAB HOST OK in {time.monotonic() - T0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
