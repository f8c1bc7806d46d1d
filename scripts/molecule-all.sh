#!/usr/bin/env bash
# Run every Molecule scenario's full `molecule test` sequence (make molecule-all).
#
# Scenarios that share node names and addresses must run one after another; scenarios with
# names and addresses of their own run at the same time, in another lane. Each lane runs
# its scenarios in order, all of them even after a failure (molecule test destroys its
# nodes whatever happened); the first lane prints as it goes, the others into a log each
# that is printed when all lanes are done. Each scenario prints its steps' times and its 20
# slowest tasks (scripts/molecule-timed.sh); the summary repeats the times. A scenario that no lane names fails the run, so a new
# scenario cannot be skipped by mistake. Exit status: 0 only when every scenario passed.
set -uo pipefail

# One lane a line; scenarios of a lane run in order.
lanes=(
  "ha"                 # pg1..pg3, lb1 on 127.0.1.x (the longest: alone in its lane)
  "logical streaming"  # pub1, pub2, sub1 on 127.0.2.x; then st1..st4 on 127.0.5.x
  "backup day2"        # bk1..bk3, backup1 on 127.0.4.x; then dy1..dy4, dylb on 127.0.6.x (Debian 12)
)

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 2
logs="$repo/.build/molecule-lanes"
mkdir -p "$logs"

scenarios=$(for dir in molecule/*/; do basename "$dir"; done | grep -v '^_' | sort | tr '\n' ' ')
assigned=$(printf '%s\n' "${lanes[@]}" | tr ' ' '\n' | grep -v '^$' | sort | tr '\n' ' ')
if [ "$scenarios" != "$assigned" ]; then
  echo "molecule-all: the lanes in scripts/molecule-all.sh name [${assigned}] but molecule/ has [${scenarios}]" >&2
  exit 2
fi

# The base images (the default release's, and each lab_release a scenario names) are built
# once, before the lanes race to create nodes from them.
for release in $( (echo "${PGHA_LAB_RELEASE:-trixie}"
                   sed -n 's/^ *lab_release: *\([a-z]*\).*/\1/p' molecule/*/molecule.yml) | sort -u); do
  molecule/_lab/build-image.sh "localhost/pgha-base:$release-ssh"
done

run_lane() {
  local status=0 scenario start names
  read -r -a names <<< "$1"
  for scenario in "${names[@]}"; do
    echo "=== molecule scenario $scenario"
    start=$(date +%s)
    if scripts/molecule-timed.sh "$scenario"; then
      echo "=== molecule scenario $scenario passed in $(( $(date +%s) - start )) s"
    else
      echo "=== molecule scenario $scenario FAILED after $(( $(date +%s) - start )) s"
      status=1
    fi
  done
  return $status
}

rm -f "$logs"/lane-*.log
pids=()
for i in "${!lanes[@]}"; do
  if [ "$i" = 0 ]; then continue; fi
  run_lane "${lanes[$i]}" > "$logs/lane-$i.log" 2>&1 &
  pids[i]=$!
done
run_lane "${lanes[0]}" 2>&1 | tee "$logs/lane-0.log"
status=${PIPESTATUS[0]}
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || status=1
  echo "=== lane $i (${lanes[$i]}), which ran alongside:"
  cat "$logs/lane-$i.log"
done
echo "=== molecule-all summary"
grep -h "^=== molecule s" "$logs"/lane-*.log | grep -v "scenario [a-z_]*$" || true
exit "$status"
