import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import ServiceLifecycle
import Synchronization

/// Whether the Listener is connected, and why not, as `/health` reports it.
public final class ListenerState: Sendable {
    private let state = Mutex<(connected: Bool, problem: String?, backendPID: Int32?)>((false, "listener not connected yet", nil))
    public init() {}
    public var isConnected: Bool { state.withLock { $0.connected } }
    /// Why the listener is not connected, for /health; nil when it is.
    public var problem: String? { state.withLock { $0.problem } }
    /// The listener's backend pid while it is connected: what /health looks up when it waits.
    public var backendPID: Int32? { state.withLock { $0.connected ? $0.backendPID : nil } }
    func connected(backendPID: Int32? = nil) { state.withLock { $0 = (true, nil, backendPID) } }
    func disconnected(_ reason: String) {
        state.withLock { $0 = (false, reason, nil) }
        round.withLock { $0 = nil }
    }

    private let reads = Mutex<ReadState?>(nil)
    /// Where the listener read in its last round and how far behind that server was; nil before the first.
    public var readState: ReadState? { reads.withLock { $0 } }
    func read(_ state: ReadState) {
        reads.withLock { $0 = state }
        round.withLock { $0 = nil }
    }

    private let round = Mutex<ContinuousClock.Instant?>(nil)
    func roundStarted() { round.withLock { $0 = ContinuousClock.now } }
    /// Seconds the listener's current round has run without reading: a round that ticks and reads
    /// takes milliseconds, so a long one is waiting on something (a lock, a stalled server).
    public var roundSeconds: Double {
        guard let started = round.withLock({ $0 }) else { return 0 }
        return (ContinuousClock.now - started).inSeconds
    }

    private let leasePhase = Mutex<AwakeLease.Phase>(.asleep)
    /// `auto` notify mode's idle rule: whether this relay polls actively (and holds the lease).
    public var leasePhaseName: String {
        switch leasePhase.withLock({ $0 }) {
        case .asleep: "asleep"
        case .awake: "awake"
        case .draining, .lastLook: "draining"
        }
    }
    func lease(_ phase: AwakeLease.Phase) { leasePhase.withLock { $0 = phase } }
}

/// The long-running part of `serve`: appends the Listener's pages to the Tail, ticks
/// keep-alives and keeps open streams' column types current. On graceful shutdown
/// (SIGTERM/SIGINT) it stops and ends every stream.
struct TailService: Service {
    let tail: Tail
    let listener: Listener
    let schemas: TableSchemas
    let pool: DatabasePool
    let keepAliveSeconds: Double
    let metrics: RelayMetrics
    let logger: Logger

    func run() async throws {
        defer { tail.closeAll() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await page in listener.pages().cancelOnGracefulShutdown() {
                    await tail.append(page)
                    metrics.received(page.changes)
                    if !page.messages.isEmpty { metrics.messagesReceived.increment(by: page.messages.count) }
                    metrics.counted(page)
                }
            }
            group.addTask {
                // Often, and each time only the streams whose keep-alive is due.
                let step = min(0.1, keepAliveSeconds / 4)
                let clock = ContinuousClock()
                let start = clock.now
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: .seconds(step))
                    tail.keepAlive(now: (clock.now - start).inSeconds + 1, interval: keepAliveSeconds)
                }
            }
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: .seconds(TableSchemas.refreshSeconds))
                    do {
                        // A stream whose filter no longer fits (a column dropped, renamed, or of
                        // another type) ends now, not at its table's next change.
                        if try await schemas.refresh(pool: pool) { tail.wakeAll() }
                    } catch is CancellationError {
                        break
                    } catch {
                        logger.warning("could not read the column types of streamed tables; retrying", metadata: ["error": "\(error)"])
                    }
                }
            }
            // Whichever ends first (shutdown, or the listener's stream ending) ends the service.
            try await group.next()
            group.cancelAll()
        }
    }
}

extension Duration {
    /// The duration in seconds, fractions included.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
