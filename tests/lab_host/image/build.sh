#!/usr/bin/env bash
# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Builds the real-host lab's Debian system (tests/lab_host/host.py runs this; its
# content is part of the image's cache key, so any edit here rebuilds the image).
#
#   build.sh image WORK DEBS RELEASE PACKAGES SIZE_MIB
#       mmdebstrap RELEASE with PACKAGES (comma-separated) into WORK/rootfs, then
#       WORK/disk.raw: SIZE_MIB sparse, one MBR partition at 1 MiB, ext4 (label
#       vhroot) filled from the rootfs with mke2fs -d (no loop device, no mount),
#       and WORK/vmlinuz + WORK/initrd.img for the first boot (host.py boots it with
#       -kernel/-initrd; the guest installs GRUB on its own disk and powers off).
#       DEBS is a persistent .deb cache (reused, then replaced by this build's set).
#   build.sh customize ROOT
#       the mmdebstrap customize hook: overlay/ files, GRUB defaults, units.
#
# Mirrors: $VIRT_HOSTDEV_MIRROR (default http://deb.debian.org/debian) and
# $VIRT_HOSTDEV_SECURITY_MIRROR (default http://deb.debian.org/debian-security).
# Needs root, mmdebstrap, sfdisk (fdisk), mke2fs (e2fsprogs), dpkg-architecture
# (dpkg-dev, for mmdebstrap's eatmydata hook).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FS_LABEL=vhroot
PART_OFFSET_MIB=1

say() { printf 'build.sh: %s\n' "$*"; }

customize() {
    local root=$1
    # files of the lab host (units, sshd and network configuration, scripts)
    cp -a --no-preserve=ownership "$HERE/overlay/." "$root/"
    chmod 755 "$root"/usr/local/sbin/virt-hostdev-*

    echo labhost >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tlabhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
        >"$root/etc/hosts"
    printf 'LABEL=%s\t/\text4\terrors=remount-ro\t0\t1\n' "$FS_LABEL" >"$root/etc/fstab"

    # GRUB as on a fleet member carrying intel_iommu=off from old tuning; console on
    # the serial port (the harness keeps it as serial.log); no_timer_check: under TCG on a
    # busy runner the kernel's IO-APIC timer check can fail and panic ("timer doesn't work
    # through Interrupt-remapped IO-APIC"), seen with intel_iommu=on.
    local grub=$root/etc/default/grub
    sed -i \
        -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/' \
        -e 's/^GRUB_CMDLINE_LINUX_DEFAULT=.*/GRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=off"/' \
        -e 's/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="console=ttyS0,115200n8 no_timer_check"/' \
        -e 's/^#GRUB_TERMINAL=console$/GRUB_TERMINAL=serial\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"/' \
        -e 's/^#GRUB_DISABLE_RECOVERY=.*/GRUB_DISABLE_RECOVERY="true"/' \
        "$grub"
    local want
    for want in '^GRUB_TIMEOUT=1$' '^GRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=off"$' \
        '^GRUB_CMDLINE_LINUX="console=ttyS0,115200n8 no_timer_check"$' '^GRUB_TERMINAL=serial$' \
        '^GRUB_DISABLE_RECOVERY="true"$'; do
        grep -q "$want" "$grub" || { say "customize: /etc/default/grub lacks $want"; exit 1; }
    done

    # the initramfs as overlay/etc/initramfs-tools configures it (MODULES=list): the first
    # boot uses it, so a lab host that cannot boot from it fails here
    chroot "$root" update-initramfs -u -k all

    # run keys come at every boot (virt-hostdev-provision); no key is baked in
    rm -f "$root"/etc/ssh/ssh_host_*
    systemctl --root="$root" enable systemd-networkd.service virt-hostdev-provision.service \
        virt-hostdev-firstboot.service
    # nothing runs in the background that the tests did not ask for
    systemctl --root="$root" mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
        e2scrub_all.timer e2scrub_reap.service fstrim.timer logrotate.timer man-db.timer
}

image() {
    local work=$1 debs=$2 release=$3 packages=$4 size_mib=$5
    local mirror=${VIRT_HOSTDEV_MIRROR:-http://deb.debian.org/debian}
    local security=${VIRT_HOSTDEV_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
    local rootfs=$work/rootfs
    mkdir -p "$debs" "$work"
    rm -rf "$rootfs" "$debs.new"
    mkdir -p "$debs.new"

    say "mmdebstrap $release into $rootfs"
    # eatmydata and force-unsafe-io: dpkg's fsync calls cost more than the rest here.
    # The .deb cache goes in before apt runs and comes back out (this build's set only).
    # shellcheck disable=SC2016  # "$1" in the hooks is mmdebstrap's root, expanded by its shell
    mmdebstrap --mode=root --variant=minbase --format=directory \
        --hook-directory=/usr/share/mmdebstrap/hooks/eatmydata \
        --include="$packages" \
        --dpkgopt=force-unsafe-io \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --skip=essential/unlink \
        --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
        --setup-hook="sync-in '$debs' /var/cache/apt/archives/" \
        --customize-hook="sync-out /var/cache/apt/archives '$debs.new'" \
        --customize-hook="bash '$HERE/build.sh' customize \"\$1\"" \
        "$release" "$rootfs" \
        "deb $mirror $release main" \
        "deb $mirror $release-updates main" \
        "deb $security $release-security main"
    rm -rf "$debs"
    mv "$debs.new" "$debs"

    local kernel initrd
    kernel=$(readlink -f "$rootfs/vmlinuz")
    initrd=$(readlink -f "$rootfs/initrd.img")
    if [ ! -f "$kernel" ] || [ ! -f "$initrd" ]; then
        say "no kernel or initrd in $rootfs"
        exit 1
    fi
    kernel=$rootfs/boot/$(basename "$kernel")
    initrd=$rootfs/boot/$(basename "$initrd")
    cp "$kernel" "$work/vmlinuz"
    cp "$initrd" "$work/initrd.img"
    basename "$kernel" | sed 's/^vmlinuz-//' >"$work/kernel-version"
    # the kernel package's Debian version: linux-source and linux-headers of that version
    # build modules for this kernel (host.py's mtty.ko)
    chroot "$rootfs" dpkg-query -W -f "\${Version}\n" "linux-image-$(cat "$work/kernel-version")" \
        >"$work/kernel-package-version"

    say "disk.raw: ${size_mib} MiB, one MBR partition, ext4 from the rootfs"
    local disk=$work/disk.raw
    rm -f "$disk"
    truncate -s "${size_mib}M" "$disk"
    printf 'label: dos\nstart=%dMiB, type=83, bootable\n' "$PART_OFFSET_MIB" | sfdisk -q "$disk"
    local fs_kib=$(( (size_mib - PART_OFFSET_MIB) * 1024 ))
    # GRUB 2.06 (bookworm) reads neither orphan_file nor metadata_csum_seed
    mkfs.ext4 -q -F -L "$FS_LABEL" -O ^orphan_file,^metadata_csum_seed \
        -E "offset=$((PART_OFFSET_MIB * 1024 * 1024))" -d "$rootfs" "$disk" "${fs_kib}k"
    rm -rf "$rootfs"
}

case ${1:-} in
    image) shift; image "$@" ;;
    customize) shift; customize "$@" ;;
    *) echo "usage: $0 image WORK DEBS RELEASE PACKAGES SIZE_MIB | customize ROOT" >&2; exit 2 ;;
esac
