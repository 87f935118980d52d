import Foundation
import Metrics
import PGRelayCore
import PGRelayPostgres
import Prometheus
import Synchronization

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
    /// `/v1/changes` pages answered by the relay (what a cache in front did not serve), by answer.
    private let pagesServed: Metrics.Counter
    private let pagesNotModified: Metrics.Counter

    /// Presence tracks and untracks by this relay's clients.
    let presenceUpdates: Metrics.Counter
    /// WAL capture: 1 while this relay reads the slot; the WAL the slot holds back, and how far
    /// behind the server's WAL its confirmed position is (bytes); changes this relay appended.
    private let captureActive: Metrics.Gauge
    private let captureRetainedBytes: Metrics.Gauge
    private let captureLagBytes: Metrics.Gauge
    private let captureAppended: Metrics.Gauge
    private let factory: PrometheusMetricsFactory
    /// Counters with a label whose values are bounded: per table (at most ``maximumTableLabels``
    /// tables, the rest as `other`), per channel type (public, private, presence, direct, or
    /// `topic` for a channel nobody created), and per channel name only for the names configured
    /// (`metrics.channel_labels`): a label per channel name would grow without bound.
    private let labelled = Mutex<[String: Metrics.Counter]>([:])
    private let tableLabels = Mutex<Set<String>>([])
    let channelLabels: Set<String>
    /// The type of each created channel, refreshed with the relay's heartbeat.
    let channelKinds = Mutex<[String: ChannelKind]>([:])
    static let maximumTableLabels = 200

    public enum Transport: String, Sendable { case sse, websocket, http }

    public init(channelLabels: Set<String> = []) {
        self.channelLabels = channelLabels
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
        presenceUpdates = Metrics.Counter(label: "pgrelay_presence_updates_total", factory: factory)
        pagesServed = Metrics.Counter(label: "pgrelay_catchup_pages_total", dimensions: [("answer", "page")], factory: factory)
        pagesNotModified = Metrics.Counter(label: "pgrelay_catchup_pages_total", dimensions: [("answer", "not_modified")], factory: factory)
        captureActive = Metrics.Gauge(label: "pgrelay_wal_capture_active", factory: factory)
        captureRetainedBytes = Metrics.Gauge(label: "pgrelay_wal_capture_retained_bytes", factory: factory)
        captureLagBytes = Metrics.Gauge(label: "pgrelay_wal_capture_lag_bytes", factory: factory)
        captureAppended = Metrics.Gauge(label: "pgrelay_wal_capture_appended_changes", factory: factory)
        self.factory = factory
    }

    /// Sets the WAL capture's figures, as /metrics is asked for them.
    func captured(_ state: WALCaptureState, slot: WALSlotStatus?) {
        captureActive.record(state.role == .capturing ? 1 : 0)
        captureRetainedBytes.record(Double(slot?.retainedBytes ?? 0))
        captureLagBytes.record(Double(slot?.lagBytes ?? 0))
        captureAppended.record(Double(state.appendedChanges))
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> Metrics.Counter {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return labelled.withLock { counters in
            if let found = counters[key] { return found }
            let made = Metrics.Counter(label: label, dimensions: dimensions, factory: factory)
            counters[key] = made
            return made
        }
    }

    /// Counts a page's changes by table and its messages by channel type (and name, when configured).
    func counted(_ page: Listener.Page) {
        var byTable: [String: Int] = [:]
        for change in page.changes { byTable[change.event.table.description, default: 0] += 1 }
        for (table, count) in byTable {
            let label = tableLabels.withLock { labels in
                if labels.contains(table) { return table }
                guard labels.count < Self.maximumTableLabels else { return "other" }
                labels.insert(table)
                return table
            }
            counter("pgrelay_table_changes_total", [("table", label)]).increment(by: count)
        }
        let kinds = channelKinds.withLock { $0 }
        for message in page.messages where message.access == nil {
            counter("pgrelay_channel_messages_total", [("type", kinds[message.channel]?.rawValue ?? "topic")]).increment()
            if channelLabels.contains(message.channel) {
                counter("pgrelay_channel_messages_by_name_total", [("channel", message.channel)]).increment()
            }
        }
    }

    /// Counts a `/v1/changes` page the relay answered: whole, or 304 to a cache's revalidation.
    func catchUpPage(notModified: Bool) {
        (notModified ? pagesNotModified : pagesServed).increment()
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
