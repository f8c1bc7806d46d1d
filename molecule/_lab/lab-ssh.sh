#!/usr/bin/env bash
# Make (or keep) a lab's SSH material in its state directory, in one step (create.yml):
#   ssh/id_ed25519[.pub]              the lab's client key
#   ssh/NODE/ssh_host_ed25519_key     the node's host key        } mounted read-only at
#   ssh/NODE/sshd.conf                sshd on the node's address } /etc/ssh/lab in the node
#   ssh/NODE/authorized_keys          the client key             }
#   ssh/known_hosts                   every node's host key, under its name (HostKeyAlias)
#   ssh_config                        how to reach each node: ssh -F STATE_DIR/ssh_config NODE
# Nothing is read from or written to ~/.ssh. Keys that exist are kept; a file is rewritten
# only when its content changes. Prints "changed" when it wrote anything.
# Usage: lab-ssh.sh STATE_DIR CONTROL_DIR LOGIN_USER NODE=ADDRESS...
set -euo pipefail
state=${1:?state directory}
control=${2:?control socket directory}
user=${3:?login user}
shift 3
ssh_dir="$state/ssh"
changed=""
umask 022
mkdir -p "$ssh_dir" "$control"
chmod 0700 "$ssh_dir" "$control"

# put FILE MODE: write stdin to FILE when it differs.
put() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat > "$tmp"
  chmod "$2" "$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
  else
    mv "$tmp" "$1"
    changed=1
  fi
}

key() {
  if [ ! -f "$1" ]; then
    ssh-keygen -q -t ed25519 -N '' -C "$2" -f "$1"
    changed=1
  fi
}

key "$ssh_dir/id_ed25519" pgha-lab
known="" config=""
for node in "$@"; do
  name=${node%%=*} address=${node#*=}
  # sshd reads authorized_keys as the login user: the directory is world-readable, the
  # host key alone is not.
  mkdir -p "$ssh_dir/$name"
  chmod 0755 "$ssh_dir/$name"
  key "$ssh_dir/$name/ssh_host_ed25519_key" "$name"
  put "$ssh_dir/$name/sshd.conf" 0644 <<CONF
# Written by molecule/_lab/lab-ssh.sh: sshd on this node's address only.
ListenAddress $address:22
HostKey /etc/ssh/lab/ssh_host_ed25519_key
AuthorizedKeysFile /etc/ssh/lab/authorized_keys
AllowUsers $user
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
# Several masters (Ansible, testinfra) and many sessions a node at once.
MaxSessions 64
MaxStartups 64:30:128
CONF
  put "$ssh_dir/$name/authorized_keys" 0644 < "$ssh_dir/id_ed25519.pub"
  known+="$name $(cut -d' ' -f1,2 "$ssh_dir/$name/ssh_host_ed25519_key.pub")"$'\n'
  config+="Host $name $address"$'\n'"  HostName $address"$'\n'"  HostKeyAlias $name"$'\n'
done
printf '%s' "$known" | put "$ssh_dir/known_hosts" 0644
put "$state/ssh_config" 0644 <<CONF
# Written by molecule/_lab/lab-ssh.sh: how to reach this lab's nodes.
${config}Host *
  User $user
  Port 22
  IdentityFile $ssh_dir/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $ssh_dir/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  PasswordAuthentication no
  ControlMaster auto
  ControlPersist 300s
  ControlPath $control/cm-%h
  ServerAliveInterval 5
  ServerAliveCountMax 6
  ConnectTimeout 10
  LogLevel ERROR
CONF
if [ -n "$changed" ]; then echo changed; else echo unchanged; fi
