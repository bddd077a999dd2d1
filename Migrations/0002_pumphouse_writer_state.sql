-- Data writers' own state, written in the same transaction as the rows they apply.

-- The next offset to apply per partition. A member that takes a partition bumps its
-- epoch; a commit names the epoch it claimed and changes nothing if another member has
-- claimed the partition since (fencing).
CREATE TABLE pumphouse_writer_offsets (
    writer      text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    epoch       bigint      NOT NULL,
    owner       text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (writer, topic, partition)
);

-- The highest sequence number applied per origin and partition. An origin's contracts
-- reach a partition in sequence order, so anything at or below this is a duplicate
-- (a resent spool, a retried publish) and has no second effect.
CREATE TABLE pumphouse_writer_origins (
    writer    text    NOT NULL,
    topic     text    NOT NULL,
    partition integer NOT NULL,
    origin    text    NOT NULL,
    max_seq   bigint  NOT NULL,
    PRIMARY KEY (writer, topic, partition, origin)
);
