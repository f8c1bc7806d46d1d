#!/usr/bin/env python
"""Check that each role's meta/argument_specs.yml mirrors its defaults/main.yml.

Usage: check_argument_specs.py ROLES_DIR

For every role in ROLES_DIR that has a defaults/main.yml or a meta/argument_specs.yml, the
keys of defaults/main.yml must be exactly the options of the `main` entry point. Exits 1
naming each role and key that differ, else prints a summary line.
"""

import os
import sys

import yaml


def load(path):
    """Return the YAML document at path, {} when the file is absent or empty."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f) or {}


def check_role(role_dir):
    """Return a list of problems for one role."""
    role = os.path.basename(role_dir)
    defaults_path = os.path.join(role_dir, 'defaults', 'main.yml')
    specs_path = os.path.join(role_dir, 'meta', 'argument_specs.yml')
    if not os.path.exists(specs_path):
        return [f'{role}: meta/argument_specs.yml is missing']
    specs = load(specs_path).get('argument_specs', {})
    if 'main' not in specs:
        return [f'{role}: meta/argument_specs.yml has no "main" entry point']
    options = set((specs['main'] or {}).get('options') or {})
    defaults = set(load(defaults_path))
    problems = [f'{role}: {key} is in defaults/main.yml but not in meta/argument_specs.yml'
                for key in sorted(defaults - options)]
    problems += [f'{role}: {key} is in meta/argument_specs.yml but not in defaults/main.yml'
                 for key in sorted(options - defaults)]
    return problems


def main():
    if len(sys.argv) != 2:
        sys.exit(f'usage: {sys.argv[0]} ROLES_DIR')
    roles_dir = sys.argv[1]
    roles = sorted(
        name for name in os.listdir(roles_dir)
        if os.path.exists(os.path.join(roles_dir, name, 'defaults', 'main.yml'))
        or os.path.exists(os.path.join(roles_dir, name, 'meta', 'argument_specs.yml'))
    )
    problems = []
    for role in roles:
        problems += check_role(os.path.join(roles_dir, role))
    for problem in problems:
        print(f'ERROR: {problem}', file=sys.stderr)
    if problems:
        print(f'argument specs: {len(problems)} difference(s) in {len(roles)} role(s)', file=sys.stderr)
        sys.exit(1)
    print(f'argument specs: {len(roles)} role(s) checked, defaults/main.yml and meta/argument_specs.yml agree')


if __name__ == '__main__':
    main()
