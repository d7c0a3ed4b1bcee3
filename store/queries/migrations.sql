-- Bookkeeping of store/migrations. The runner holds migration_lock for the whole
-- transaction, so concurrent `sendingip migrate` runs apply each migration once.

-- name: migration_lock
SELECT pg_advisory_xact_lock(hashtext('sendingip.migrate'))

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)

-- name: applied_migrations
SELECT version, name FROM schema_migrations ORDER BY version

-- name: record_migration
INSERT INTO schema_migrations (version, name) VALUES ($1, $2)

-- name: migrations_table_exists
SELECT to_regclass('schema_migrations') IS NOT NULL
