#!/bin/sh
# cgroup2-vm.sh runs the containerizer's cgroup tests on a pure cgroup v2
# host: a Debian kernel booted under qemu (software emulation, no KVM
# needed) with an initramfs holding busybox and the test binary, which
# mounts cgroup2 at /sys/fs/cgroup with the memory and cpu controllers.
#
# Why a VM: these machines mount cgroup v1 hierarchies for memory and cpu
# (Docker and the agents use them), and a controller lives in one
# hierarchy only, so a cgroup2 mount here has neither (see /proc/cgroups).
# TestCgroupV2 runs what v2 code it can here; this runs all of it.
#
# Needs: qemu-system-x86 and busybox-static (apt-get install -y
# --no-install-recommends qemu-system-x86 busybox-static), and a Debian
# kernel image, extracted without installing it:
#   apt-get download linux-image-6.1.0-57-amd64 && dpkg-deb -x linux-image-*.deb k
#   KERNEL=k/boot/vmlinuz-6.1.0-57-amd64 tools/cgroup2-vm.sh
# Prints the tests' output and exits with their status.
set -eu
KERNEL=${KERNEL:?set KERNEL to a Linux kernel image (vmlinuz)}
TESTS=${TESTS:-'TestCgroupLimitsAndUsage|TestCgroupV2'}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for app in sh mount poweroff cat head tr sleep echo ls; do ln -s busybox "$work/rootfs/bin/$app"; done
(cd "$root" && CGO_ENABLED=0 go test -c -o "$work/rootfs/containerizer.test" ./runtime/containerizer/)
cat > "$work/rootfs/init" <<EOF
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t cgroup2 none /sys/fs/cgroup
echo "cgroup2 controllers: \$(cat /sys/fs/cgroup/cgroup.controllers)"
TMPDIR=/tmp PATH=/bin /containerizer.test -test.run '$TESTS' -test.count=1 -test.v
echo "agora-vm-exit=\$?"
poweroff -f
EOF
chmod +x "$work/rootfs/init"
(cd "$work/rootfs" && find . | cpio -o -H newc --quiet | gzip -1 > "$work/initrd.gz")

timeout 900 qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nographic -no-reboot \
	-kernel "$KERNEL" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1 rdinit=/init" | tee "$work/console"
status=$(sed -n 's/.*agora-vm-exit=\([0-9]*\).*/\1/p' "$work/console" | tail -1)
[ -n "$status" ] || { echo "the VM did not report the tests' status" >&2; exit 1; }
exit "$status"
