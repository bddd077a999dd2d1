"""Turns one `Benchmarks/run` into its table and JSON file.

    python3 Benchmarks/report.py MACHINE_FILE FIGURES_FILE OUT.json

MACHINE_FILE and FIGURES_FILE hold key=value lines (the machine's facts; the figures the
benchmark scripts printed). Prints the table, and writes OUT.json with every figure at
the top level and the machine under "machine" only if every headline figure is there;
otherwise it leaves OUT.json as it was, writes OUT.incomplete.json, and exits 1.
"""
import json
import math
import os
import sys

# (figure, what it is, unit, reference figure, what the reference is, target, met(value, reference))
ROWS = [
    ("writer_contracts_per_s", "writer, bench.Account backlog, 50% updates", "contracts/s",
     "writer_pg_limit_rows_per_s", "raw PostgreSQL: COPY into staging + one merge",
     ">= 0.8x the raw limit", lambda v, r: r and v >= 0.8 * r),
    ("writer_naive_contracts_per_s", "naive writer: one statement and commit per contract", "contracts/s",
     "writer_contracts_per_s", "the data writer", None, None),
    ("pump_contracts_per_s", "data pump, one unit, puts until all acknowledged", "contracts/s",
     "pump_raw_produce_per_s", "raw librdkafka produce of the same bytes", ">= 0.8x raw produce", lambda v, r: r and v >= 0.8 * r),
    ("replication_lag_p99_ms_100", "replication lag p99, 3 units, 100 changes/s", "ms",
     "broker_latency_p99_ms_100", "broker alone, same fan-out, p99", "<= 1.2x broker alone", lambda v, r: r and v <= 1.2 * r),
    ("replication_lag_p99_ms_1k", "replication lag p99, 3 units, 1k changes/s", "ms",
     "broker_latency_p99_ms_1k", "broker alone, same fan-out, p99", "<= 1.2x broker alone", lambda v, r: r and v <= 1.2 * r),
    ("replication_lag_p99_ms_10k", "replication lag p99, 3 units, 10k changes/s", "ms",
     "broker_latency_p99_ms_10k", "broker alone, same fan-out, p99", "<= 1.2x broker alone", lambda v, r: r and v <= 1.2 * r),
    ("replication_lag_p99_ms_50k", "replication lag p99, 3 units, 50k changes/s", "ms",
     "broker_latency_p99_ms_50k", "broker alone, same fan-out, p99", "<= 1.2x broker alone", lambda v, r: r and v <= 1.2 * r),
    ("writeback_latency_p99_ms_10k", "write-behind p99 (change to committed row), 10k/s", "ms",
     "replication_lag_p99_ms_10k", "replication lag p99", None, None),
    ("writeback_latency_p99_ms_50k", "write-behind p99 (change to committed row), 50k/s", "ms",
     "replication_lag_p99_ms_50k", "replication lag p99", None, None),
    ("rebuild_entities_per_s", "cold start through the reverse pump", "entities/s",
     "rebuild_pg_json_rows_per_s", "PostgreSQL producing the same rows as JSON", ">= 0.5x the reference", lambda v, r: r and v >= 0.5 * r),
    ("replay_contracts_per_s", "replay of a topic", "contracts/s",
     "replay_raw_consume_per_s", "bare librdkafka consumer, same topic", ">= 0.9x the bare consumer", lambda v, r: r and v >= 0.9 * r),
    ("cache_get_ns_median", "cache get, median", "ns", None, None, "<= 500 ns", lambda v, r: v <= 500),
    ("cache_put_ns_median", "cache put + spool + enqueue, median", "ns", None, None, "<= 3,000 ns", lambda v, r: v <= 3_000),
    ("cache_put_codable_ns_median", "cache put of a Codable entity converted by @CacheFields, median", "ns",
     "cache_put_ns_median", "the same put, fields converted by hand", "<= 1.5x hand-written", lambda v, r: r and v <= 1.5 * r),
    ("cache_put_codable_default_ns_median", "cache put of a CodableCacheEntity without @CacheFields, median", "ns",
     "cache_put_ns_median", "the same put, fields converted by hand", None, None),
    ("cache_put_ns_p99", "cache put + spool + enqueue, p99", "ns", None, None, "<= 25,000 ns", lambda v, r: v <= 25_000),
    ("cache_put_allocations", "cache put, allocations per put (median)", "mallocs",
     "produce_allocations", "librdkafka producing the same change alone (median)", "<= 4", lambda v, r: v <= 4),
    ("rss_mb_per_million_entities", "unit RSS per million entities", "MB", None, None, "<= 300 MB", lambda v, r: v <= 300),
    ("codec_ops_per_s", "codec encode+decode, 10 fields, one core", "ops/s", None, None, ">= 1M/s", lambda v, r: v >= 1_000_000),
    ("codec_allocations", "codec encode+decode, allocations per round trip (median)", "mallocs", None, None, None, None),
    ("replica_apply_per_s", "replica apply of decoded peer changes, one core", "changes/s", None, None, ">= 1M/s", lambda v, r: v >= 1_000_000),
    ("onsale_units_requests_per_s", "on-sale through the units, most sustained", "requests/s",
     "onsale_db_requests_per_s", "the database-first twin, same on-sale", ">= 2x the twin", lambda v, r: r and v >= 2 * r),
    ("onsale_db_requests_per_s", "on-sale, database-first twin (best pool), most sustained", "requests/s",
     "onsale_db_pgbench_tps", "pgbench, the twin's purchase, 16 clients", ">= 0.8x pgbench", lambda v, r: r and v >= 0.8 * r),
    ("onsale_bare_requests_per_s", "on-sale, bare ceiling (a dictionary), most sustained", "requests/s",
     "onsale_units_requests_per_s", "the units", None, None),
    ("onsale_units_p99_ms", "on-sale latency through the units, at the comparison rate", "ms",
     "onsale_db_p99_ms", "the twin at the same offered rate", None, None),
    ("onsale_units_drain_ms", "on-sale: last request to last sale in PostgreSQL", "ms", None, None, None, None),
    ("onsale_units_cpu_ms_per_request", "on-sale CPU per request: units, broker, writer and PostgreSQL", "ms",
     "onsale_db_cpu_ms_per_request", "the twin: its servers and PostgreSQL", None, None),
    ("onsale_units_cpu_ms_per_request_broker", "on-sale CPU per request: the broker's share", "ms",
     "onsale_units_cpu_ms_per_request_units", "the units' own share", None, None),
    ("failover_p99_ms", "failover: an owner killed (SIGKILL) to the first purchase its partition accepts again", "ms",
     "member_timeout_ms", "the member timeout (the default)", "<= member timeout + 1 s", lambda v, r: r and v <= r + 1000),
    ("failover_max_ms", "failover, the longest of the kills", "ms",
     "member_timeout_ms", "the member timeout (the default)", "<= member timeout + 1 s", lambda v, r: r and v <= r + 1000),
    ("partitioned_entity_share", "partitioned sales, 3 units, 1 backup: the largest unit's share of the sales", "of all",
     None, None, "0.60 to 0.73", lambda v, r: 0.60 <= v <= 0.73),
    ("partitioned_rss_mb", "partitioned sales, 3 units: the largest unit's resident memory", "MiB", None, None, None, None),
    ("rebalance_failed", "online rebalancing under load (a unit joins, then one leaves): requests failed after the client's retries", "requests",
     "rebalance_requests", "requests offered", "none", lambda v, r: v == 0),
    ("rebalance_join_p99_ms", "online rebalancing: latency of the requests due while the joiner took its share", "ms",
     "rebalance_steady_p99_ms", "p99 before the join, same run", None, None),
    ("rebalance_leave_p99_ms", "online rebalancing: latency of the requests due while the leaver's partitions moved", "ms",
     "rebalance_steady_p99_ms", "p99 before the join, same run", None, None),
    ("rebalance_leave_settled_ms", "online rebalancing: SIGTERM to the leaver until the others serve a settled routing table", "ms",
     "member_timeout_ms", "the member timeout (what a failover waits)", None, None),
    ("rebalance_kill_p99_ms", "online rebalancing: latency of the requests due while a killed unit's partitions failed over", "ms",
     "rebalance_kill_settled_ms", "the kill until the others serve a settled routing table", None, None),
    ("onsale_units_loadgen_cpu_percent", "on-sale load generator's CPU at the comparison rate", "% of a core",
     "onsale_db_loadgen_cpu_percent", "the same against the twin", None, None),
]
REQUIRED = [
    "writer_contracts_per_s", "writer_pg_limit_rows_per_s", "writer_naive_contracts_per_s", "pump_contracts_per_s",
    "pump_raw_produce_per_s", "replication_lag_p99_ms_10k", "writeback_latency_p99_ms_10k", "rebuild_entities_per_s",
    "replay_contracts_per_s", "cache_get_ns_median", "cache_put_ns_median", "rss_mb_per_million_entities", "codec_ops_per_s",
    "onsale_units_requests_per_s", "onsale_units_p50_ms", "onsale_units_p99_ms", "onsale_db_requests_per_s", "onsale_db_p50_ms",
    "onsale_db_p99_ms", "onsale_bare_requests_per_s", "onsale_db_pgbench_tps", "onsale_units_drain_ms",
    "replica_apply_per_s", "cache_put_ns_p99", "cache_put_allocations", "produce_allocations", "codec_allocations",
    "cache_put_codable_ns_median",
]

