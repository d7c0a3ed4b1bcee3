-- Introspection of the public schema, for the test that migrations give exactly the
-- schema the code expects (store/schema.snapshot). Output is sorted and free of OIDs.

-- name: schema_columns
SELECT c.relname AS table_name, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS default_expr, a.attgenerated::text AS generated
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attname

-- name: schema_constraints
SELECT c.relname AS table_name, pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
ORDER BY c.relname, pg_get_constraintdef(k.oid)

-- name: schema_indexes
SELECT tablename AS table_name, indexname AS index_name, indexdef AS definition
FROM pg_indexes
WHERE schemaname = 'public'
ORDER BY tablename, indexname

-- name: schema_sequences
SELECT sequencename AS name, data_type::text AS type
FROM pg_sequences
WHERE schemaname = 'public'
ORDER BY sequencename
