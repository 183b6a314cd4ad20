# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PID 1 of the private libvirtd's PID namespace: ``nsinit.py PROGRAM ARGS...``.

Runs PROGRAM, forwards SIGTERM/SIGINT/SIGHUP to it and reaps every process that is
re-parented to it (libvirt daemonizes QEMU: a zombie QEMU would look alive to libvirt).
Exits with PROGRAM's status; the kernel then kills whatever is left in the namespace.
"""

import os
import signal
import sys


def main(argv):
    pid = os.fork()
    if pid == 0:
        os.execv(argv[0], argv)

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            child, status = os.wait()
        except ChildProcessError:
            return 1
        if child == pid:
            return os.waitstatus_to_exitcode(status) & 0xff


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
