#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection, for the controller's Python 3.11, with empty
# tests/sanity/ignore-*.txt files. Called by `make sanity`; re-runnable, and quick after the
# first run (ansible-test's per-test virtual environments are cached under .build/).
#
# Why it is not just `ansible-test sanity`:
# - ansible-test refuses a collection reached through a symlink (.build/collections/...), so
#   the collection's files (git-tracked, plus untracked-but-not-ignored) are copied into
#   .build/sanity/ansible_collections/pgha/replication and ansible-test runs from there.
# - ansible-test creates one virtual environment per sanity test and bootstraps pip in it
#   with get-pip.py downloaded from ci-files.testing.ansible.com, which is not reachable
#   here. It looks for that script in its cache first, so we put a small stand-in there
#   that bootstraps pip with the interpreter's own `ensurepip` and then installs the
#   requested (pinned) packages from PyPI. ansible-test's cache and venvs are kept in
#   .build/sanity-home (HOME for ansible-test only), never in the user's ~/.ansible.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$repo/.venv/bin
python_version=3.11
scratch=$repo/.build/sanity/ansible_collections/pgha/replication
sanity_home=$repo/.build/sanity-home

# Sanity tests that cannot run on this machine. Each one is named with the reason.
skip_tests=(
  # pslint runs PSScriptAnalyzer under PowerShell (pwsh), which is not packaged for Debian
  # and not installable from PyPI. The collection has no PowerShell files in any case.
  pslint
)

export PATH=$bin:$PATH

# The `shellcheck` sanity test needs the shellcheck binary, a Debian package.
if ! command -v shellcheck >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  echo "sanity: installing shellcheck"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi

# The ignore files must be empty: a finding is fixed, never ignored.
core_version=$("$bin/python" -c 'from ansible.release import __version__ as v; print(".".join(v.split(".")[:2]))')
for ignore in "$repo"/tests/sanity/ignore-*.txt; do
  [ -e "$ignore" ] || continue
  if [ -s "$ignore" ]; then
    echo "sanity: ${ignore#"$repo"/} is not empty; fix the findings instead of ignoring them" >&2
    exit 1
  fi
done
echo "sanity: ansible-core $core_version, ignore file tests/sanity/ignore-$core_version.txt is empty or absent"

# Fresh copy of the collection's files.
rm -rf "$scratch"
mkdir -p "$scratch"
(cd "$repo" && git ls-files -z -co --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar -c --null -T - -f -) | tar -x -C "$scratch" -f -
# The scratch tree lies inside this repo's work tree, where .build/ is ignored: ansible-test
# would list no files at all. Its own (empty) git repository makes it list the copied files.
git -C "$scratch" init -q

# Stand-in for get-pip.py in ansible-test's download cache (see the header).
pip_version=$("$bin/python" -c '
from ansible_test._internal.python_requirements import get_venv_packages
class P: version = "'"$python_version"'"
print(get_venv_packages(P())["pip"])')
get_pip=$sanity_home/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$get_pip")"
cat >"$get_pip" <<'EOF'
# Stand-in for get-pip.py written by scripts/sanity.sh: ensurepip, then pip install the
# arguments ansible-test passes (options and pinned packages) from PyPI.
import ensurepip
import os
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
env = dict(os.environ)  # ensurepip sets PIP_CONFIG_FILE=/dev/null; pip.conf holds our CA/mirror
ensurepip.bootstrap(upgrade=True, default_pip=True)
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args, env=env)
EOF

skip_args=()
for t in "${skip_tests[@]}"; do skip_args+=(--skip-test "$t"); done

cd "$scratch"
set +e
HOME=$sanity_home "$bin/ansible-test" sanity --color no --python "$python_version" "${skip_args[@]}" "$@"
rc=$?
set -e
if [ "$rc" = 0 ]; then
  echo "sanity: PASSED (ansible-test sanity, Python $python_version, skipped: ${skip_tests[*]})"
else
  echo "sanity: FAILED (ansible-test sanity exit code $rc)" >&2
fi
exit "$rc"
