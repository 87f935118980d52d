import Synchronization

/// When a subscriber's transport last finished a write. A write finishes when the connection
/// can take more, so a client that reads keeps this fresh however slowly a large page goes out;
/// one that stopped reading lets it age. The stall watchdog measures the age, not how long the
/// whole page takes: a reading client on a busy machine is never cut off mid-page.
final class DeliveryProgress: Sendable {
    private let last = Mutex(ContinuousClock.now)

    /// The transport took a write.
    func advanced() { last.withLock { $0 = .now } }

    /// When the transport last took a write.
    var lastAdvance: ContinuousClock.Instant { last.withLock { $0 } }

    /// Returns when nothing was written for `seconds` (then the caller lets the client go), or
    /// throws `CancellationError` when cancelled (the delivery finished).
    func waitForStall(seconds: Double) async throws {
        let limit = Duration.seconds(seconds)
        while true {
            let idle = ContinuousClock.now - lastAdvance
            if idle >= limit { return }
            try await Task.sleep(for: limit - idle)
        }
    }
}
