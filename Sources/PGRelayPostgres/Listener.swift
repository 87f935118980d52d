import Foundation
import Logging
import PGRelayCore

/// Turns the log of subscribed tables into an ordered, gap-free stream of change events.
///
/// One libpq connection on its own thread ticks (``Ticker``), reads the changes numbered after its
/// cursor from the log and yields them. It LISTENs on the tables' channels only to be woken: a
/// NOTIFY payload is never trusted, whatever it says. Tables with `--notify off` are found by
/// polling (``PollSchedule``: 10 ms while changes flow). When the connection drops, the listener
/// reconnects with backoff and reads on from its cursor, so the consumer sees no gap and no
/// duplicate. When the consumer falls behind (its buffer is full), the listener stops reading
/// and later continues from the log instead of buffering without bound.
///
/// ```swift
/// let listener = Listener(.init(conninfo: url, tables: .only([TableName(schema: "public", name: "orders")])))
/// for try await event in listener.events() { print(event.canonicalJSONText) }
/// ```
public final class Listener: Sendable {
    public enum Tables: Sendable, Equatable {
        /// Every subscribed table, including tables subscribed while the listener runs.
        case all
        case only([TableName])
    }

    public struct Configuration: Sendable {
        public var conninfo: String
        public var tables: Tables
        /// Deliver changes after this id (replaying from the log first); nil starts at the newest change.
        public var startAfter: Int64?
        /// Shown in `pg_stat_activity`, and how `pgrelay status` counts listeners.
        public var applicationName: String
        /// Give up, rather than retry, when the very first connection fails: right for a CLI.
        public var failOnFirstConnect: Bool
        /// How many events may wait for the consumer before the listener falls back to the log.
        public var bufferLimit: Int
        /// When to tick and read without a NOTIFY.
        public var poll: PollSchedule
        /// Called on the listener's thread after each (re)connect, once LISTEN is in force.
        public var onConnect: (@Sendable (Connected) -> Void)?
        /// Called on the listener's thread when its connection is lost, before it retries.
        public var onDisconnect: (@Sendable (Error) -> Void)?

        public init(
            conninfo: String,
            tables: Tables = .all,
            startAfter: Int64? = nil,
            applicationName: String = "pgrelay listener",
            failOnFirstConnect: Bool = true,
            bufferLimit: Int = 10_000,
            poll: PollSchedule = PollSchedule(),
            onConnect: (@Sendable (Connected) -> Void)? = nil,
            onDisconnect: (@Sendable (Error) -> Void)? = nil
        ) {
            self.conninfo = conninfo
            self.tables = tables
            self.startAfter = startAfter
            self.applicationName = applicationName
            self.failOnFirstConnect = failOnFirstConnect
            self.bufferLimit = bufferLimit
            self.poll = poll
            self.onConnect = onConnect
            self.onDisconnect = onDisconnect
        }
    }

    /// What `onConnect` is told.
    public struct Connected: Sendable {
        /// The listener backend's pid, as `pg_stat_activity` shows it.
        public var backendPID: Int32
        /// The id the listener resumes after: everything up to it was delivered (or skipped by `startAfter`).
        public var afterID: Int64
    }

    public let configuration: Configuration
    let logger: Logger

    public init(_ configuration: Configuration, logger: Logger = Logger(label: "pgrelay.listener")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Starts the listener thread; it stops when the stream is dropped or its consumer stops iterating.
    public func events() -> AsyncThrowingStream<ChangeEvent, Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: ChangeEvent.self,
            throwing: Error.self,
            bufferingPolicy: .bufferingOldest(configuration.bufferLimit)
        )
        let stop = StopFlag()
        continuation.onTermination = { _ in stop.set() }
        let thread = Thread { [self] in
            var loop = ListenerLoop(configuration: configuration, logger: logger, continuation: continuation, stop: stop)
            loop.run()
        }
        thread.name = "pgrelay listener"
        thread.start()
        return stream
    }

    /// Raw notifications on `channels`, exactly as Postgres delivers them, for `listen --channel`.
    /// Ends with an error when the connection is lost: raw notifications cannot be replayed.
    public static func rawNotifications(conninfo: String, channels: [String]) -> AsyncThrowingStream<RawNotification, Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: RawNotification.self, throwing: Error.self)
        let stop = StopFlag()
        continuation.onTermination = { _ in stop.set() }
        let thread = Thread {
            do {
                let connection = try Connection(conninfo: conninfo, applicationName: "pgrelay listen --channel")
                for channel in channels { try connection.listen(channel) }
                while !stop.isSet {
                    for notification in try connection.waitForNotifications(timeout: 0.25) {
                        continuation.yield(notification)
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.name = "pgrelay raw listener"
        thread.start()
        return stream
    }
}

/// Set once, from any thread, to end a thread's loop (a listener's, or a test's writers').
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    public init() {}
    public func set() { lock.withLock { value = true } }
    public var isSet: Bool { lock.withLock { value } }
}
