import Foundation
import Logging
import PGRelayCore

/// A thread of its own for one libpq connection at a time: the one place where pgrelay's
/// listening loops (the relay's listener, the ephemeral listener, raw notifications) block on
/// libpq, never on Swift's cooperative pool. It runs a session; when the session fails it logs,
/// backs off (cut short by ``stop``) and runs another, until stopped or told to give up.
///
/// ```swift
/// ReconnectingThread.start(name: "pgrelay ephemeral", role: "ephemeral listener", logger: logger, stop: stop) { thread in
///     thread.run { try readUntilStopped(Connection(conninfo: url)) }
///     continuation.finish()
/// }
/// ```
///
/// Not Sendable: made on its thread and used only there.
public final class ReconnectingThread {
    /// Set from any thread to end the loop; checked between sessions and during back-off.
    public let stop: StopFlag
    private let logger: Logger
    /// What the log calls this loop ("listener", "ephemeral listener").
    private let role: String
    private var backoff = Backoff()

    private init(stop: StopFlag, logger: Logger, role: String) {
        self.stop = stop
        self.logger = logger
        self.role = role
    }

    /// Starts a thread named `name` that runs `body` with its ``ReconnectingThread``; `role` is
    /// what its log lines call it.
    public static func start(
        name: String, role: String, logger: Logger, stop: StopFlag, _ body: @escaping @Sendable (ReconnectingThread) -> Void
    ) {
        let thread = Thread { body(ReconnectingThread(stop: stop, logger: logger, role: role)) }
        thread.name = name
        thread.start()
    }

    /// Runs `session` until ``stop`` is set. When it throws, `failed` decides: true retries after
    /// the back-off (logged as a warning), false ends the loop at once.
    public func run(_ session: () throws -> Void, failed: (Error) -> Bool = { _ in true }) {
        while !stop.isSet {
            do {
                try session()
            } catch {
                guard failed(error) else { return }
                let delay = backoff.nextDelay()
                logger.warning("\(role) failed; reconnecting", metadata: ["error": "\(error)", "retry_in_s": "\(delay)"])
                sleep(seconds: delay)
            }
        }
    }

    /// A session that has worked for a while says so: the next failure is retried at once again.
    public func healthy() { backoff.reset() }

    /// Sleeps for `seconds`, or until ``stop`` is set.
    public func sleep(seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while !stop.isSet, Date() < deadline { Thread.sleep(forTimeInterval: min(0.05, seconds)) }
    }
}
