#!/usr/bin/env bash
# Install the Debian packages the lab and the module tests need on this machine (as root,
# or through sudo). Quick when they are all present already.
set -euo pipefail
packages=(podman runc debootstrap iptables postgresql-15 postgresql-client-15 python3-venv)
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
installed=$(dpkg-query -W -f='${db:Status-Status}\n' "${packages[@]}" 2>/dev/null | grep -c '^installed$' || true)
if [ "$installed" = "${#packages[@]}" ]; then
  echo "host packages: present"
  exit 0
fi
echo "host packages: installing ${packages[*]}"
# Debian's postgresql package would create and start a cluster on localhost:5432.
$sudo mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/pgha-host.conf >/dev/null
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
echo "host packages: installed"
