#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0
# /init of the test VM's initramfs: mounts the host's root (9p, read-only) under a tmpfs overlay,
# makes the unpacked Debian kernel's modules the guest's /lib/modules, and hands over to the agent.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^kipvs.$1=//p"; }
version=$(arg version) kdir=$(arg kdir) agent=$(arg agent) idle=$(arg idle)
die() { echo "guest-init: $*"; echo o > /proc/sysrq-trigger; sleep 10; }

while read -r m; do [ -n "$m" ] && insmod "/modules/$m" 2>/dev/null; done < /modules/order

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /lower || die "cannot mount the host root over 9p"
mount -t tmpfs -o size=512m tmpfs /upper || die "cannot mount tmpfs"
mkdir -p /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot || die "cannot mount the overlay"

for d in proc sys dev; do mount --move /$d /newroot/$d; done
# No tmpfs over /tmp or /run: the overlay is writable already, and a source tree or build folder
# may live there (CI clones wherever it likes); it must stay visible in the guest.
mkdir -p /newroot/run/kipvs-session /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 session /newroot/run/kipvs-session || die "cannot mount the session folder"

rm -rf "/newroot/lib/modules/$version"
mkdir -p "/newroot/lib/modules/$version"
mount --bind "/newroot$kdir/root/lib/modules/$version" "/newroot/lib/modules/$version"

# switch_root, not chroot: the kernel runs its module-autoload helper (/sbin/modprobe) in PID 1's
# root, and that must be the real tree for `ipvsadm -s mh` or `ip link add type dummy` to work.
exec switch_root /newroot /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root /usr/bin/python3 "$agent" --session /run/kipvs-session --idle "$idle" --pid1
