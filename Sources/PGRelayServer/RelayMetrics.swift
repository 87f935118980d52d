import Foundation
import PGRelayCore
import Metrics
import Prometheus

/// The daemon's metrics (swift-metrics), exported in Prometheus' text format at `GET /metrics`.
///
/// Each application gets its own registry rather than the process-wide `MetricsSystem`, so
/// that several relays in one process (the tests) keep separate counts.
public final class RelayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let changesReceived: Metrics.Counter
    /// Channel messages the listener read from the log.
    let messagesReceived: Metrics.Counter
    /// Messages and ephemeral events clients sent through this relay.
    let messagesSent: Metrics.Counter
    let listenerReconnects: Metrics.Counter
    let replayReads: Metrics.Counter
    let subscribers: Metrics.Gauge
    /// Commit to arrival in the Tail, for the first change of each page the listener reads.
    let deliveryLatency: Metrics.Timer
    private let deliveriesSSE: Metrics.Counter
    private let deliveriesWebSocket: Metrics.Counter
    private let deliveriesHTTP: Metrics.Counter

    public enum Transport: String, Sendable { case sse, websocket, http }

    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        self.registry = registry
        changesReceived = Metrics.Counter(label: "pgrelay_changes_received_total", factory: factory)
        messagesReceived = Metrics.Counter(label: "pgrelay_messages_received_total", factory: factory)
        messagesSent = Metrics.Counter(label: "pgrelay_messages_sent_total", factory: factory)
        listenerReconnects = Metrics.Counter(label: "pgrelay_listener_reconnects_total", factory: factory)
        replayReads = Metrics.Counter(label: "pgrelay_replay_reads_total", factory: factory)
        subscribers = Metrics.Gauge(label: "pgrelay_subscribers", factory: factory)
        deliveryLatency = Metrics.Timer(label: "pgrelay_delivery_latency_seconds", factory: factory)
        deliveriesSSE = Metrics.Counter(label: "pgrelay_deliveries_total", dimensions: [("transport", "sse")], factory: factory)
        deliveriesWebSocket = Metrics.Counter(label: "pgrelay_deliveries_total", dimensions: [("transport", "websocket")], factory: factory)
        deliveriesHTTP = Metrics.Counter(label: "pgrelay_deliveries_total", dimensions: [("transport", "http")], factory: factory)
    }

    func delivered(_ count: Int = 1, via transport: Transport) {
        switch transport {
        case .sse: deliveriesSSE.increment(by: count)
        case .websocket: deliveriesWebSocket.increment(by: count)
        case .http: deliveriesHTTP.increment(by: count)
        }
    }

    /// Counts a page the listener appended to the Tail, and its latency since commit.
    func received(_ page: [LoggedChange]) {
        changesReceived.increment(by: page.count)
        if let first = page.first { recordLatency(sinceCommit: first.event.timestamp) }
    }

    /// Records the time from a change's commit (its ISO-8601 timestamp) to now.
    func recordLatency(sinceCommit timestamp: String) {
        guard let committed = try? Date(timestamp, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) else { return }
        deliveryLatency.recordNanoseconds(Int64(max(0, Date().timeIntervalSince(committed)) * 1_000_000_000))
    }

    /// The Prometheus text exposition.
    public var text: String { registry.emitToString() }
}
