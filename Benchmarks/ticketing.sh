# Sourced by the benchmark scripts that run the ticketing sample (after lib.sh).
#
# ticketing_pipeline NAME WRITER_PORT: writes $bench_dir/NAME.yaml, the sample's three
# caches on topics NAME.* (PARTITIONS each, 4 unless set; seats and sales partitioned together
# with one backup, as in the demo), mapped to tables NAME_* shaped like the sample's (Migrations/0004), applied
# by writer NAME serving /readyz on WRITER_PORT; migrates, creates the tables (empty)
# and the topics. The consumers wait up to 100 ms for data (BENCH_FETCH_WAIT_MS: this
# broker holds a waiting fetch for the whole wait) and the writer batches up to 100 ms
# (BENCH_WRITER_WAIT_MS): no request waits on replication or on PostgreSQL, and at 5
# and 10 ms the idle pipeline's fetches alone kept a third of a core busy in the broker.
# The writer paces its fetches (fetch_interval_ms, BENCH_WRITER_FETCH_INTERVAL_MS or
# BENCH_FETCH_INTERVAL_MS, 50 unless set; 0 turns it off and leaves the setting out, so
# a build from before it reads the file: EARLIER_BINARIES in Benchmarks/rebalance/run),
# as the on-sale's units do. Producers linger 5 ms (BENCH_LINGER_MS, 5 unless set; set
# empty for the data pump's own 1 ms), as deploy/local/pipeline.yaml has them: on this
# broker fewer, larger batches cost it less on every later fetch (docs/benchmarks.md,
# "A 5 ms linger for the on-sale").
ticketing_pipeline() {
    local name=$1 port=$2 yaml=$bench_dir/$1.yaml table partitions=${PARTITIONS:-4}
    local writer_interval=${BENCH_WRITER_FETCH_INTERVAL_MS:-${BENCH_FETCH_INTERVAL_MS:-50}}
    bench_names+=("$name")
    { BENCH_LINGER_MS=${BENCH_LINGER_MS-5} pipeline_head "$name" "${BENCH_FETCH_WAIT_MS:-100}"; cat <<YAML; } > "$yaml"
caches:
  ticketing.Concert:
    topic: $name.concert
    partitions: $partitions
    load: topic
    mapping:
      table: ${name}_concert
      columns:
        id: id
        name: name
        venue: venue
        starts_at: { field: startsAt, transform: epoch_ms_to_timestamp }
        price_cents: { field: price, type: bigint }
        seats: { field: seats, type: integer }
        sold: { field: sold, type: bigint }
  ticketing.Seat:
    topic: $name.seat
    partitions: $partitions
    load: topic
    mode: partitioned
    backups: 1
    co_partitioned_with: [ticketing.Sale]
    mapping:
      table: ${name}_seat
      columns:
        id: id
        concert: concert
        seat_row: row
        number: { field: number, type: integer }
        price_cents: { field: price, type: bigint }
        holder: holder
        hold_until: { field: holdUntil, transform: epoch_ms_to_timestamp }
  ticketing.Sale:
    topic: $name.sale
    partitions: $partitions
    load: topic
    mode: partitioned
    backups: 1
    mapping:
      table: ${name}_sale
      columns:
        seat: seat
        order_id: order
        concert: concert
        buyer: buyer
        price_cents: { field: price, type: bigint }
        unit: unit
        sold_at: { field: soldAt, transform: epoch_ms_to_timestamp }
writers:
  $name:
    caches: [ticketing.Concert, ticketing.Seat, ticketing.Sale]
    batch: { max_messages: 5000, max_wait_ms: ${BENCH_WRITER_WAIT_MS:-100} }
$([ "$writer_interval" = 0 ] || echo "    fetch_interval_ms: $writer_interval")
    http_port: $port
YAML
    "$bin" migrate --config "$yaml" >>"$bench_dir/setup.log" 2>&1 || { tail -n 20 "$bench_dir/setup.log" >&2; exit 1; }
    for table in concert seat sale; do
        psql -c "DROP TABLE IF EXISTS ${name}_$table; CREATE TABLE ${name}_$table (LIKE ticketing_$table INCLUDING ALL)"
    done
    "$bin" topics create --config "$yaml" >>"$bench_dir/setup.log" 2>&1 || { tail -n 20 "$bench_dir/setup.log" >&2; exit 1; }
}
