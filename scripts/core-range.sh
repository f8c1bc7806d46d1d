#!/usr/bin/env bash
# Unit tests and `ansible-doc` of every plugin of the collection on one ansible-core.
# Usage: core-range.sh VENV_BIN   (a venv with ansible-core, pytest and the unit tests' libraries)
# Called by `make core-range` for the lowest supported ansible-core (meta/runtime.yml) and the newest.
set -euo pipefail
bin=${1:?venv bin directory}
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
version=$("$bin/python" -c 'from ansible.release import __version__ as v; print(v)')
echo "core-range: ansible-core $version ($bin)"
"$bin/python" -m pytest -p no:cacheprovider tests/unit -q
# cryptography 51 deprecates DSA, and ansible-core 2.19's SSH agent module imports it: that
# warning comes from ansible-core's own import, whatever plugin is documented, so it is not one
# of ours and is filtered by its message (any other warning still fails the check).
export PYTHONWARNINGS='ignore:DSA is deprecated'
count=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT
for type in module filter; do
  names=$(find "plugins/${type/module/modules}" -maxdepth 1 -name '*.py' ! -name '_*' ! -name '__init__.py' 2>/dev/null | sort)
  [ "$type" = filter ] && names=$(find plugins/filter -maxdepth 1 -name '*.yml' | sort)
  for file in $names; do
    name=pgha.replication.$(basename "${file%.*}")
    # A plugin whose documentation does not load is an error, or a warning on stderr.
    if ! out=$("$bin/ansible-doc" -t "$type" "$name" 2>"$err") || [ -z "$out" ] || [ -s "$err" ]; then
      echo "core-range: ansible-doc -t $type $name failed on ansible-core $version:" >&2
      cat "$err" >&2
      exit 1
    fi
    count=$((count + 1))
  done
done
for role in $(find roles -mindepth 2 -maxdepth 3 -path '*/meta/argument_specs.yml' | cut -d/ -f2 | sort); do
  if ! "$bin/ansible-doc" -t role "pgha.replication.$role" >/dev/null 2>"$err" || [ -s "$err" ]; then
    echo "core-range: ansible-doc -t role pgha.replication.$role failed on ansible-core $version:" >&2
    cat "$err" >&2
    exit 1
  fi
  count=$((count + 1))
done
echo "core-range: ansible-core $version: unit tests passed, ansible-doc of $count plugins and roles passed"
