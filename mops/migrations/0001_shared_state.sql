-- The state several gateway replicas and workers share (mops/database.py).

-- Per-lead data keys, wrapped under a master key, and the erasure log (mops/keystore_pg.py).
CREATE TABLE data_keys (
    key_id text PRIMARY KEY,
    lead_id text NOT NULL,
    kek_id text NOT NULL,
    wrapped bytea NOT NULL,
    created_at text NOT NULL
);
CREATE INDEX data_keys_by_lead ON data_keys (lead_id, created_at);

CREATE TABLE erasures (
    erasure_id text PRIMARY KEY,
    lead_id text NOT NULL,
    requested_at text NOT NULL,
    requested_by text NOT NULL,
    reason text NOT NULL,
    completed_at text,
    steps jsonb NOT NULL,
    destroyed_key_ids jsonb NOT NULL
);
CREATE INDEX erasures_by_lead ON erasures (lead_id, requested_at);

-- Token buckets of the gateway's rate limits (API keys, public forms): one row per bucket,
-- updated in one statement, so every replica spends from the same bucket.
CREATE TABLE rate_buckets (
    bucket text PRIMARY KEY,
    tokens double precision NOT NULL,
    updated_at timestamptz NOT NULL,
    allowed boolean NOT NULL
);

-- Webhook signatures and event ids already received, each until it expires.
CREATE TABLE replay_keys (
    cache text NOT NULL,
    key text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (cache, key)
);
CREATE INDEX replay_keys_by_expiry ON replay_keys (expires_at);

-- Browser sessions signed out before their expiry.
CREATE TABLE revoked_sessions (
    sid text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_sessions_by_expiry ON revoked_sessions (expires_at);
