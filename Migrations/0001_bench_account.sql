-- The synthetic bench.Account cache (Schemas/bench.Account), used by load generation,
-- benchmarks and fault tests. Columns follow deploy/local/pipeline.yaml's mapping.
CREATE TABLE bench_account (
    id            text        PRIMARY KEY,
    owner         text        NOT NULL,
    balance_cents bigint      NOT NULL,
    currency      char(3)     NOT NULL,
    status        text        NOT NULL CHECK (status IN ('open', 'frozen', 'closed')),
    updated_at    timestamptz NOT NULL
);
