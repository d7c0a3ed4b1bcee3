-- History partitioned by day (issue 16): daily_history and daily_outcomes become tables
-- PARTITION BY RANGE (day) with one partition per day (<table>_YYYYMMDD) and a DEFAULT
-- partition (<table>_default).
--
-- Why: retention drops a whole day's partition (no DELETE of millions of rows, no bloat,
-- no vacuum behind it), and the rebalancer's window read touches only the window's
-- partitions. Why a DEFAULT partition: an insert must never fail for want of a partition
-- (a router's flush or an import would lose history), so a day nobody created a partition
-- for lands there; history_partition_ensure moves such rows into the day's partition when
-- it creates it. The rebalancer creates partitions ahead each run and drops those wholly
-- older than the window plus its margin (store/queries/worker.sql worker_ensure_partitions,
-- worker_drop_partitions).
--
-- The rows are moved in this migration's transaction: days from 372 days back (the
-- longest window, 365, plus the 7-day margin) get a partition each, older days the
-- DEFAULT partition (the next retention deletes them). The primary key keeps `day` first,
-- so the routers' ON CONFLICT (day, account_id, ip, mailbox_provider) is unchanged.

-- Creates the partition of `parent` ('daily_history' or 'daily_outcomes') for day `d`
-- unless it exists, moving the rows of that day out of the DEFAULT partition first (a
-- partition cannot be attached while DEFAULT holds rows of its range). Returns whether it
-- created one. Locks: the parent in SHARE UPDATE EXCLUSIVE mode (inserts into other
-- partitions go on) and the DEFAULT partition in ACCESS EXCLUSIVE mode, for the time of
-- the move. Callers set lock_timeout: a failure leaves everything as it was, and inserts
-- keep landing in DEFAULT meanwhile.
CREATE FUNCTION history_partition_ensure(parent text, d date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := parent || '_' || to_char(d, 'YYYYMMDD');
    fallback text := parent || '_default';
BEGIN
    IF parent NOT IN ('daily_history', 'daily_outcomes') THEN
        RAISE EXCEPTION 'history_partition_ensure: unknown table %', parent;
    END IF;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('LOCK TABLE ONLY %I IN SHARE UPDATE EXCLUSIVE MODE', parent);
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', fallback);
    IF to_regclass(part) IS NOT NULL THEN  -- created meanwhile by another run
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
    -- The range as a constraint lets ATTACH skip its scan of the new table.
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (day >= %L AND day < %L)', part, part || '_day', d, d + 1);
    EXECUTE format(
        'WITH moved AS (DELETE FROM %I WHERE day = %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
        fallback, d, part
    );
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, part, d, d + 1);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_day');
    RETURN true;
END
$$;

-- Retention: drops the day partitions of `parent` wholly before `keep_from` and deletes
-- the DEFAULT partition's rows before it. Returns how many partitions it dropped. Dropping
-- a partition takes an ACCESS EXCLUSIVE lock on the parent for a moment: callers set
-- lock_timeout, and a run that cannot get it leaves the rest for the next one.
CREATE FUNCTION history_partitions_drop_before(parent text, keep_from date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    dropped integer := 0;
BEGIN
    IF parent NOT IN ('daily_history', 'daily_outcomes') THEN
        RAISE EXCEPTION 'history_partitions_drop_before: unknown table %', parent;
    END IF;
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent::regclass
          AND c.relname ~ ('^' || parent || '_[0-9]{8}$')
          AND to_date(right(c.relname, 8), 'YYYYMMDD') < keep_from
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    EXECUTE format('DELETE FROM %I WHERE day < %L', parent || '_default', keep_from);
    RETURN dropped;
END
$$;

ALTER TABLE daily_history RENAME TO daily_history_unpartitioned;
ALTER INDEX daily_history_pkey RENAME TO daily_history_unpartitioned_pkey;
ALTER INDEX daily_history_account_day RENAME TO daily_history_unpartitioned_account_day;
CREATE TABLE daily_history (
    day               date NOT NULL,
    account_id        text NOT NULL,
    ip                text NOT NULL DEFAULT '',
    mailbox_provider  text NOT NULL,
    imported          bigint NOT NULL DEFAULT 0 CONSTRAINT daily_history_imported_check CHECK (imported >= 0),
    counted           bigint NOT NULL DEFAULT 0 CONSTRAINT daily_history_counted_check CHECK (counted >= 0),
    PRIMARY KEY (day, account_id, ip, mailbox_provider)
) PARTITION BY RANGE (day);
CREATE INDEX daily_history_account_day ON daily_history (account_id, day);
CREATE TABLE daily_history_default PARTITION OF daily_history DEFAULT;

ALTER TABLE daily_outcomes RENAME TO daily_outcomes_unpartitioned;
ALTER INDEX daily_outcomes_pkey RENAME TO daily_outcomes_unpartitioned_pkey;
ALTER INDEX daily_outcomes_account_day RENAME TO daily_outcomes_unpartitioned_account_day;
CREATE TABLE daily_outcomes (
    day               date NOT NULL,
    account_id        text NOT NULL,
    ip                text NOT NULL DEFAULT '',
    mailbox_provider  text NOT NULL,
    delivered         bigint NOT NULL DEFAULT 0 CONSTRAINT daily_outcomes_delivered_check CHECK (delivered >= 0),
    deferred          bigint NOT NULL DEFAULT 0 CONSTRAINT daily_outcomes_deferred_check CHECK (deferred >= 0),
    bounced           bigint NOT NULL DEFAULT 0 CONSTRAINT daily_outcomes_bounced_check CHECK (bounced >= 0),
    complained        bigint NOT NULL DEFAULT 0 CONSTRAINT daily_outcomes_complained_check CHECK (complained >= 0),
    throttled         bigint NOT NULL DEFAULT 0 CONSTRAINT daily_outcomes_throttled_check CHECK (throttled >= 0),
    PRIMARY KEY (day, account_id, ip, mailbox_provider)
) PARTITION BY RANGE (day);
CREATE INDEX daily_outcomes_account_day ON daily_outcomes (account_id, day);
CREATE TABLE daily_outcomes_default PARTITION OF daily_outcomes DEFAULT;

SELECT history_partition_ensure('daily_history', d)
FROM (SELECT DISTINCT day AS d FROM daily_history_unpartitioned WHERE day >= current_date - 372) AS days;
SELECT history_partition_ensure('daily_outcomes', d)
FROM (SELECT DISTINCT day AS d FROM daily_outcomes_unpartitioned WHERE day >= current_date - 372) AS days;

INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported, counted)
SELECT day, account_id, ip, mailbox_provider, imported, counted FROM daily_history_unpartitioned;
INSERT INTO daily_outcomes (day, account_id, ip, mailbox_provider, delivered, deferred, bounced, complained, throttled)
SELECT day, account_id, ip, mailbox_provider, delivered, deferred, bounced, complained, throttled
FROM daily_outcomes_unpartitioned;
DROP TABLE daily_history_unpartitioned;
DROP TABLE daily_outcomes_unpartitioned;
