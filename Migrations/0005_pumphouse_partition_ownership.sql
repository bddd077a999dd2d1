-- Partitioned caches: each writer keeps, per partition, the ownership in effect at its
-- next offset (the latest ownership claim's term and owner, 0 and NULL before any), in
-- the same row and transaction as the offset. A writer that resumes from its offset
-- then fences a deposed owner's changes exactly as one that read the whole log would.
-- Not the writer's own fencing epoch (`epoch`), which fences writer members.
ALTER TABLE pumphouse_writer_offsets
    ADD COLUMN ownership_term  bigint NOT NULL DEFAULT 0,
    ADD COLUMN partition_owner text;
