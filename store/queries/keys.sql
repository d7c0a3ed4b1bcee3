-- API keys (server/auth). Only the SHA-256 of a key's secret is stored.

-- name: keys_insert
INSERT INTO api_keys (key_id, secret_hash, permissions, accounts, description)
VALUES ($1, $2, $3::text[], $4::text[], $5)
RETURNING created_at

-- name: keys_active
-- What every server keeps in memory to check keys without a query per call.
SELECT key_id, secret_hash, permissions, accounts
FROM api_keys
WHERE revoked_at IS NULL

-- name: keys_list
SELECT key_id, permissions, accounts, description, created_at, revoked_at
FROM api_keys
ORDER BY created_at, key_id

-- name: keys_revoke
-- Revoking twice keeps the first revocation time.
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE key_id = $1
RETURNING revoked_at

-- name: keys_notify
-- Sent on commit: every server reloads its keys (server/auth/cache.py).
SELECT pg_notify('sendingip_keys', $1::text)

-- name: keys_lock
-- Serialises the first-start bootstrap of several servers; readers are not blocked.
LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE

-- name: keys_any
SELECT EXISTS (SELECT 1 FROM api_keys)
