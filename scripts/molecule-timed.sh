#!/usr/bin/env bash
# Run one Molecule scenario's full `molecule test` sequence (make molecule, make molecule-all)
# and print, once it ends, how long each step took and the 20 slowest tasks of its converge
# and idempotence (the ansible.posix.profile_tasks callback, enabled in the lab's ansible.cfg
# by .config/molecule/config.yml). The same summary goes to .build/molecule-times/SCENARIO.txt.
# Usage: molecule-timed.sh SCENARIO [molecule test options]. Exit status: molecule's.
set -uo pipefail
scenario=${1:?scenario}
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/.build/molecule-times"
mkdir -p "$out"
summary="$out/$scenario.txt"
tasks="$out/$scenario.tasks"
: > "$tasks"

declare -A began took
order=()
step="" in_recap="" status=2
start=$(printf '%(%s)T' -1)
# Molecule logs "[scenario > step] Executing" and "[scenario > step] Executed: ..." for each
# step; profile_tasks prints "TASKS RECAP", a date line, a rule, then "name ---- 1.23s" lines.
while IFS= read -r line; do
  if [[ $line =~ ^molecule-timed:\ exit\ ([0-9]+)$ ]]; then
    status=${BASH_REMATCH[1]}
    continue
  fi
  printf '%s\n' "$line"
  now=$(printf '%(%s)T' -1)
  if [[ $line =~ \[$scenario\ \>\ ([a-z_]+)\]\ Executing ]]; then
    step=${BASH_REMATCH[1]}
    began[$step]=$now
  elif [[ $line =~ \[$scenario\ \>\ ([a-z_]+)\]\ Executed ]]; then
    s=${BASH_REMATCH[1]}
    # A step that runs twice (destroy) is counted once per run, in order.
    took[$s]=$(( ${took[$s]:-0} + now - ${began[$s]:-$now} ))
    [[ " ${order[*]} " == *" $s "* ]] || order+=("$s")
    step=""
  elif [[ $line == "TASKS RECAP"* ]]; then
    in_recap=1
    [ "$step" = converge ] || [ "$step" = idempotence ] && echo "--- $step" >> "$tasks"
  elif [ -n "$in_recap" ]; then
    if [[ $line =~ \ -+\ +[0-9.]+s$ ]]; then
      [ "$step" = converge ] || [ "$step" = idempotence ] && printf '%s\n' "$line" >> "$tasks"
    elif [[ ! $line =~ ^(=+|[A-Z][a-z]+day\ .*)$ ]]; then
      in_recap=""
    fi
  fi
done < <(cd "$repo" && molecule test -s "$scenario" "$@" 2>&1; echo "molecule-timed: exit $?")
total=$(( $(printf '%(%s)T' -1) - start ))
{
  steps=""
  for s in "${order[@]}"; do steps+="${steps:+, }$s ${took[$s]} s"; done
  echo "=== molecule steps of $scenario: $steps (total $total s)"
  if [ -s "$tasks" ]; then
    echo "=== the 20 slowest tasks of $scenario (profile_tasks):"
    cat "$tasks"
  fi
} | tee "$summary"
rm -f "$tasks"
exit "$status"
