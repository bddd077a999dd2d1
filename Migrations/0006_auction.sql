-- The online-auction sample (Sources/Auctions, Schemas/auction.*). Columns follow
-- deploy/local/pipeline.yaml's mappings. A bid is only ever created and its key carries
-- its number, so an auction's bids are rows 1..n: (auction, number) is unique.
CREATE TABLE auction_auction (
    id                   text        PRIMARY KEY,
    title                text        NOT NULL,
    seller               text        NOT NULL,
    starting_price_cents bigint      NOT NULL CHECK (starting_price_cents > 0),
    increment_cents      bigint      NOT NULL CHECK (increment_cents > 0),
    ends_at              timestamptz NOT NULL
);

CREATE TABLE auction_bid (
    id           text        PRIMARY KEY,
    auction      text        NOT NULL,
    number       bigint      NOT NULL CHECK (number > 0),
    bidder       text        NOT NULL,
    amount_cents bigint      NOT NULL CHECK (amount_cents > 0),
    unit         text        NOT NULL,
    placed_at    timestamptz NOT NULL,
    UNIQUE (auction, number)
);

-- The analytics the bid history feeds, from the same topics: each auction's standing.
CREATE VIEW auction_standing AS
SELECT a.id,
       a.title,
       a.ends_at,
       count(b.id)              AS bids,
       count(DISTINCT b.bidder) AS bidders,
       max(b.amount_cents)      AS high_cents,
       max(b.placed_at)         AS last_bid_at
FROM auction_auction a
LEFT JOIN auction_bid b ON b.auction = a.id
GROUP BY a.id, a.title, a.ends_at;
