-- One line per subscription of the current database: state, worker, table sync states and
-- error counts. The connection string (which holds the password) is never read.
SELECT format('subscription %s (%s): %s, worker %s; tables: %s; errors: apply %s, sync %s%s',
              s.subname, current_database(),
              CASE WHEN s.subenabled THEN 'enabled' ELSE 'disabled' END,
              CASE WHEN w.pid IS NOT NULL THEN 'running' ELSE 'not running' END,
              coalesce((SELECT string_agg(format('%I.%I', n.nspname, c.relname) || ' '
                                          || CASE r.srsubstate WHEN 'r' THEN 'ready' WHEN 's' THEN 'synchronized'
                                                               WHEN 'd' THEN 'copying' WHEN 'f' THEN 'copied'
                                                               WHEN 'i' THEN 'initializing' ELSE r.srsubstate::text END,
                                          ', ' ORDER BY n.nspname, c.relname)
                          FROM pg_subscription_rel AS r
                          JOIN pg_class AS c ON c.oid = r.srrelid
                          JOIN pg_namespace AS n ON n.oid = c.relnamespace
                         WHERE r.srsubid = s.oid), 'none'),
              coalesce(st.apply_error_count, 0), coalesce(st.sync_error_count, 0),
              CASE WHEN s.subskiplsn <> '0/0' THEN format('; skipping the transaction that finishes at %s', s.subskiplsn)
                   ELSE '' END) AS line
  FROM pg_subscription AS s
  LEFT JOIN pg_stat_subscription AS w ON w.subid = s.oid AND w.relid IS NULL
  LEFT JOIN pg_stat_subscription_stats AS st ON st.subid = s.oid
 WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
 ORDER BY s.subname
