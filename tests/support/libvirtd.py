# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A private, throw-away libvirtd with the QEMU driver, for integration tests.

The daemon runs in its own mount and PID namespaces (``unshare``). Fresh temporary
directories are bind-mounted over /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt,
/var/log/libvirt and /run/libvirt, so it neither sees nor touches a system libvirt.
/run/libvirt is a directory of the temporary tree, so the socket is reachable from
outside at ``<tmp>/run/libvirt-sock``. nsinit.py is PID 1 of the namespace: it runs
libvirtd, reaps orphans, and when libvirtd exits so does it, and the kernel kills every
process left (QEMU probes, domains).
"""

from __future__ import annotations

import ctypes
import grp
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

LIBVIRTD_CONF = """\
unix_sock_group = "root"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:{log}"
"""

# Container-friendly QEMU driver settings, shared with the lab guest.
QEMU_CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qemu.conf")

# target inside the namespace -> directory under the temporary root
BIND_MOUNTS = (
    ("/etc/libvirt", "etc"),
    ("/var/lib/libvirt", "lib"),
    ("/var/cache/libvirt", "cache"),
    ("/var/log/libvirt", "log"),
    ("/run/libvirt", "run"),
)

QEMU_USER = "libvirt-qemu"
PR_SET_PDEATHSIG = 1
NSINIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nsinit.py")


class LibvirtdError(RuntimeError):
    """The private libvirtd could not be started."""


def _find(program):
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not path:
        raise LibvirtdError("%s not found: install the packages in bindep.txt (make setup)" % program)
    return path


def ensure_qemu_user():
    """The QEMU driver looks up its built-in user before it reads qemu.conf."""
    try:
        grp.getgrnam(QEMU_USER)
    except KeyError:
        subprocess.run(["groupadd", "-r", QEMU_USER], check=True, capture_output=True)
    try:
        pwd.getpwnam(QEMU_USER)
    except KeyError:
        subprocess.run(["useradd", "-r", "-g", QEMU_USER, "-d", "/var/lib/libvirt",
                        "-s", "/usr/sbin/nologin", QEMU_USER], check=True, capture_output=True)


def _die_with_parent():
    """Runs in the child before exec: SIGKILL unshare if the test process dies without
    tearing down (unshare --kill-child then takes the whole namespace with it)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class PrivateLibvirtd:
    """Start with :meth:`start`, stop with :meth:`stop`; ``uri`` is the client URI."""

    def __init__(self, start_timeout=30.0):
        self.start_timeout = start_timeout
        self.root = None
        self.proc = None
        self.uri = None
        self.socket_path = None
        self.log_path = None
        self.stderr_path = None

    # ------------------------------------------------------------------ start
    def start(self):
        if os.geteuid() != 0:
            raise LibvirtdError("the private libvirtd needs root (mount namespace, QEMU driver)")
        libvirtd = _find("libvirtd")
        unshare = _find("unshare")
        ensure_qemu_user()

        # After crash(), the same root (its defined domains) is started again.
        if self.root is None:
            self.root = tempfile.mkdtemp(prefix="virt-hostdev-libvirtd-")
        for _target, name in BIND_MOUNTS:
            os.makedirs(os.path.join(self.root, name), exist_ok=True)
        os.makedirs(os.path.join(self.root, "daemon"), exist_ok=True)
        for stale in (os.path.join(self.root, "run", "libvirt-sock"), os.path.join(self.root, "daemon", "libvirtd.pid")):
            if os.path.lexists(stale):
                os.unlink(stale)
        self.log_path = os.path.join(self.root, "daemon", "libvirtd.log")
        self.stderr_path = os.path.join(self.root, "daemon", "stderr.log")
        conf = os.path.join(self.root, "daemon", "libvirtd.conf")
        with open(conf, "w", encoding="utf-8") as handle:
            handle.write(LIBVIRTD_CONF.format(log=self.log_path))
        shutil.copyfile(QEMU_CONF, os.path.join(self.root, "etc", "qemu.conf"))
        self.socket_path = os.path.join(self.root, "run", "libvirt-sock")
        self.uri = "qemu:///system?socket=%s" % self.socket_path

        lines = ["set -e"]
        for target, name in BIND_MOUNTS:
            source = os.path.join(self.root, name)
            lines.append("mkdir -p '%s'" % target)
            lines.append("mount --bind '%s' '%s'" % (source, target))
        lines.append("exec '%s' '%s' '%s' -f '%s' -p '%s'" % (
            sys.executable, NSINIT, libvirtd, conf, os.path.join(self.root, "daemon", "libvirtd.pid")))
        script = "\n".join(lines)

        env = dict(os.environ)
        # keep the daemon off any client/session settings of the caller
        for name in ("LIBVIRT_DEFAULT_URI", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            env.pop(name, None)
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [unshare, "--mount", "--propagation", "private", "--pid", "--fork",
                 "--mount-proc", "--kill-child", "/bin/sh", "-c", script],
                stdin=subprocess.DEVNULL, stdout=stderr, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, preexec_fn=_die_with_parent)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.uri

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise LibvirtdError("libvirtd exited with status %s\n%s" % (self.proc.returncode, self.logs()))
            if os.path.exists(self.socket_path) and self._can_connect():
                break
            if time.monotonic() > deadline:
                raise LibvirtdError("libvirtd socket %s did not appear within %.0f s\n%s"
                                    % (self.socket_path, self.start_timeout, self.logs()))
            time.sleep(0.05)
        # a real round trip through the QEMU driver
        try:
            import libvirt  # pylint: disable=import-outside-toplevel
        except ImportError:
            libvirt = None
        if libvirt is not None:
            try:
                conn = libvirt.open(self.uri)
                try:
                    conn.getVersion()
                finally:
                    conn.close()
            except libvirt.libvirtError as exc:
                raise LibvirtdError("cannot use %s: %s\n%s" % (self.uri, exc, self.logs())) from exc
        else:
            result = subprocess.run([_find("virsh"), "-c", self.uri, "uri"],
                                    capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise LibvirtdError("virsh -c %s uri failed: %s\n%s" % (self.uri, result.stderr, self.logs()))

    def _can_connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.socket_path)
            return True
        except OSError:
            return False
        finally:
            sock.close()

    def logs(self, limit=8000):
        """The daemon's stderr and log file (their last ``limit`` characters each)."""
        parts = []
        for title, path in (("libvirtd stderr", self.stderr_path), ("libvirtd log", self.log_path)):
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except (OSError, TypeError):
                text = "(none)"
            parts.append("---- %s ----\n%s" % (title, text[-limit:]))
        return "\n".join(parts)

    def pid(self):
        """The libvirtd process id as seen from here (outside its PID namespace), to signal it.

        The pid file under the root holds libvirtd's id inside the namespace, so the
        process is found as the descendant of unshare named libvirtd."""
        if self.proc is None or self.proc.poll() is not None:
            raise LibvirtdError("the private libvirtd is not running")
        children = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry, encoding="utf-8", errors="replace") as handle:
                    stat = handle.read()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces and parentheses
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append((int(entry), comm))
        pending = [self.proc.pid]
        while pending:
            for pid, comm in children.get(pending.pop(), ()):
                if comm == "libvirtd":
                    return pid
                pending.append(pid)
        raise LibvirtdError("no libvirtd process below unshare (pid %d)" % self.proc.pid)

    # ------------------------------------------------------------------- stop
    def crash(self, timeout=10.0):
        """SIGKILL the daemon, as a crash would, keeping its root: start() brings it back."""
        proc, self.proc = self.proc, None
        if proc is not None:
            self._killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def stop(self, timeout=10.0):
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            # signal the process group: unshare and nsinit (PID 1 of the namespace),
            # which forwards SIGTERM to libvirtd; when libvirtd exits, nsinit exits and
            # the kernel kills everything else in the PID namespace.
            self._killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        # the process group may outlive unshare for a moment
        self._killpg(proc.pid if proc else None, signal.SIGKILL)
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    @staticmethod
    def _killpg(pgid, sig):
        if not pgid:
            return
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass


@contextlib.contextmanager
def running_libvirtd():
    """A started PrivateLibvirtd, stopped afterwards, for a fixture to yield.

    Nothing is skipped for lack of libvirtd: if it cannot start, the tests using it
    fail. Only a developer outside CI may opt out with VIRT_HOSTDEV_SKIP_LIBVIRTD=1.
    """
    if os.environ.get("VIRT_HOSTDEV_SKIP_LIBVIRTD") == "1" and os.environ.get("CI", "").lower() != "true":
        import pytest  # pylint: disable=import-outside-toplevel
        pytest.skip("VIRT_HOSTDEV_SKIP_LIBVIRTD=1 (never honoured in CI)")
    daemon = PrivateLibvirtd()
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
