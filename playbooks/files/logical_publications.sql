-- One line per publication of the current database: its scope, tables with row filters
-- (as PostgreSQL deparses them) and column lists, and schemas.
SELECT format('publication %s (%s): %s', p.pubname, current_database(),
              CASE WHEN p.puballtables THEN 'all tables'
                   ELSE coalesce(nullif(concat_ws('; ',
                          (SELECT string_agg(format('%I.%I', n.nspname, c.relname)
                                             || coalesce(' (' || (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                                                                    FROM pg_attribute AS a
                                                                   WHERE a.attrelid = r.prrelid AND a.attnum = ANY (r.prattrs)) || ')', '')
                                             || coalesce(' WHERE ' || pg_get_expr(r.prqual, r.prrelid), ''),
                                             '; ' ORDER BY n.nspname, c.relname)
                             FROM pg_publication_rel AS r
                             JOIN pg_class AS c ON c.oid = r.prrelid
                             JOIN pg_namespace AS n ON n.oid = c.relnamespace
                            WHERE r.prpubid = p.oid),
                          (SELECT 'tables in schema ' || string_agg(quote_ident(n.nspname), ', ' ORDER BY n.nspname)
                             FROM pg_publication_namespace AS pn
                             JOIN pg_namespace AS n ON n.oid = pn.pnnspid
                            WHERE pn.pnpubid = p.oid)), ''), 'no tables')
              END
              || format(' [publish %s]', concat_ws(', ', CASE WHEN p.pubinsert THEN 'insert' END,
                                                   CASE WHEN p.pubupdate THEN 'update' END,
                                                   CASE WHEN p.pubdelete THEN 'delete' END,
                                                   CASE WHEN p.pubtruncate THEN 'truncate' END))) AS line
  FROM pg_publication AS p
 ORDER BY p.pubname
