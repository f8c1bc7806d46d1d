#!/usr/bin/env python
"""Check that each role's meta/argument_specs.yml mirrors its defaults/main.yml.

Usage: check_argument_specs.py ROLES_DIR

For every role in ROLES_DIR that has a defaults/main.yml or a meta/argument_specs.yml, the
keys of defaults/main.yml must be exactly the options of the `main` entry point; and every
`tasks_from` of a role of the collection (include_role/import_role of pgha.replication.<role>
anywhere in the repository's YAML) must be an entry point of that role's argument spec, so it
is documented and its variables are validated. Exits 1 naming each problem, else prints a
summary line.
"""

import glob
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


def role_includes(node):
    """(role, tasks_from) of every include_role/import_role of a pgha.replication role with a tasks_from in node."""
    if isinstance(node, list):
        for item in node:
            yield from role_includes(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key.rsplit('.', maxsplit=1)[-1] in ('include_role', 'import_role') and isinstance(value, dict):
                name = str(value.get('name', ''))
                if name.startswith('pgha.replication.') and value.get('tasks_from'):
                    yield name.rsplit('.', maxsplit=1)[-1], str(value['tasks_from'])
            yield from role_includes(value)


def check_entry_points(repo_dir, roles_dir):
    """Problems: a tasks_from that is not an entry point of its role's argument spec."""
    problems = []
    for path in sorted(glob.glob(os.path.join(repo_dir, '**', '*.yml'), recursive=True)):
        relative = os.path.relpath(path, repo_dir)
        if relative.split(os.sep)[0] in ('.build', '.venv', '.lab', 'changelogs'):
            continue
        try:
            document = load(path)
        except yaml.YAMLError:
            continue  # not ours to judge here (yamllint is)
        for role, tasks_from in role_includes(document):
            entry = os.path.splitext(tasks_from)[0]
            specs = load(os.path.join(roles_dir, role, 'meta', 'argument_specs.yml')).get('argument_specs', {})
            if entry not in specs:
                problems.append(f'{relative}: tasks_from {tasks_from} of role {role} is not an entry point of '
                                f'roles/{role}/meta/argument_specs.yml')
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
    problems += check_entry_points(os.path.dirname(os.path.abspath(roles_dir)), roles_dir)
    for problem in problems:
        print(f'ERROR: {problem}', file=sys.stderr)
    if problems:
        print(f'argument specs: {len(problems)} problem(s) in {len(roles)} role(s)', file=sys.stderr)
        sys.exit(1)
    print(f'argument specs: {len(roles)} role(s) checked, defaults/main.yml and meta/argument_specs.yml agree; '
          'every tasks_from is an entry point')


if __name__ == '__main__':
    main()
