#!/usr/bin/env bash
# Build a lab base image (Debian booting systemd) once per machine and release.
# Usage: build-image.sh IMAGE   (localhost/pgha-base:<release>-ssh: bookworm-ssh, trixie-ssh)
# The image's tag names what it holds: the Debian release, and -ssh for sshd and the lab's
# login user (ansible, passwordless sudo) on the systemd base; an older image keeps its own tag.
set -euo pipefail
image=${1:?image name}
release=${image##*:}
release=${release%-ssh}
case "$release" in
  bookworm|trixie) ;;
  *) echo "build-image.sh: $image names the release '$release'; the lab builds bookworm and trixie" >&2; exit 2 ;;
esac
if podman image exists "$image"; then
  echo "lab image $image: present"
  exit 0
fi
rootfs=$(mktemp -d /var/tmp/pgha-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "lab image $image: building Debian $release with debootstrap (about a minute)"
# bookworm's debootstrap builds trixie as well (its trixie script is sid's).
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,python3,python3-apt,sudo,iproute2,procps,ca-certificates,acl,openssh-server \
  "$release" "$rootfs" http://deb.debian.org/debian >/dev/null
# The nodes use the host's apt mirrors (with the node's release in place of the host's) and
# extra CA certificates, so they reach the same mirror and a TLS-intercepting proxy's PyPI, if any.
host_release=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if compgen -G "/etc/apt/sources.list.d/*" >/dev/null; then
  rm -f "$rootfs/etc/apt/sources.list"
  for f in /etc/apt/sources.list.d/*; do
    if [ -n "$host_release" ] && [ "$host_release" != "$release" ]; then
      sed "s/\b$host_release\b/$release/g" "$f" > "$rootfs/etc/apt/sources.list.d/$(basename "$f")"
    else
      cp "$f" "$rootfs/etc/apt/sources.list.d/"
    fi
  done
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
