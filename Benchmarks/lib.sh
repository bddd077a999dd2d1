# Shared by the system benchmark scripts (sourced, not run): the local stack's
# environment, a fresh in-memory broker, and a pipeline file of the benchmark's own.
#
# The benchmarks run on the stack's memory-storage broker: on the main one, the S3
# emulator behind the log sets the pace, not the broker. It is restarted for each
# script (and each rate of the latency runs), since the memory engine slows down as it
# accumulates old topics.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source Benchmarks/build.sh
eval "$(deploy/local/stack env)"
# fresh_broker: an empty in-memory broker, for each part that wants one.
# PUMPHOUSE_BENCH_BROKERS=HOST:PORT runs against a broker started by hand instead, left
# as it is (to try a part while others use the stack's memory broker).
fresh_broker() {
    [ -z "${PUMPHOUSE_BENCH_BROKERS:-}" ] || return 0
    deploy/local/stack memory-broker-stop >/dev/null
    deploy/local/stack memory-broker-start >/dev/null
}
fresh_broker
export PUMPHOUSE_KAFKA_BROKERS=${PUMPHOUSE_BENCH_BROKERS:-127.0.0.1:$((${PUMPHOUSE_STACK_KAFKA_PORT:-19092} + 1))}
python=${PUMPHOUSE_STACK_DIR:-.stack}/venv/bin/python
bin=$build_dir/pumphouse
bench_bin=$build_dir/pumphouse-bench
# A part that needs other tools sets bench_tools before sourcing this file.
for tool in ${bench_tools:-$bin $bench_bin}; do
    [ -x "$tool" ] || { echo "build first: swift build -c $build_configuration --product $(basename "$tool")" >&2; exit 2; }
