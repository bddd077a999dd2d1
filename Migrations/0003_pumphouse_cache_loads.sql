-- Cold starts of named caches. The unit that wins a cache's load lock records here,
-- in the transaction that releases the lock, where its load's answer starts on the
-- reverse-pump topic; the units that waited read the same answer instead of asking
-- the data readers again. A named cache is identified by its topic, so pipelines
-- that share a database and a contract do not share loads.
CREATE TABLE pumphouse_cache_loads (
    topic         text        NOT NULL,
    generation    bigint      NOT NULL,
    cache         text        NOT NULL,
    request_id    text        NOT NULL,
    reverse_topic text        NOT NULL,
    first_offset  bigint      NOT NULL,
    rows          bigint      NOT NULL,
    loaded_by     text        NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, generation)
);
