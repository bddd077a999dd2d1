import Metrics

/// The reader's metrics, exported by `pumphouse reader` at /metrics.
struct ReaderMetrics: Sendable {
    let served: Counter
    let rows: Counter
    let failed: Counter
    let expired: Counter
    let duration: Metrics.Timer

    init() {
        served = Counter(label: "pumphouse_reader_requests_served_total")
        rows = Counter(label: "pumphouse_reader_rows_streamed_total")
        failed = Counter(label: "pumphouse_reader_requests_failed_total")
        expired = Counter(label: "pumphouse_reader_requests_expired_total")
        duration = Metrics.Timer(label: "pumphouse_reader_request_duration_seconds", preferredDisplayUnit: .seconds)
    }
}
