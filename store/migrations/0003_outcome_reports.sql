-- (v2) Outcomes gain `throttled`: deferrals a provider answered with a rate limit (421, 4.7.x),
-- kept apart from other deferrals because they mean "slow down", not "bad mail".
ALTER TABLE daily_outcomes ADD COLUMN throttled bigint NOT NULL DEFAULT 0 CHECK (throttled >= 0);

-- (v2) ReportOutcomes is idempotent per report_id: the id is inserted in the same transaction
-- as the outcomes, so a report retried after a lost answer is recognised and not added twice.
-- Ids are needed only while a sender may still retry; the routers prune them after a week.
CREATE TABLE outcome_reports (
    report_id   text PRIMARY KEY CHECK (length(report_id) BETWEEN 1 AND 128),
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outcome_reports_applied_at ON outcome_reports (applied_at);
