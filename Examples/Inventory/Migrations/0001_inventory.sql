-- The example's own tables; Pumphouse's bookkeeping comes with `pumphouse migrate`
-- (or PipelineConfiguration.migrate, which the writer runs at start).
CREATE TABLE inventory_item (
    sku   text   PRIMARY KEY,
    name  text   NOT NULL,
    stock bigint NOT NULL
);
-- Written by the custom mapper: every time an item's stock falls below 5.
CREATE TABLE inventory_low_stock (
    sku      text        NOT NULL,
    stock    bigint      NOT NULL,
    noted_at timestamptz NOT NULL DEFAULT now()
);
