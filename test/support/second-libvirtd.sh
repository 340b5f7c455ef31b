#!/bin/bash
# A second, isolated libvirtd + virtlogd on this machine: the DR node's hypervisor in tests.
#
#   unshare --mount --propagation private -- bash second-libvirtd.sh WORKDIR
#
# Runs inside a new, private mount namespace (so nothing below leaks to the host) and puts
# WORKDIR's folders over every path a system libvirtd keeps state, sockets, pid files and
# logs in. The daemons fork into the background and keep the namespace alive; QEMU started
# by them lives in it too. The host's images folders (/var/lib/libvirt/images and
# /var/lib/virt-dr-test) stay the same on both sides, so a disk path means the same file.
# Its socket is WORKDIR/run/libvirt/libvirt-sock, visible from the host namespace.
# Callers must close inherited descriptors (a flock's fd 3) before running this.
set -euo pipefail
W=$1

# /run: its own pid files (libvirtd.pid, virtlogd.pid), sockets, driver state and the XML of
# its running domains. It also hides /run/systemd and /run/dbus, so it never registers a
# machine with systemd-machined under a name (qemu-ID-NAME) the host's libvirtd may use.
mount --bind "$W/run" /run
# /etc/libvirt: its own configuration and persistent domains; no networks, pools or hooks.
mount --bind "$W/etc" /etc/libvirt
# /var/lib/libvirt: its own QEMU state (monitor and channel sockets under qemu/domain-*,
# checkpoint and snapshot metadata, nvram); the images folder is the host's, bound back in.
mount --bind /var/lib/libvirt/images "$W/lib/images"
mount --rbind "$W/lib" /var/lib/libvirt
# Its own QEMU capabilities cache and logs (virtlogd writes qemu/NAME.log: the same name on
# both daemons would otherwise share one file).
mount --bind "$W/cache" /var/cache/libvirt
mount --bind "$W/log" /var/log/libvirt

# -d: each forks and returns once it is ready; their output goes to the log folder.
virtlogd -d </dev/null >>/var/log/libvirt/virtlogd.out 2>&1
# libvirtd on CPU 0 only: its cached QEMU capabilities hold the CPUID of the core that probed
# (leaf 1 carries the APIC id) and are probed again (about 4 s) when another core checks
# them. It gives each QEMU all CPUs back itself (no <vcpu cpuset>: every online CPU).
taskset -c 0 libvirtd -d </dev/null >>/var/log/libvirt/libvirtd.out 2>&1
