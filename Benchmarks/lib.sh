# Shared by the system benchmark scripts (sourced, not run): the local stack's
# environment, a fresh in-memory broker, and a pipeline file of the benchmark's own.
#
# The benchmarks run on the stack's memory-storage broker: on the main one, the S3
# emulator behind the log sets the pace, not the broker. It is restarted for each
# script, since the memory engine slows down as it accumulates old topics.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(deploy/local/stack env)"
deploy/local/stack memory-broker-stop >/dev/null
deploy/local/stack memory-broker-start >/dev/null
export PUMPHOUSE_KAFKA_BROKERS=127.0.0.1:$((${PUMPHOUSE_STACK_KAFKA_PORT:-19092} + 1))
python=${PUMPHOUSE_STACK_DIR:-.stack}/venv/bin/python
bin=.build/release/pumphouse
bench_bin=.build/release/pumphouse-bench
for tool in "$bin" "$bench_bin"; do
    [ -x "$tool" ] || { echo "build first: swift build -c release --product $(basename "$tool")" >&2; exit 2; }
done
bench_dir=$(mktemp -d)
bench_pids=()
bench_cleanup() {
    for pid in "${bench_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    deploy/local/stack memory-broker-stop >/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$bench_dir"
}
trap bench_cleanup EXIT

psql() { PGOPTIONS="-c client_min_messages=warning" command psql "$PUMPHOUSE_POSTGRES_URL" -qtAX "$@"; }
# The harness logs only errors here: its figures and readable lines are what the run shows.
harness() { PUMPHOUSE_LOG_LEVEL=${BENCH_LOG_LEVEL:-error} "$bench_bin" "$@"; }

# bench_pipeline NAME [LOAD] [WRITER_PORT]: writes $bench_dir/NAME.yaml, a pipeline of one bench.Account
# cache on topic NAME.account, mapped to table NAME_account (created here, empty, shaped
# like bench_account), applied by writer NAME, read by a reader on NAME.reads. LOAD is
# where a unit with no peer loads from (reverse_pump, the default, or topic); the writer
# serves /readyz on WRITER_PORT if given.
bench_pipeline() {
    local name=$1 load=${2:-reverse_pump} port=${3:-}
    cat > "$bench_dir/$name.yaml" <<YAML
kafka:
  brokers: $PUMPHOUSE_KAFKA_BROKERS
  # Kafka answers a waiting fetch as soon as data arrives; the local broker holds it for
  # the whole fetch.wait.max.ms (500 ms by default).
  properties: { fetch.wait.max.ms: "${BENCH_FETCH_WAIT_MS:-5}" }
postgres:
  url: { env: PUMPHOUSE_POSTGRES_URL }
schemas: $PWD/Schemas
migrations: $PWD/Migrations
member_topic: $name.members
caches:
  bench.Account:
    topic: $name.account
    partitions: 4
    load: $load
    mapping:
      table: ${name}_account
      columns:
        id: id
        owner: owner
        balance_cents: { field: balance, type: bigint }
        currency: currency
        status: status
        updated_at: { field: updatedAt, transform: epoch_ms_to_timestamp }
reader:
  request_topic: $name.reads
  group: $name-reader
  chunk_rows: 10000
writers:
  $name:
    caches: [bench.Account]
    batch: { max_messages: 30000, max_wait_ms: 20 }
${port:+    http_port: $port}
YAML
    "$bin" migrate --config "$bench_dir/$name.yaml" >>"$bench_dir/setup.log" 2>&1
    psql -c "DROP TABLE IF EXISTS ${name}_account; CREATE TABLE ${name}_account (LIKE bench_account INCLUDING ALL)"
    "$bin" topics create --config "$bench_dir/$name.yaml" >>"$bench_dir/setup.log" 2>&1 || { tail -n 20 "$bench_dir/setup.log" >&2; exit 1; }
}

# bench_drop NAME: the benchmark's table and writer state, once its figures are taken.
bench_drop() {
    psql -c "DROP TABLE IF EXISTS ${1}_account; DELETE FROM pumphouse_writer_offsets WHERE writer = '$1'; DELETE FROM pumphouse_writer_origins WHERE writer = '$1'"
}

# ready PORT: waits up to 5 minutes for /readyz on PORT.
ready() {
    for _ in $(seq 1 3000); do
        curl -sf -o /dev/null "http://127.0.0.1:$1/readyz" && return 0
        sleep 0.1
    done
    tail -n 20 "$bench_dir"/*.log >&2
    echo "nothing ready on port $1 after 5 minutes" >&2
    exit 1
}