done
bench_dir=$(mktemp -d)
# Processes started in the background (`bench_start`), and the names of the pipelines
# made (`bench_pipeline`), for the cleanup on any exit.
bench_pids=()
bench_names=()
bench_cleanup() {
    local status=$?
    for pid in "${bench_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    # KEEP=1 leaves everything for a look afterwards: the logs, the pipelines' topics
    # and tables (dead letters included), and the memory broker holding the topics.
    if [ -z "${KEEP:-}" ]; then
        for name in "${bench_names[@]}"; do bench_drop "$name" 2>/dev/null || true; done
        [ -n "${PUMPHOUSE_BENCH_BROKERS:-}" ] || deploy/local/stack memory-broker-stop >/dev/null
    fi
    if [ "$status" -ne 0 ]; then
        echo "$(basename "$0") failed (exit $status); the last lines of its logs:" >&2
        tail -n 15 "$bench_dir"/*.log >&2 2>/dev/null || true
    fi
    if [ -n "${KEEP:-}" ]; then echo "kept: logs in $bench_dir, pipelines ${bench_names[*]:-none}, the memory broker" >&2; else rm -rf "$bench_dir"; fi
}
trap bench_cleanup EXIT

# bench_start LOG COMMAND...: runs COMMAND in the background with its output in
# $bench_dir/LOG, and leaves its pid in $started.
bench_start() {
    local log=$1
    shift
    "$@" >"$bench_dir/$log" 2>&1 &
    started=$!
    bench_pids+=("$started")
}

# bench_stop PID: stops a process bench_start started and waits for it.
bench_stop() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local kept=()
    for pid in "${bench_pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
    bench_pids=("${kept[@]}")
}

# port_free PORT: fails, naming the port, if something already listens on it (a process
# left over would answer in place of the one about to start).
port_free() {
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then
        echo "port $1 is in use; stop what listens there (a benchmark process left over?) and run again" >&2
        exit 1
    fi
}

psql() { PGOPTIONS="-c client_min_messages=warning" command psql "$PUMPHOUSE_POSTGRES_URL" -qtAX "$@"; }
# The harness logs only errors here: its figures and readable lines are what the run shows.
harness() { PUMPHOUSE_LOG_LEVEL=${BENCH_LOG_LEVEL:-error} "$bench_bin" "$@"; }

# pipeline_head NAME FETCH_WAIT_MS: the start of a benchmark's pipeline file, up to its
# caches: the broker, its consumers waiting up to FETCH_WAIT_MS for data (Kafka answers
# a waiting fetch as soon as data arrives; the local broker holds it for the whole
# fetch.wait.max.ms, 500 ms by default), the stack's PostgreSQL, the schemas and
# migrations, and member topic NAME.members. For trying client settings by hand (make
# bench sets none): BENCH_FETCH_MIN_BYTES sets every consumer's fetch.min.bytes,
# BENCH_LINGER_MS every producer's linger.ms, BENCH_GAP_RECHECK_MS the consumers'
# kafka.offset_gap_recheck_ms (0 turns reading gaps again off) and BENCH_KAFKA_PROPERTIES
# any more properties, as YAML flow-mapping entries (e.g.
# 'max.in.flight.requests.per.connection: "5"').
# kafka_properties FETCH_WAIT_MS: the kafka section's property mappings, each setting
# given only to the kind of client it concerns (so no client logs librdkafka's warning
# about a property of the other kind); an earlier build (EARLIER_BINARIES, the
# rebalancing run's rolling upgrade) knows only `properties`, so there all go in it.
kafka_properties() {
    local consumer="fetch.wait.max.ms: \"$1\"${BENCH_FETCH_MIN_BYTES:+, fetch.min.bytes: \"$BENCH_FETCH_MIN_BYTES\"}"
    local producer="${BENCH_LINGER_MS:+linger.ms: \"$BENCH_LINGER_MS\"}"
    if [ -n "${EARLIER_BINARIES:-}" ]; then
        echo "  properties: { $consumer${producer:+, $producer}${BENCH_KAFKA_PROPERTIES:+, $BENCH_KAFKA_PROPERTIES} }"
        return
    fi
    echo "  consumer_properties: { $consumer }"
    [ -z "$producer" ] || echo "  producer_properties: { $producer }"
    [ -z "${BENCH_KAFKA_PROPERTIES:-}" ] || echo "  properties: { $BENCH_KAFKA_PROPERTIES }"
}
pipeline_head() {
    cat <<YAML
kafka:
  brokers: $PUMPHOUSE_KAFKA_BROKERS
${BENCH_GAP_RECHECK_MS:+  offset_gap_recheck_ms: $BENCH_GAP_RECHECK_MS
}$(kafka_properties "$2")
postgres:
  url: { env: PUMPHOUSE_POSTGRES_URL }
schemas: $PWD/Schemas
migrations: $PWD/Migrations
member_topic: $1.members
YAML
}

# bench_pipeline NAME [LOAD] [WRITER_PORT]: writes $bench_dir/NAME.yaml, a pipeline of one bench.Account
# cache on topic NAME.account, mapped to table NAME_account (created here, empty, shaped
# like bench_account), applied by writer NAME, read by a reader on NAME.reads. LOAD is
# where a unit with no peer loads from (reverse_pump, the default, or topic); the writer
# serves /readyz on WRITER_PORT if given. Its writer fetches unpaced unless
# BENCH_WRITER_FETCH_INTERVAL_MS sets fetch_interval_ms (paced, it drains a backlog more
# slowly: docs/benchmarks.md, paced fetches).
bench_pipeline() {
    local name=$1 load=${2:-reverse_pump} port=${3:-}
    bench_names+=("$name")
    { pipeline_head "$name" "${BENCH_FETCH_WAIT_MS:-5}"; cat <<YAML; } > "$bench_dir/$name.yaml"
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
    fetch_interval_ms: ${BENCH_WRITER_FETCH_INTERVAL_MS:-0}
${port:+    http_port: $port}
YAML
    "$bin" migrate --config "$bench_dir/$name.yaml" >>"$bench_dir/setup.log" 2>&1
    psql -c "DROP TABLE IF EXISTS ${name}_account; CREATE TABLE ${name}_account (LIKE bench_account INCLUDING ALL)"
    "$bin" topics create --config "$bench_dir/$name.yaml" >>"$bench_dir/setup.log" 2>&1 || { tail -n 20 "$bench_dir/setup.log" >&2; exit 1; }
}

# bench_drop NAME: the pipeline's tables (NAME_*) and writer state.
bench_drop() {
    local tables
    tables=$(psql -c "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE '${1}\_%'")
    [ -z "$tables" ] || psql -c "DROP TABLE IF EXISTS $tables"
    psql -c "DELETE FROM pumphouse_writer_offsets WHERE writer = '$1'; DELETE FROM pumphouse_writer_origins WHERE writer = '$1'; DELETE FROM pumphouse_writer_sequence_gaps WHERE writer = '$1'"
}

# wait_until WHAT SECONDS PID CONDITION...: polls CONDITION (a command) every 0.1 s until
# it holds; fails naming WHAT if PID exits first or SECONDS pass.
wait_until() {
    local what=$1 seconds=$2 pid=$3 deadline=$((SECONDS + $2))
    shift 3
    until "$@"; do
        kill -0 "$pid" 2>/dev/null || { echo "gave up waiting for $what: its process exited" >&2; exit 1; }
        [ "$SECONDS" -lt "$deadline" ] || { echo "gave up waiting for $what after $seconds s" >&2; exit 1; }
        sleep 0.1
    done
}

# writer_progress WRITER PID TARGET SECONDS: waits, at most SECONDS, until the writer
# named WRITER (its process PID) has committed TARGET contracts (the sum of its ledger's
# next offsets), and prints "FIRST STARTED ENDED": the contracts its first commit held,
# and the times (seconds since the epoch, PostgreSQL's clock on this machine) at which
# that commit and the one reaching TARGET were first seen. One PostgreSQL session looks
# every 5 ms, so each end of the window is late by at most that much; a psql started for
# each look 100 ms apart (wait_until's way) could see either end 100 ms or more late,
# 6% of the 1.7 s that `make bench`'s backlog takes, and spent a sixth of a core doing it
# (alternating runs did not show that cost in the writer's rate).
writer_progress() {
    local writer=$1 pid=$2 target=$3 seconds=$4 out watcher
    out=$(mktemp "$bench_dir/writer-progress.XXXXXX")
    psql >"$out" 2>&1 <<SQL &
CREATE FUNCTION pg_temp.writer_progress(writer_name text, target bigint, deadline timestamptz) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE applied bigint; first bigint; started timestamptz;
BEGIN
    LOOP
        -- The writer creates its ledger when it starts.
        IF to_regclass('pumphouse_writer_offsets') IS NOT NULL THEN
            SELECT COALESCE(sum(next_offset), 0) INTO applied FROM pumphouse_writer_offsets WHERE writer = writer_name AND next_offset >= 0;
            IF applied > 0 AND started IS NULL THEN
                first := applied;
                started := clock_timestamp();
            END IF;
            IF applied >= target THEN
                RETURN first || ' ' || extract(epoch FROM started) || ' ' || extract(epoch FROM clock_timestamp());
            END IF;
        END IF;
        IF clock_timestamp() > deadline THEN RETURN 'timeout ' || COALESCE(applied, 0); END IF;
        PERFORM pg_sleep(0.005);
    END LOOP;
END \$\$;
SELECT pg_temp.writer_progress('$writer', $target, clock_timestamp() + interval '$seconds seconds');
SQL
    watcher=$!
    while kill -0 "$watcher" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            kill "$watcher" 2>/dev/null
            echo "gave up waiting for the writer to apply $target contracts: its process exited" >&2
            exit 1
        fi
        sleep 0.2
    done
    wait "$watcher" || { echo "watching the writer's ledger failed: $(cat "$out")" >&2; exit 1; }
    case $(cat "$out") in
        timeout*) echo "gave up waiting for the writer to apply $target contracts after $seconds s (applied: $(cut -d' ' -f2 "$out"))" >&2; exit 1 ;;
    esac
    cat "$out"
}

# ready PORT PID: waits up to 5 minutes for /readyz on PORT, served by PID.
ready() {
    wait_until "/readyz on port $1" 300 "$2" curl -sf -o /dev/null "http://127.0.0.1:$1/readyz"
}
