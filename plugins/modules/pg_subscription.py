#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_subscription
short_description: Create, alter and drop PostgreSQL logical replication subscriptions
version_added: 0.1.0
description:
  - Manage a logical replication subscription on the subscriber, in the database the module connects to (O(login_db)).
  - Options left unset are not managed; an existing subscription keeps its value.
  - Options that apply at creation only and are stored by the server (O(two_phase)) are never changed silently; when they
    differ from the existing subscription the module fails and names the option that resolves the conflict.
  - The publisher's password (O(connection.password)) and the stored connection string's password are never shown in
    RV(queries), results, diffs or error messages; they appear as V(********).
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes
  - pgha.replication._attributes.postgresql_group
  - pgha.replication._postgres
options:
  name:
    description:
      - Name of the subscription.
      - Lower case letters (a-z), digits and underscores, 1 to 63 bytes (it is also the default slot name on the
        publisher) - the rule of every name option of the collection's SQL modules. Other names fail before the
        server is touched.
    type: str
    required: true
    version_added: 0.1.0
  state:
    description:
      - V(present) creates the subscription if it does not exist and aligns the options that are set.
      - V(absent) drops it if it exists (see O(drop_slot)).
    type: str
    choices: [present, absent]
    default: present
    version_added: 0.1.0
  publications:
    description:
      - Publications on the publisher to subscribe to. Required to create the subscription.
      - Each name follows the rule of O(name); a name with a quote, a semicolon or a space fails before the server is
        touched.
      - Every publication must exist on the publisher (see O(connection)).
      - When the subscription exists with another set of publications (order does not matter), the set is replaced with
        C(ALTER SUBSCRIPTION ... SET PUBLICATION ... WITH (refresh = true)), which also starts the initial copy of new tables
        (see O(copy_data)). A disabled subscription cannot be refreshed; its publications are then set with
        C(refresh = false) and O(refresh=true) picks up the tables once it is enabled.
    type: list
    elements: str
    version_added: 0.1.0
  connection:
    description:
      - How the subscriber connects to the publisher (libpq keywords). Required to create the subscription.
      - Together with O(connection_extra) it describes the whole connection string; when set, keywords of the existing
        subscription's connection string that are not given here are removed. Unset, the connection is not managed.
      - Values are quoted as libpq requires; the stored connection string is parsed and compared keyword by keyword,
        the password included, so the connection is only altered when something differs.
      - Before the subscription is created, or its connection or publications changed, and for O(refresh=true), the
        module connects to the publisher with this connection (read-only, from the host it runs on - normally the
        subscriber) and fails, in check mode as well, when the publisher cannot be reached or refuses the login,
        when a publication of O(publications) does not exist there, when O(connection.user) has neither
        C(REPLICATION) nor superuser, when O(wait=true) and the publications publish no table, or when the slot the
        subscription would create already exists there.
    type: dict
    version_added: 0.1.0
    suboptions:
      host:
        description:
          - Host names, IP addresses or unix socket directories of the publisher. Several hosts (a list, or a comma
            separated string) make a libpq multi-host connection; with O(connection.target_session_attrs=read-write) the
            subscription follows the primary after a failover.
        type: list
        elements: str
        version_added: 0.1.0
      port:
        description:
          - Port, or one port per host in O(connection.host).
        type: list
        elements: int
        version_added: 0.1.0
      dbname:
        description: Database of the publication on the publisher.
        type: str
        version_added: 0.1.0
      user:
        description: Role used on the publisher; it needs the C(REPLICATION) attribute and C(SELECT) on the published tables.
        type: str
        version_added: 0.1.0
      password:
        description:
          - Password of O(connection.user). Stored by the server in the subscription's connection string (readable by
            superusers only); compared with it so it is only changed when it differs.
          - Never shown; a change shows as V(******** (changed\)) in the diff.
        type: str
        version_added: 0.1.0
      sslmode:
        description: libpq C(sslmode).
        type: str
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
        version_added: 0.1.0
      sslrootcert:
        description: File of certificate authorities, on the subscriber host, used to verify the publisher.
        type: str
        version_added: 0.1.0
      connect_timeout:
        description: Seconds libpq waits for the connection to the publisher.
        type: int
        version_added: 0.1.0
      target_session_attrs:
        description: Which of several O(connection.host) to use; V(read-write) or V(primary) follow the primary.
        type: str
        choices: [any, read-write, read-only, primary, standby, prefer-standby]
        version_added: 0.1.0
      application_name:
        description:
          - Name shown in C(pg_stat_replication) on the publisher. PostgreSQL uses the subscription name when unset.
        type: str
        version_added: 0.1.0
  connection_extra:
    description:
      - Other libpq keywords of the connection string, for example C(keepalives_idle) or C(sslcert).
      - Keywords are checked against the libpq keyword list; keywords that have their own O(connection) suboption, and
        C(password) and C(sslpassword), are refused here.
    type: dict
    version_added: 0.1.0
  enabled:
    description:
      - Whether the subscription is enabled (its apply worker runs). New subscriptions are enabled unless V(false).
    type: bool
    version_added: 0.1.0
  slot_name:
    description:
      - Name of the replication slot on the publisher. PostgreSQL uses O(name) when unset at creation.
      - Follows the rule of O(name); V(none) is refused (the server reads it as no slot).
      - When the subscription is created with a slot (O(create_slot) not V(false)) and that slot already exists on
        the publisher, the module fails in both modes; set O(create_slot=false) to use the existing slot.
      - Changing it on an existing subscription only changes which slot is used; no slot is created.
    type: str
    version_added: 0.1.0
  create_slot:
    description:
      - Whether C(CREATE SUBSCRIPTION) creates the slot on the publisher (PostgreSQL's default is V(true)).
      - Applies at creation only; ignored for an existing subscription.
    type: bool
    version_added: 0.1.0
  copy_data:
    description:
      - Whether the existing rows of the published tables are copied (PostgreSQL's default is V(true)).
      - Applies at creation and to the refresh that follows a change of O(publications) or O(refresh=true); it is not a
        property of the subscription and is never compared.
    type: bool
    version_added: 0.1.0
  binary:
    description: Whether the publisher sends data in binary format.
    type: bool
    version_added: 0.1.0
  streaming:
    description:
      - Streaming of large in-progress transactions - V(off), V(on), or V(parallel) (PostgreSQL 16 or later).
      - Booleans are accepted for V(on) and V(off).
    type: str
    version_added: 0.1.0
  synchronous_commit:
    description:
      - C(synchronous_commit) of the apply worker - V(off), V(local), V(remote_write), V(remote_apply) or V(on).
    type: str
    version_added: 0.1.0
  disable_on_error:
    description: Whether the subscription disables itself when the apply worker hits an error (PostgreSQL 15 or later).
    type: bool
    version_added: 0.1.0
  two_phase:
    description:
      - Whether prepared transactions are replicated at PREPARE time (PostgreSQL 15 or later).
      - Applies at creation only. When set and the existing subscription differs, the module fails.
    type: bool
    version_added: 0.1.0
  origin:
    description:
      - V(none) applies only changes that originated on the publisher, V(any) all changes (PostgreSQL 16 or later;
        refused on older servers).
    type: str
    choices: [any, none]
    version_added: 0.1.0
  failover:
    description:
      - Whether the subscription's slot on the publisher is a failover slot (C(failover = true)) - PostgreSQL 17 or
        later, on the subscriber and the publisher; refused on an older subscriber before anything is changed.
      - A failover slot is copied by PostgreSQL itself to the publisher's standbys that run with
        C(sync_replication_slots = on), so that the subscription continues from a standby promoted after a failover
        (see the role P(pgha.replication.patroni#role)'s C(patroni_logical_slot_failover=native)).
      - At creation it applies to the slot the subscription creates, or, with O(create_slot=false), the existing slot
        is altered to it.
      - PostgreSQL changes it on an existing subscription only while the subscription is disabled; an enabled
        subscription is disabled (C(ALTER SUBSCRIPTION ... DISABLE)), altered and enabled again (unless
        O(enabled=false)), all in the same run. The publisher must be reachable, as the server alters the slot there.
        A subscription without a slot (C(slot_name = NONE)) cannot be changed; the module fails and says so.
    type: bool
    version_added: 0.1.0
  refresh:
    description:
      - Pick up tables added to (or removed from) the subscribed publications since the subscription was created or last
        refreshed, with C(ALTER SUBSCRIPTION ... REFRESH PUBLICATION).
      - To stay idempotent the module connects to the publisher with the subscription's connection string, reads
        C(pg_publication_tables) (read-only) and refreshes only when that set of tables differs from the subscription's
        tables (C(pg_subscription_rel)); check mode makes the same comparison.
      - Needs an enabled subscription. Not needed when O(publications) changes, which refreshes anyway.
    type: bool
    default: false
    version_added: 0.1.0
  skip_lsn:
    description:
      - Finish LSN of a remote transaction the apply worker must skip (C(ALTER SUBSCRIPTION ... SKIP)), to get past a
        conflict. PostgreSQL reports it in the server log (C(finished at 0/14C0378)). PostgreSQL 15 or later.
      - Not changed when the subscription already has this skip LSN, nor when the subscription has already applied
        past it (its replication origin is beyond the LSN); RV(skip) tells which.
      - The skip is run before O(enabled=true) so a subscription disabled by O(disable_on_error) resumes past the conflict.
    type: str
    version_added: 0.1.0
  drop_slot:
    description:
      - With O(state=absent), V(true) drops the slot on the publisher with the subscription, which fails when the
        publisher cannot be reached.
      - V(false) disables the subscription, detaches it from its slot (C(slot_name = NONE)) and drops it without
        contacting the publisher; the slot stays on the publisher and must be dropped there
        (M(pgha.replication.pg_replication_slot)) or it retains WAL.
    type: bool
    default: true
    version_added: 0.1.0
  wait:
    description:
      - Wait until every table of the subscription is ready (C(pg_subscription_rel) state V(r)), i.e. its initial copy
        is done and it is replicated by the apply worker. Needs an enabled subscription. Not done in check mode.
      - When the publisher is checked (see O(connection)), publications that publish no table fail the module, in
        both modes - there would be nothing to wait for.
    type: bool
    default: false
    version_added: 0.1.0
  wait_timeout:
    description:
      - Seconds to wait with O(wait=true); the module then fails and lists each table's state.
    type: int
    default: 300
    version_added: 0.1.0
attributes:
  check_mode:
    description:
      - Can run in check mode and predict the same changes, queries and diff as a real run, and fails where the real
        run would - the publisher is checked in both modes (see O(connection)).
      - Check mode connects to the publisher (read-only) when the subscription would be created or its connection or
        publications changed, and with O(refresh=true) to compare the tables.
  diff_mode:
    description: Returns the subscription's managed attributes before and after in RV(diff); passwords are masked.
notes:
  - Run it on the subscriber. Creating or dropping a subscription needs superuser (or C(pg_create_subscription) on
    PostgreSQL 16); reading the stored connection string needs superuser.
  - The tables must exist on the subscriber with the same names before the subscription (or the refresh) is created.
  - Before a statement that carries the password (C(CREATE SUBSCRIPTION), C(ALTER SUBSCRIPTION ... CONNECTION)), the
    module sets for its own session C(track_activities=off), so that no other session sees the statement in
    C(pg_stat_activity) while it runs (C(CREATE SUBSCRIPTION) waits for the slot on the publisher), and
    C(log_statement), C(log_min_error_statement), C(log_min_duration_statement), C(log_min_duration_sample),
    C(log_transaction_sample_rate) (and C(pg_stat_statements.track_utility) when that extension is loaded) so that the
    statement is not written to the server log, even when it fails; it resets them right after. The settings are made
    for the session, not a transaction, because C(CREATE SUBSCRIPTION) that creates a slot cannot run in one.
  - These settings need superuser, or on PostgreSQL 15 and later the C(SET) privilege on each of them
    (C(GRANT SET ON PARAMETER)). A role that may not change them cannot hide the password, so the module fails
    before anything is changed, in both modes.
  - Concurrent identical runs converge. In apply mode a run takes an advisory lock on the subscription's name (in its
    database) before reading it, so a second run waits and finds what the first one made. When the subscription is
    created or dropped by someone else between the read and the change (C(already exists), a unique violation on
    C(pg_subscription_subname_index), C(does not exist)), the module reads it again - no change when it is now as
    asked, otherwise a failure saying it was changed concurrently.
seealso:
  - module: pgha.replication.pg_replication_slot
  - module: pgha.replication.pg_replication_info
  - name: CREATE SUBSCRIPTION
    description: PostgreSQL documentation of the subscription options.
    link: https://www.postgresql.org/docs/current/sql-createsubscription.html
  - name: Logical replication conflicts
    description: How to find the finish LSN of a failing transaction and skip it.
    link: https://www.postgresql.org/docs/current/logical-replication-conflicts.html
'''

EXAMPLES = r'''
- name: Subscribe to the publication app_pub, following the primary after a failover
  pgha.replication.pg_subscription:
    name: app_sub
    login_db: app
    publications: [app_pub]
    connection:
      host: [10.0.0.11, 10.0.0.12]
      port: 5432
      dbname: app
      user: replicator
      password: "{{ replicator_password }}"
      target_session_attrs: read-write
      sslmode: require
    disable_on_error: true
    wait: true
  become: true
  become_user: postgres

- name: Pick up tables added to the publication since
  pgha.replication.pg_subscription:
    name: app_sub
    login_db: app
    refresh: true
  become: true
  become_user: postgres

- name: Skip the conflicting transaction and resume
  pgha.replication.pg_subscription:
    name: app_sub
    login_db: app
    skip_lsn: 0/14C0378
    enabled: true
  become: true
  become_user: postgres

- name: Drop a subscription whose publisher is gone (the slot stays on the publisher)
  pgha.replication.pg_subscription:
    name: app_sub
    login_db: app
    state: absent
    drop_slot: false
  become: true
  become_user: postgres
'''

RETURN = r'''
subscription:
  description:
    - The subscription after the run (predicted in check mode), or V(null) when it does not exist.
    - Attributes the server does not have (for example RV(subscription.origin) before PostgreSQL 16) are V(null).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the subscription.
      type: str
      sample: app_sub
    owner:
      description: Owner of the subscription.
      type: str
      sample: postgres
    enabled:
      description: Whether the subscription is enabled.
      type: bool
      sample: true
    publications:
      description: Subscribed publications.
      type: list
      elements: str
      sample: [app_pub]
    connection:
      description: The stored connection string parsed into libpq keywords; C(password) and C(sslpassword) are V(********).
      type: dict
      sample: {host: '10.0.0.11,10.0.0.12', port: '5432', dbname: app, user: replicator, password: '********'}
    slot_name:
      description: Slot on the publisher; V(null) when detached.
      type: str
      sample: app_sub
    binary:
      description: Binary transfer.
      type: bool
      sample: false
    streaming:
      description: V(off), V(on) or V(parallel).
      type: str
      sample: 'off'
    synchronous_commit:
      description: C(synchronous_commit) of the apply worker.
      type: str
      sample: 'off'
    disable_on_error:
      description: Whether an apply error disables the subscription.
      type: bool
      sample: true
    two_phase:
      description: Whether two-phase commit was requested.
      type: bool
      sample: false
    two_phase_state:
      description: V(disabled), V(pending) or V(enabled).
      type: str
      sample: disabled
    origin:
      description: V(any) or V(none) (PostgreSQL 16 or later).
      type: str
      sample: any
    failover:
      description: Whether the slot on the publisher is a failover slot (PostgreSQL 17 or later; V(null) before).
      type: bool
      sample: true
      version_added: 0.1.0
    skip_lsn:
      description: LSN of the remote transaction the apply worker will skip; V(null) when none.
      type: str
      sample: null
tables:
  description: The subscription's tables (C(pg_subscription_rel)); an empty list when it does not exist.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Schema-qualified table name.
      type: str
      sample: public.orders
    state:
      description: State letter - V(i), V(d), V(f), V(s) or V(r).
      type: str
      sample: r
    state_name:
      description: The state in words - V(initialize), V(data copy), V(finished table copy), V(synchronized), V(ready).
      type: str
      sample: ready
    lsn:
      description: Remote LSN of the state change (V(null) in some states).
      type: str
      sample: 0/1A2B3C8
worker:
  description: The apply worker (C(pg_stat_subscription)), or V(null) when it does not run.
  returned: always
  type: dict
  contains:
    pid:
      description: Process ID of the apply worker.
      type: int
      sample: 4242
    received_lsn:
      description: Last WAL location received.
      type: str
      sample: 0/1A2B3C8
    latest_end_lsn:
      description: Last WAL location reported to the publisher.
      type: str
      sample: 0/1A2B3C8
    last_msg_receipt_time:
      description: When the last message from the publisher was received (ISO 8601).
      type: str
      sample: '2025-01-01T12:00:00.000000+00:00'
stats:
  description: Error counters (C(pg_stat_subscription_stats), PostgreSQL 15 or later), or V(null).
  returned: always
  type: dict
  contains:
    apply_error_count:
      description: Errors of the apply worker since the statistics were reset.
      type: int
      sample: 0
    sync_error_count:
      description: Errors during initial table copies.
      type: int
      sample: 0
    stats_reset:
      description: When the counters were last reset.
      type: str
      sample: null
skip:
  description: What became of O(skip_lsn).
  returned: when O(skip_lsn) is set and the subscription exists
  type: dict
  contains:
    lsn:
      description: The requested LSN, normalised.
      type: str
      sample: 0/14C0378
    action:
      description:
        - V(set) - the skip was set by this run; V(pending) - it was already set and not reached yet;
          V(passed) - the subscription had already applied or skipped past it, nothing done.
      type: str
      sample: set
    origin_lsn:
      description: Remote LSN up to which the subscription had applied before the run.
      type: str
      sample: 0/14C0300
queries:
  description: The statements run, or that would run in check mode, with passwords masked.
  returned: always
  type: list
  elements: str
  sample: ["ALTER SUBSCRIPTION \"app_sub\" SET PUBLICATION \"app_pub\", \"new_pub\" WITH (refresh = true)"]
diff:
  description: The subscription's managed attributes before and after, passwords masked.
  returned: when diff mode is enabled
  type: dict
  contains:
    before:
      description: Attributes before the run.
      type: dict
      sample: {state: absent}
    after:
      description: Attributes after the run.
      type: dict
      sample: {state: present, enabled: true, publications: [app_pub]}
'''

import re

from ansible_collections.pgha.replication.plugins.module_utils._conninfo import (
    SECRET_KEYS,
    build_conninfo,
    mask_conninfo,
)
from ansible_collections.pgha.replication.plugins.module_utils._converge import converge, lock_object
from ansible_collections.pgha.replication.plugins.module_utils._errors import MASK
from ansible_collections.pgha.replication.plugins.module_utils._module import IF_SET, ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._postgres import (
    Conflict,
    POSTGRES,
    InvalidInput,
    Unsupported,
    connect,
    fetch_one,
    server_facts,
)
from ansible_collections.pgha.replication.plugins.module_utils._sql import apply, assignments, fixed, show, statement
from ansible_collections.pgha.replication.plugins.module_utils._subscriptions import (
    check_may_hide,
    hidden,
    hiding_settings,
    read_origin_lsn,
    read_publisher,
    read_stats,
    read_subscription,
    read_tables,
    read_worker,
    wait_ready,
)
from ansible_collections.pgha.replication.plugins.module_utils._sql_input import validate_name

LSN_RE = re.compile(r'^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$')
KEYWORD_RE = re.compile(r'^[a-z_]+$')

# Keywords with their own suboption of `connection`, in the order they are written in the connection string.
CONNECTION_KEYS = ('host', 'port', 'dbname', 'user', 'password', 'sslmode', 'sslrootcert', 'connect_timeout',
                   'target_session_attrs', 'application_name')
# libpq connection keywords accepted in connection_extra (PostgreSQL 17's list; the publisher's libpq may know fewer).
LIBPQ_KEYWORDS = frozenset((
    'hostaddr', 'passfile', 'require_auth', 'channel_binding', 'client_encoding', 'options',
    'fallback_application_name', 'keepalives', 'keepalives_idle', 'keepalives_interval', 'keepalives_count',
    'tcp_user_timeout', 'gssencmode', 'sslnegotiation', 'sslcompression', 'sslcert', 'sslkey', 'sslcertmode', 'sslcrl',
    'sslcrldir', 'sslsni', 'requirepeer', 'ssl_min_protocol_version', 'ssl_max_protocol_version', 'krbsrvname',
    'gsslib', 'gssdelegation', 'service', 'load_balance_hosts',
))
SYNC_COMMIT_VALUES = ('off', 'local', 'remote_write', 'remote_apply', 'on')
BOOL_WORDS = {'true': 'on', 'yes': 'on', 'on': 'on', '1': 'on', 'false': 'off', 'no': 'off', 'off': 'off', '0': 'off'}
# Options set with ALTER SUBSCRIPTION ... SET (...), in this order, with the minimum server version.
SET_OPTIONS = (('slot_name', 0), ('binary', 140000), ('streaming', 140000), ('synchronous_commit', 0),
               ('disable_on_error', 150000), ('origin', 160000))
MANAGED_KEYS = ('enabled', 'publications', 'connection', 'slot_name', 'binary', 'streaming', 'synchronous_commit',
                'disable_on_error', 'two_phase', 'origin', 'failover')

# Statement kinds the run looks for in a plan.
CONNECTION = 'connection'
SKIP = 'skip'


# ---------------------------------------------------------------------------------------------------------------------
# LSNs and on/off words (pure)

def normalize_lsn(value):
    """'0/014c0378' -> '0/14C0378'; raises InvalidInput. Pure."""
    match = LSN_RE.match(value or '')
    if not match:
        raise InvalidInput("invalid skip_lsn %r: expected an LSN like 0/14C0378" % (value,))
    return '%X/%X' % (int(match.group(1), 16), int(match.group(2), 16))


def lsn_int(value):
    high, low = value.split('/')
    return (int(high, 16) << 32) + int(low, 16)


def _on_off(value, option):
    if value is None:
        return None
    word = BOOL_WORDS.get(str(value).lower())
    if word is None:
        raise InvalidInput('%s must be on or off, not %r' % (option, value))
    return word


# ---------------------------------------------------------------------------------------------------------------------
# Parameters (pure)

def desired_connection(params):
    """The desired connection as an ordered list of (keyword, str value), or None when not managed. Pure."""
    conn = params.get('connection')
    extra = params.get('connection_extra')
    if conn is None and extra is None:
        return None
    pairs = []
    for key in CONNECTION_KEYS:
        value = (conn or {}).get(key)
        if value is None:
            continue
        if key in ('host', 'port'):
            value = ','.join(str(item).strip() for item in value)
        pairs.append((key, str(value)))
    for key in sorted(extra or {}):
        value = extra[key]
        if value is None:
            continue
        if isinstance(value, bool):
            value = '1' if value else '0'
        pairs.append((key, str(value)))
    return pairs


def validate_params(params):
    """Check values and combinations the argument spec cannot express. Pure; raises InvalidInput."""
    validate_name(params['name'], 'name', 'subscription name')
    if params.get('slot_name') is not None:
        validate_name(params['slot_name'], 'slot_name', 'slot_name')
        if params['slot_name'] == 'none':
            # The server reads slot_name = 'none' as NONE (no slot), which needs enabled=false and create_slot=false.
            raise InvalidInput("slot_name: invalid slot_name 'none': the server takes it for NONE (no slot); "
                               'use drop_slot=false with state=absent to detach a subscription from its slot')
    pubs = params.get('publications')
    if pubs is not None:
        if not pubs:
            raise InvalidInput('publications must not be empty')
        for index, pub in enumerate(pubs):
            validate_name(pub, 'publications[%d]' % index, 'publication name')
    for key in sorted(params.get('connection_extra') or {}):
        if key in ('password', 'sslpassword'):
            raise InvalidInput('connection_extra must not hold %s: use connection.password (sslpassword is not supported; '
                               'use an unencrypted client key readable by the server only)' % key)
        if key in CONNECTION_KEYS:
            raise InvalidInput('connection_extra.%s: set connection.%s instead' % (key, key))
        if not KEYWORD_RE.match(key) or key not in LIBPQ_KEYWORDS:
            raise InvalidInput('connection_extra: %r is not a libpq connection keyword' % (key,))
    pairs = desired_connection(params)
    if pairs is not None and not pairs:
        raise InvalidInput('connection and connection_extra set no keyword: give at least connection.host and connection.dbname')
    for key, value in pairs or []:
        if '\x00' in value:
            raise InvalidInput('connection value of %s must not contain NUL characters' % key)
        if key in ('host', 'port') and (not value or any(not part for part in value.split(','))):
            raise InvalidInput('connection.%s must not hold empty entries' % key)
    conn = params.get('connection') or {}
    if conn.get('port') and conn.get('host') and len(conn['port']) not in (1, len(conn['host'])):
        raise InvalidInput('connection.port needs one port, or one per host (%d hosts, %d ports)'
                           % (len(conn['host']), len(conn['port'])))
    streaming = params.get('streaming')
    if streaming is not None and str(streaming).lower() != 'parallel':
        _on_off(streaming, 'streaming')
    sync = params.get('synchronous_commit')
    if sync is not None and str(sync).lower() not in SYNC_COMMIT_VALUES and str(sync).lower() not in BOOL_WORDS:
        raise InvalidInput('synchronous_commit must be one of %s, not %r' % (', '.join(SYNC_COMMIT_VALUES), sync))
    if params.get('skip_lsn') is not None:
        if normalize_lsn(params['skip_lsn']) == '0/0':
            raise InvalidInput('skip_lsn must not be 0/0')
    if params.get('wait_timeout') is not None and params['wait_timeout'] < 0:
        raise InvalidInput('wait_timeout must be 0 or more')


def desired_from_params(params):
    """Build the desired-state dict the planner works from. Pure (expects validated params)."""
    streaming = params.get('streaming')
    if streaming is not None:
        streaming = 'parallel' if str(streaming).lower() == 'parallel' else _on_off(streaming, 'streaming')
    sync = params.get('synchronous_commit')
    if sync is not None:
        sync = str(sync).lower()
        sync = sync if sync in SYNC_COMMIT_VALUES else BOOL_WORDS[sync]
    pairs = desired_connection(params)
    return dict(
        name=params['name'],
        state=params.get('state') or 'present',
        publications=list(params['publications']) if params.get('publications') is not None else None,
        connection=dict(pairs) if pairs is not None else None,
        connection_pairs=pairs,
        enabled=params.get('enabled'),
        slot_name=params.get('slot_name'),
        create_slot=params.get('create_slot'),
        copy_data=params.get('copy_data'),
        binary=params.get('binary'),
        streaming=streaming,
        synchronous_commit=sync,
        disable_on_error=params.get('disable_on_error'),
        two_phase=params.get('two_phase'),
        origin=params.get('origin'),
        failover=params.get('failover'),
        refresh=bool(params.get('refresh')),
        skip_lsn=normalize_lsn(params['skip_lsn']) if params.get('skip_lsn') else None,
        drop_slot=params.get('drop_slot', True) is not False,
        wait=bool(params.get('wait')),
    )


# ---------------------------------------------------------------------------------------------------------------------
# Planner (pure)

def _check_supported(desired, version):
    needs = [('binary', 140000, 14), ('streaming', 140000, 14), ('disable_on_error', 150000, 15), ('two_phase', 150000, 15),
             ('skip_lsn', 150000, 15), ('origin', 160000, 16), ('failover', 170000, 17)]
    for option, minimum, major in needs:
        if desired.get(option) is not None and version < minimum:
            raise Unsupported('%s needs PostgreSQL %d or later (the subscriber runs %d); nothing was changed'
                              % (option, major, version // 10000))
    if desired.get('streaming') == 'parallel' and version < 160000:
        raise Unsupported('streaming=parallel needs PostgreSQL 16 or later; use streaming=on')


def check_creatable(desired):
    """Refuse a desired state that cannot create the subscription. Pure; raises InvalidInput."""
    name = desired['name']
    missing = [opt for opt in ('publications', 'connection') if desired.get(opt) is None]
    if missing:
        raise InvalidInput("subscription '%s' does not exist: set %s to create it" % (name, ' and '.join(missing)))
    if desired['skip_lsn'] is not None:
        raise InvalidInput("subscription '%s' does not exist: skip_lsn applies to an existing subscription" % name)
    if desired['wait'] and desired['enabled'] is False:
        raise InvalidInput('wait=true needs enabled=true (a disabled subscription never synchronizes)')


def plan(current, desired, server, publisher_tables=None, subscribed_tables=None, origin_lsn=None):
    """Turn (current subscription or None, desired, server facts) into a list of Steps. Pure.

    ``publisher_tables`` (set of 'schema.table' published for the subscription, read from the publisher) and
    ``subscribed_tables`` (set of the subscription's tables) are only used with refresh=true; ``origin_lsn`` (the
    remote LSN the subscription has applied up to) only with skip_lsn. Raises InvalidInput, Conflict, Unsupported.
    """
    name = desired['name']
    version = server['version_num']
    if desired['state'] == 'absent':
        if current is None:
            return []
        if desired['drop_slot'] or current.get('slot_name') is None:
            return [statement('DROP SUBSCRIPTION {0}', [name])]
        steps = []
        if current.get('enabled'):
            steps.append(statement('ALTER SUBSCRIPTION {0} DISABLE', [name]))
        steps.append(statement('ALTER SUBSCRIPTION {0} SET (slot_name = NONE)', [name]))
        steps.append(statement('DROP SUBSCRIPTION {0}', [name]))
        return steps

    _check_supported(desired, version)

    if current is None:
        check_creatable(desired)
        pairs = desired['connection_pairs']
        shown_pairs = [(key, MASK if key in SECRET_KEYS else value) for key, value in pairs]
        options = [option for option in ('enabled', 'slot_name', 'create_slot', 'copy_data', 'binary', 'streaming',
                                         'synchronous_commit', 'disable_on_error', 'two_phase', 'origin', 'failover')
                   if desired.get(option) is not None]
        values = tuple(desired[option] for option in options)
        template = fixed('CREATE SUBSCRIPTION {0} CONNECTION %s PUBLICATION {1}')
        if options:
            template = fixed(template, ' WITH (', assignments(options), ')')
        return [statement(template, [name, list(desired['publications'])], (build_conninfo(pairs),) + values,
                          (build_conninfo(shown_pairs),) + values, kind=CONNECTION)]

    steps = []
    if desired['two_phase'] is not None and bool(current.get('two_phase')) != desired['two_phase']:
        have = str(bool(current.get('two_phase'))).lower()
        raise Conflict("subscription '%s' has two_phase=%s; two_phase applies at creation only: set two_phase=%s, or run "
                       "with state=absent first to recreate it" % (name, have, have))

    if desired['connection'] is not None and desired['connection'] != current.get('conninfo'):
        pairs = desired['connection_pairs']
        shown_pairs = [(key, MASK if key in SECRET_KEYS else value) for key, value in pairs]
        steps.append(statement('ALTER SUBSCRIPTION {0} CONNECTION %s', [name], (build_conninfo(pairs),),
                               (build_conninfo(shown_pairs),), kind=CONNECTION))

    changes = [option for option, _minimum in SET_OPTIONS
               if desired.get(option) is not None and desired[option] != current.get(option)]
    if changes:
        steps.append(statement(fixed('ALTER SUBSCRIPTION {0} SET (', assignments(changes), ')'), [name],
                               tuple(desired[option] for option in changes)))

    if desired['skip_lsn'] is not None and skip_action(current, desired['skip_lsn'], origin_lsn) == 'set':
        steps.append(statement('ALTER SUBSCRIPTION {0} SKIP (lsn = %s)', [name], (desired['skip_lsn'],), kind=SKIP))

    enabled_now = bool(current.get('enabled'))
    enabled_after = enabled_now if desired['enabled'] is None else desired['enabled']
    enabled_mid = enabled_now
    if desired['failover'] is not None and desired['failover'] != bool(current.get('failover')):
        if (desired['slot_name'] or current.get('slot_name')) is None:
            raise Conflict("subscription '%s' has no slot (slot_name = NONE), and failover is a property of its slot; "
                           "set slot_name to give it one, or leave failover unset" % name)
        if enabled_mid:
            # PostgreSQL alters failover only on a disabled subscription (it alters the slot on the publisher).
            steps.append(statement('ALTER SUBSCRIPTION {0} DISABLE', [name]))
            enabled_mid = False
        steps.append(statement('ALTER SUBSCRIPTION {0} SET (failover = %s)', [name], (desired['failover'],)))
    if enabled_after and not enabled_mid:
        steps.append(statement('ALTER SUBSCRIPTION {0} ENABLE', [name]))

    copy = desired['copy_data'] is not None
    copy_values = (desired['copy_data'],) if copy else ()
    can_refresh = enabled_now or enabled_after
    publications_change = (desired['publications'] is not None
                           and sorted(set(desired['publications'])) != sorted(set(current.get('publications') or [])))
    refreshes = (publications_change and can_refresh) or (
        not publications_change and desired['refresh'] and publisher_tables is not None
        and subscribed_tables is not None and set(publisher_tables) != set(subscribed_tables))
    if refreshes and current.get('two_phase_state') == 'enabled' and desired['copy_data'] is not False:
        # The server refuses a refresh that copies data once two-phase commit is enabled (PostgreSQL 15 and later).
        raise Conflict("subscription '%s' has two-phase commit enabled, and the server refuses a refresh that copies "
                       "data (a change of publications, or refresh=true); set copy_data=false (the new tables' "
                       "existing rows are then not copied), or recreate the subscription" % name)
    if publications_change:
        if can_refresh:
            steps.append(statement(fixed('ALTER SUBSCRIPTION {0} SET PUBLICATION {1} WITH (refresh = true',
                                         ', copy_data = %s' if copy else '', ')'),
                                   [name, list(desired['publications'])], copy_values or None))
        else:
            steps.append(statement('ALTER SUBSCRIPTION {0} SET PUBLICATION {1} WITH (refresh = false)',
                                   [name, list(desired['publications'])]))
    elif desired['refresh']:
        if publisher_tables is None or subscribed_tables is None:
            raise Unsupported('refresh=true needs the publisher tables to compare with the subscription')
        if set(publisher_tables) != set(subscribed_tables):
            if not can_refresh:
                raise Conflict("subscription '%s' is disabled and cannot be refreshed; set enabled=true to refresh it" % name)
            steps.append(statement(fixed('ALTER SUBSCRIPTION {0} REFRESH PUBLICATION', ' WITH (copy_data = %s)' if copy else ''),
                                   [name], copy_values or None))

    if enabled_mid and not enabled_after:
        steps.append(statement('ALTER SUBSCRIPTION {0} DISABLE', [name]))
    if desired['wait'] and not enabled_after:
        raise Conflict("wait=true needs an enabled subscription; subscription '%s' is disabled: set enabled=true" % name)
    return steps


def skip_action(current, skip_lsn, origin_lsn):
    """'passed' when the subscription applied past ``skip_lsn``, 'pending' when already set, else 'set'. Pure."""
    if origin_lsn and lsn_int(origin_lsn) > lsn_int(skip_lsn):
        return 'passed'
    if current.get('skip_lsn') == skip_lsn:
        return 'pending'
    return 'set'


def predict(current, desired, server, steps, current_user):
    """The subscription dict (internal form, with conninfo) expected after ``steps`` run. Pure."""
    if not steps:
        return current
    if desired['state'] == 'absent':
        return None
    version = server['version_num']
    if current is None:
        return dict(
            name=desired['name'], owner=current_user,
            enabled=desired['enabled'] is not False,
            publications=list(desired['publications']),
            conninfo=dict(desired['connection']),
            slot_name=desired['slot_name'] or desired['name'],
            binary=bool(desired['binary']) if version >= 140000 else None,
            streaming=(desired['streaming'] or 'off') if version >= 140000 else None,
            synchronous_commit=desired['synchronous_commit'] or 'off',
            disable_on_error=bool(desired['disable_on_error']) if version >= 150000 else None,
            two_phase=bool(desired['two_phase']) if version >= 150000 else None,
            two_phase_state=('pending' if desired['two_phase'] else 'disabled') if version >= 150000 else None,
            origin=(desired['origin'] or 'any') if version >= 160000 else None,
            failover=bool(desired['failover']) if version >= 170000 else None,
            skip_lsn=None,
        )
    after = dict(current)
    if desired['connection'] is not None:
        after['conninfo'] = dict(desired['connection'])
    for option, _minimum in SET_OPTIONS:
        if desired.get(option) is not None:
            after[option] = desired[option]
    if desired['failover'] is not None:
        after['failover'] = desired['failover']
    if desired['enabled'] is not None:
        after['enabled'] = desired['enabled']
    if desired['publications'] is not None and sorted(set(desired['publications'])) != sorted(set(current['publications'])):
        after['publications'] = list(desired['publications'])
    if desired['skip_lsn'] is not None and any(st.kind == SKIP for st in steps):
        after['skip_lsn'] = desired['skip_lsn']
    return after


def public_view(sub):
    """The subscription as returned: conninfo parsed and masked. Pure."""
    if sub is None:
        return None
    view = dict((key, value) for key, value in sub.items() if key not in ('conninfo', 'oid'))
    view['connection'] = mask_conninfo(sub.get('conninfo'))
    return view


def diff_view(sub, password_changed=False):
    """The managed attributes shown in the diff, passwords masked. Pure."""
    if sub is None:
        return {'state': 'absent'}
    view = {'state': 'present'}
    for key in MANAGED_KEYS:
        if key == 'connection':
            view[key] = mask_conninfo(sub.get('conninfo'))
            if password_changed and view[key] is not None:
                view[key]['password'] = MASK + ' (changed)'
        elif key == 'publications':
            view[key] = sorted(sub.get('publications') or [])
        else:
            view[key] = sub.get(key)
    return view


def password_changed(current, desired):
    if current is None or desired['connection'] is None or desired['state'] == 'absent':
        return False
    return (current.get('conninfo') or {}).get('password') != desired['connection'].get('password')


# ---------------------------------------------------------------------------------------------------------------------
# The publisher (pure; read by _subscriptions.read_publisher) and the run

def publisher_to_check(current, desired):
    """(connection pairs, publications) to check on the publisher before this run, or None. Pure.

    The publisher is checked when the subscription is created, when its connection or its publications change, and
    for refresh=true (which compares the publisher's tables with the subscription's).
    """
    if desired['state'] != 'present':
        return None
    if current is None:
        if desired['connection_pairs'] is None or desired['publications'] is None:
            return None  # plan() refuses it and names the missing option
        return desired['connection_pairs'], desired['publications']
    connection_changes = desired['connection'] is not None and desired['connection'] != current.get('conninfo')
    publications_change = (desired['publications'] is not None
                           and sorted(set(desired['publications'])) != sorted(set(current['publications'])))
    if not (connection_changes or publications_change or desired['refresh']):
        return None
    pairs = desired['connection_pairs'] if desired['connection_pairs'] is not None else list(current['conninfo'].items())
    return pairs, desired['publications'] if desired['publications'] is not None else current['publications']


def check_publisher(publisher, desired, creating):
    """Refuse what the subscription would fail on, or be useless with, on that publisher. Pure.

    Raises InvalidInput or Conflict; called in both modes, so check mode fails where the real run would.
    """
    where = 'database %s on the publisher' % publisher['database']
    if publisher['missing']:
        missing = publisher['missing']
        raise InvalidInput('publications: %s %s not exist in %s; nothing was changed'
                           % (', '.join("'%s'" % pub for pub in missing), 'does' if len(missing) == 1 else 'do', where))
    if not publisher['replication']:
        raise InvalidInput('connection.user: role %s on the publisher has neither REPLICATION nor superuser, which a '
                           'subscription needs to stream changes; nothing was changed' % publisher['user'])
    if desired['wait'] and not publisher['tables']:
        raise InvalidInput('wait=true: publications %s publish no table in %s, so there is nothing to wait for; add '
                           'tables to them first, or set wait=false; nothing was changed'
                           % (', '.join(desired['publications'] or []), where))
    if creating and desired['create_slot'] is not False and publisher['slot'] is not None:
        raise Conflict("slot_name: replication slot '%s' already exists on the publisher, and creating the subscription "
                       "would create it; set create_slot=false to use that slot, set slot_name to another name, or drop "
                       "it on the publisher (pgha.replication.pg_replication_slot state=absent); nothing was changed"
                       % (desired['slot_name'] or desired['name']))


def run(module, conn, secrets):
    """Read, plan, apply (unless check mode), re-read. Returns the result dict. Appends stored secrets to ``secrets``."""
    params = module.params
    desired = desired_from_params(params)
    server = server_facts(conn)
    current_user = fetch_one(conn, 'SELECT current_user AS u')['u']
    if not module.check_mode:
        # Serialise concurrent runs on this subscription; the second one reads what the first one made.
        lock_object(conn, 'subscription', desired['name'])
    current = read_subscription(conn, desired['name'], server)
    if current is not None:
        for key in SECRET_KEYS:
            if current['conninfo'].get(key):
                secrets.append(current['conninfo'][key])

    publisher_tables = subscribed_tables = origin_lsn = None
    if desired['state'] == 'present':
        # What can be refused without the publisher is refused first (plan() checks the same again).
        _check_supported(desired, server['version_num'])
        if current is None:
            check_creatable(desired)
    publisher = publisher_to_check(current, desired)
    if publisher is not None:
        pairs, publications = publisher
        facts = read_publisher(pairs, publications, desired['slot_name'] or desired['name'], params['connect_timeout'],
                               secrets)
        check_publisher(facts, desired, current is None)
        publisher_tables = facts['tables']
    if current is not None and desired['state'] == 'present':
        if desired['refresh']:
            subscribed_tables = set(t['name'] for t in read_tables(conn, current['oid']))
        if desired['skip_lsn'] is not None:
            origin_lsn = read_origin_lsn(conn, current['oid'])

    steps = plan(current, desired, server, publisher_tables, subscribed_tables, origin_lsn)
    settings = hiding_settings(conn, server)
    if any(st.carries_secret for st in steps):
        check_may_hide(conn, server, settings)
    changed_password = bool(steps) and password_changed(current, desired) and any(
        st.kind == CONNECTION for st in steps)
    if module.check_mode:
        queries = [show(conn, st) for st in steps]
        after = predict(current, desired, server, steps, current_user)
        tables = read_tables(conn, current['oid']) if current is not None and after is not None else []
    else:
        settled = dict(desired, refresh=False, skip_lsn=None)
        queries, raced = converge(lambda: apply(conn, steps, execute_one=hidden(settings)),
                                  lambda: read_subscription(conn, desired['name'], server),
                                  lambda sub: not plan(sub, settled, server), "subscription '%s'" % desired['name'])
        if raced:
            steps = queries  # made (or dropped) by someone else as asked: only what ran before the race changed
        after = read_subscription(conn, desired['name'], server)
        tables = read_tables(conn, after['oid']) if after is not None else []
        if after is not None and desired['wait'] and desired['state'] == 'present':
            tables = wait_ready(conn, after['oid'], params['wait_timeout'])
            after = read_subscription(conn, desired['name'], server)
    oid = after.get('oid') if after is not None else None
    result = dict(
        changed=bool(steps),
        subscription=public_view(after),
        tables=tables,
        worker=read_worker(conn, oid),
        stats=read_stats(conn, oid, server),
        queries=queries,
    )
    if desired['skip_lsn'] is not None and current is not None and desired['state'] == 'present':
        result['skip'] = dict(lsn=desired['skip_lsn'], action=skip_action(current, desired['skip_lsn'], origin_lsn),
                              origin_lsn=origin_lsn)
    if module._diff:
        result['diff'] = dict(before=diff_view(current), after=diff_view(after, changed_password))
    return result


ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    publications=dict(type='list', elements='str'),
    connection=dict(type='dict', options=dict(
        host=dict(type='list', elements='str'),
        port=dict(type='list', elements='int'),
        dbname=dict(type='str'),
        user=dict(type='str'),
        password=dict(type='str', no_log=True),
        sslmode=dict(type='str', choices=['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']),
        sslrootcert=dict(type='str'),
        connect_timeout=dict(type='int'),
        target_session_attrs=dict(type='str', choices=['any', 'read-write', 'read-only', 'primary', 'standby',
                                                       'prefer-standby']),
        application_name=dict(type='str'),
    )),
    connection_extra=dict(type='dict'),
    enabled=dict(type='bool'),
    slot_name=dict(type='str'),
    create_slot=dict(type='bool'),
    copy_data=dict(type='bool'),
    binary=dict(type='bool'),
    streaming=dict(type='str'),
    synchronous_commit=dict(type='str'),
    disable_on_error=dict(type='bool'),
    two_phase=dict(type='bool'),
    origin=dict(type='str', choices=['any', 'none']),
    failover=dict(type='bool'),
    refresh=dict(type='bool', default=False),
    skip_lsn=dict(type='str'),
    drop_slot=dict(type='bool', default=True),
    wait=dict(type='bool', default=False),
    wait_timeout=dict(type='int', default=300),
)


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, groups=[POSTGRES], validate=validate_params, report=dict(queries=[], tables=IF_SET))
    frame.run(lambda module: run(module, frame.closing(connect(module.params)), frame.secrets))


if __name__ == '__main__':
    main()
