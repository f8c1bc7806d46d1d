#!/usr/bin/env bash
# Build the lab's base image (Debian bookworm booting systemd) once per machine.
# Usage: build-image.sh IMAGE   (e.g. localhost/pgha-base:bookworm-ssh)
# The image's tag names what it holds: bookworm-ssh adds sshd and the lab's login user
# (ansible, passwordless sudo) to the systemd base; an older image keeps its own tag.
set -euo pipefail
image=${1:?image name}
if podman image exists "$image"; then
  echo "lab image $image: present"
  exit 0
fi
rootfs=$(mktemp -d /var/tmp/pgha-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "lab image $image: building with debootstrap (about a minute)"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,python3,python3-apt,sudo,iproute2,procps,ca-certificates,acl,openssh-server \
  bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
# The nodes use the same apt sources and extra CA certificates as the host, so they reach
# the same mirror and a TLS-intercepting proxy's PyPI, if any.
if compgen -G "/etc/apt/sources.list.d/*" >/dev/null; then
  rm -f "$rootfs/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/* "$rootfs/etc/apt/sources.list.d/"
fi
f=/etc/apt/apt.conf.d/99artifact-registry
if [ -f "$f" ]; then
  cp "$f" "$rootfs/etc/apt/apt.conf.d/"
fi
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi
# Nothing in a lab node needs a console login or the host's hardware.
chroot "$rootfs" systemctl mask getty@tty1.service console-getty.service \
  systemd-udevd.service systemd-udev-trigger.service >/dev/null 2>&1 || true
# sshd: the lab's nodes are reached over SSH, as the unprivileged user ansible with
# passwordless sudo. No host key is baked in: each lab generates a key per node in its
# state directory and mounts it, with the node's sshd settings (its own address only) and
# the lab's client key, at /etc/ssh/lab (molecule/_lab/create.yml).
rm -f "$rootfs"/etc/ssh/ssh_host_*
echo 'Include /etc/ssh/lab/*.conf' > "$rootfs/etc/ssh/sshd_config.d/pgha-lab.conf"
# An account locked with '!' cannot log in even by key; '*' has no password either.
chroot "$rootfs" useradd --create-home --shell /bin/bash --password '*' ansible
echo 'ansible ALL=(ALL:ALL) NOPASSWD: ALL' > "$rootfs/etc/sudoers.d/ansible"
chmod 0440 "$rootfs/etc/sudoers.d/ansible"
# Keep the apt archive cache: the lab mounts a shared one over it.
rm -f "$rootfs/etc/apt/apt.conf.d/docker-clean"
tar -C "$rootfs" -c . | podman import - "$image" >/dev/null
echo "lab image $image: built"
