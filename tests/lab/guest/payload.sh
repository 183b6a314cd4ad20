#!/bin/sh
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# virt.hostdev lab: guest payload, run by the initramfs /init inside the chroot
# (tmpfs root with the host's /usr, a copy of /etc, the Python install and the
# checkout shared read-only).  Starts libvirtd (layer B of the lab recipe, plus
# namespaces=[ ] for a nested guest) and runs tests/lab/guest/checks.py, which
# writes $LAB_RESULTS/report.json.
#
# Environment (set by /init): LAB_CHECKOUT, LAB_VENV, LAB_RESULTS.

set -u
R="$LAB_RESULTS"
export PYTHONDONTWRITEBYTECODE=1

log() { echo "LAB: $(cut -d' ' -f1 /proc/uptime) payload: $*"; }

# The QEMU driver looks up its built-in user before it reads qemu.conf.
if ! getent group libvirt-qemu >/dev/null; then
    groupadd -r libvirt-qemu || echo 'libvirt-qemu:x:64055:' >> /etc/group
fi
if ! getent passwd libvirt-qemu >/dev/null; then
    useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu ||
        echo 'libvirt-qemu:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin' >> /etc/passwd
fi

mkdir -p /etc/libvirt /run/lab /var/lib/libvirt /var/log/libvirt/qemu /var/cache/libvirt
cp "$LAB_CHECKOUT/tests/support/qemu.conf" /etc/libvirt/qemu.conf
cat > /run/lab/libvirtd.conf <<EOF
log_outputs = "3:file:$R/libvirtd.log"
EOF

# Optional: udevd, when the host has the Debian udev package (gives libvirt
# usb_device and block devices, and predictable interface names).
UDEVD=/usr/lib/systemd/systemd-udevd
if [ -x "$UDEVD" ]; then
    log "starting udevd"
    export SYSTEMD_IGNORE_CHROOT=1
    mkdir -p /run/udev
    "$UDEVD" --daemon && udevadm trigger --action=add && udevadm settle --timeout=60
    echo yes > /run/lab/udev
else
    echo no > /run/lab/udev
fi

log "starting libvirtd"
libvirtd -d -f /run/lab/libvirtd.conf -p /run/lab/libvirtd.pid
i=0
while [ ! -S /run/libvirt/libvirt-sock ] && [ $i -lt 200 ]; do
    sleep 0.1
    i=$((i + 1))
done
[ -S /run/libvirt/libvirt-sock ] || log "libvirtd socket did not appear"
log "libvirtd up"

"$LAB_VENV/bin/python" "$LAB_CHECKOUT/tests/lab/guest/checks.py" --out "$R/report.json"
rc=$?
log "checks.py exited with $rc"

if [ -f /run/lab/libvirtd.pid ]; then
    kill "$(cat /run/lab/libvirtd.pid)" 2>/dev/null
fi
sync
exit $rc