# The figures of Benchmarks/micro/run.
MICRO = {
    "codec_ops_per_s", "codec_allocations", "cache_get_ns_median", "cache_put_ns_median", "cache_put_codable_ns_median",
    "cache_put_codable_default_ns_median", "cache_put_ns_p99", "cache_put_allocations", "produce_allocations",
    "cache_increment_ns_median", "replica_apply_per_s",
}


def pairs(path, numbers):
    found = {}
    with open(path) as file:
        for line in file:
            key, sep, value = line.strip().partition("=")
            if not sep or not key.replace("_", "").isalnum():
                continue
            if numbers:
                try:
                    number = float(value)
                except ValueError:
                    continue
                if not math.isfinite(number):
                    sys.exit(f"benchmarks: {key}={value} is not a finite number (see the part's output above)")
                found[key] = int(number) if number.is_integer() else number
            else:
                found[key] = value
    return found


def show(value):
    if value is None:
        return "-"
    if isinstance(value, int) or value >= 100:
        return f"{round(value):,}"
    return f"{value:.1f}"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    machine, figures = pairs(sys.argv[1], False), pairs(sys.argv[2], True)
    machine = {key: int(value) if value.isdigit() else value for key, value in machine.items()}
    print(f"\nPumphouse benchmarks ({machine.get('mode')}, {machine.get('build')} build), {machine.get('date')}, commit {machine.get('commit')}")
    print(f"{machine.get('cores')} cores ({machine.get('cpu')}), {machine.get('memory_mb')} MB; {machine.get('swift')}; "
          f"librdkafka {machine.get('librdkafka')}; libpq {machine.get('libpq')}; PostgreSQL {machine.get('postgresql')}; "
          f"broker {machine.get('broker')}\n")
    header = ["measure", "figure", "reference (same run)", "ratio", "target", "met"]
    lines = []
    smoke = machine.get("mode") == "smoke"
    for key, what, unit, ref_key, ref_what, target, met in ROWS:
        value, reference = figures.get(key), figures.get(ref_key) if ref_key else None
        ratio = f"{value / reference:.2f}x" if value is not None and reference else "-"
        verdict = "-" if target is None or value is None else "(smoke)" if smoke else ("yes" if met(value, reference) else "no")
        # A rate the machine could not reach is part of the figure.
        rate = key.rsplit("_", 1)[-1]
        achieved = figures.get(("replication" if key.startswith("replication") else "writeback") + f"_changes_per_s_{rate}")
        if key.startswith(("replication_lag", "writeback_latency")) and achieved is not None:
            what = f"{what} ({show(int(achieved))}/s reached)"
        figure = f"{show(value)} {unit}"
        if "_p99_" in key:
            # Latencies show their spread: p50 / p99, and p99.9 where measured.
            spread = [figures.get(key.replace("_p99_", f"_{p}_")) for p in ("p50", "p99", "p999")]
            names = [n for n, v in zip(("p50", "p99", "p99.9"), spread) if v is not None]
            if len(names) > 1:
                figure = " / ".join(show(v) for v in spread if v is not None) + f" {unit} ({'/'.join(names)})"
        shown = f"{show(reference)}{' ms' if '_ms_' in ref_key or ref_key.endswith('_ms') else ''}" if ref_key else "-"
        if ref_key and ref_key.endswith("_p99_ms") and figures.get(ref_key.replace("_p99_", "_p50_")) is not None:
            shown = f"{show(figures[ref_key.replace('_p99_', '_p50_')])} / {shown} (p50/p99)"
        lines.append([what.replace(" p99", ""), figure, f"{shown} ({ref_what})" if ref_key else "-", ratio, target or "-", verdict])
    widths = [max(len(row[i]) for row in lines + [header]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths]] + lines:
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |")
    if smoke:
        print("\nsmoke sizes: these figures only show that every part runs; `make bench` measures")
    # The smoke leaves the microbenchmarks out (Benchmarks/run says why).
    required = [key for key in REQUIRED if key not in MICRO] if machine.get("micro") == "skipped" else REQUIRED
    missing = [key for key in required if key not in figures]
    out = sys.argv[3] if not missing else sys.argv[3].removesuffix(".json") + ".incomplete.json"
    # Written whole and then renamed, so a reader never sees half a file.
    with open(out + ".tmp", "w") as file:
        json.dump({**figures, "machine": machine, "missing": missing}, file, indent=2, sort_keys=True)
        file.write("\n")
    os.replace(out + ".tmp", out)
    print(f"\nevery figure: {out}")
    if missing:
        sys.exit(f"benchmarks: no figure for {', '.join(missing)} (see the part's output above); {sys.argv[3]} was left as it was")


main()
