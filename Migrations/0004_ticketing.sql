-- The concert-ticketing sample (Sources/Ticketing, Schemas/ticketing.*). Columns follow
-- deploy/local/pipeline.yaml's mappings. The sale's primary key is the seat: the writer
-- inserts a sale only where none exists (a create), so a seat has one sale at most.
CREATE TABLE ticketing_concert (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    venue       text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    price_cents bigint      NOT NULL CHECK (price_cents > 0),
    seats       integer     NOT NULL CHECK (seats > 0),
    sold        bigint      NOT NULL
);

CREATE TABLE ticketing_seat (
    id          text        PRIMARY KEY,
    concert     text        NOT NULL,
    seat_row    text        NOT NULL,
    number      integer     NOT NULL,
    price_cents bigint      NOT NULL,
    holder      text,
    hold_until  timestamptz
);
CREATE INDEX ticketing_seat_concert ON ticketing_seat (concert);

CREATE TABLE ticketing_sale (
    seat        text        PRIMARY KEY,
    order_id    text        NOT NULL UNIQUE,
    concert     text        NOT NULL,
    buyer       text        NOT NULL,
    price_cents bigint      NOT NULL,
    unit        text        NOT NULL,
    sold_at     timestamptz NOT NULL
);
CREATE INDEX ticketing_sale_concert ON ticketing_sale (concert);
