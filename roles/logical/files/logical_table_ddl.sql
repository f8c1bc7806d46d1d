-- For each table of the given publications (run on the source): its qualified name, a key
-- "<target database>:<qualified name>", and the DDL that creates it with the published
-- columns only (types and NOT NULL kept; the primary key kept when all its columns are
-- published; defaults, other constraints and indexes are not copied). %(publications)s is a
-- JSON array of publication names.
SELECT %(database)s || ':' || format('%%I.%%I', p.schemaname, p.tablename) AS key,
       format('%%I.%%I', p.schemaname, p.tablename) AS qualified,
       %(database)s AS database,
       format('CREATE SCHEMA IF NOT EXISTS %%I', p.schemaname) AS schema_ddl,
       format('CREATE TABLE %%I.%%I (%%s%%s)', p.schemaname, p.tablename,
              (SELECT string_agg(format('%%I %%s%%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                        CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY a.attnum)
                 FROM pg_attribute AS a
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY (p.attnames)),
              (SELECT ', ' || pg_get_constraintdef(k.oid)
                 FROM pg_constraint AS k
                WHERE k.conrelid = c.oid AND k.contype = 'p'
                  AND NOT EXISTS (SELECT 1
                                    FROM unnest(k.conkey) AS u (attnum)
                                    JOIN pg_attribute AS a2 ON a2.attrelid = c.oid AND a2.attnum = u.attnum
                                   WHERE NOT a2.attname = ANY (p.attnames)))) AS table_ddl
  FROM (SELECT DISTINCT schemaname, tablename, attnames
          FROM pg_publication_tables
         WHERE pubname IN (SELECT jsonb_array_elements_text(%(publications)s::jsonb))) AS p
  JOIN pg_namespace AS n ON n.nspname = p.schemaname
  JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = p.tablename
 ORDER BY 1
