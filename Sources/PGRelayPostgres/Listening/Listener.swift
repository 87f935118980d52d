import Foundation
import Logging
import PGRelayCore
import Synchronization

/// Turns the log of subscribed tables into an ordered, gap-free stream of change events.
///
/// One libpq connection on its own thread ticks (``Ticker``), reads the changes numbered after its
/// cursor from the log and yields them, a page at a time, each routed to its subscription's table
/// by channel. It LISTENs on the tables' channels only to be woken: a NOTIFY payload is never
/// trusted, whatever it says. Tables with `--notify off` are found by polling (``PollSchedule``:
/// 10 ms while changes flow); the poll's tick is also the round trip that finds a dead connection
/// (``Configuration/answerTimeout``). On any error that is not the consumer's (a lost connection,
/// a cancelled query, a restart), the listener logs, backs off, reconnects and reads on from its
/// cursor, so the consumer sees no gap and no duplicate. A log row that cannot be decoded is
/// logged and skipped, its ids kept. When the consumer falls behind (its buffer is full), the
/// listener stops reading and later continues from the log instead of buffering without bound.
/// With ``Configuration/readConninfo`` it reads ticks and the log from a hot standby, only up to
/// the newest tick the standby has replayed (``ReadServer``): late when the standby lags, never
/// out of order.
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

    public enum Channels: Sendable, Equatable {
        /// Every channel's messages (a relay's listener).
        case all
        case only([String])
    }

    /// One page a listener read: its changes, routed to their tables, and the messages of the
    /// channels it watches, each list in id order (the two interleave by id). Never both empty,
    /// unless it tells of a ``reset``.
    public struct Page: Sendable {
        public var changes: [LoggedChange]
        public var messages: [ChannelMessage]
        /// The database lost ids this listener had delivered: everything earlier pages held after
        /// ``HistoryBoundary/lostAfter`` belongs to a lost history, and the pages that follow go
        /// on from that id, in the new history.
        public var reset: HistoryBoundary?

        public init(changes: [LoggedChange], messages: [ChannelMessage] = [], reset: HistoryBoundary? = nil) {
            self.changes = changes
            self.messages = messages
            self.reset = reset
        }

        /// Changes and messages, one id order.
        public var entries: [LogEntry] { LogEntry.merged(changes: changes.map(\.event), messages: messages) }
    }

    public struct Configuration: Sendable {
        public var conninfo: String
        /// A hot standby to read ticks and the log from (`serve --read-url`); nil reads the primary.
        /// The primary connection still LISTENs and ticks: a standby can do neither.
        public var readConninfo: String?
        public var tables: Tables
        /// Named channels whose messages to deliver besides the tables' changes (none by default).
        public var channels: Channels
        /// Deliver changes after this id (replaying from the log first); nil starts at the newest change.
        public var startAfter: Int64?
        /// Shown in `pg_stat_activity`, and how `pgrelay status` counts listeners.
        public var applicationName: String
        /// Give up, rather than retry, when the very first connection fails: right for a CLI.
        public var failOnFirstConnect: Bool
        /// How many pages may wait for the consumer before the listener falls back to the log.
        public var bufferLimit: Int
        /// Seconds without an answer to a query before the connection is presumed dead and replaced.
        public var answerTimeout: Double
        /// When to tick and read without a NOTIFY.
        public var poll: PollSchedule
        /// Called on the listener's thread after each (re)connect, once LISTEN is in force.
        public var onConnect: (@Sendable (Connected) -> Void)?
        /// Called on the listener's thread when its connection is lost or a read failed, before it retries.
        public var onDisconnect: (@Sendable (Error) -> Void)?
        /// Called on the listener's thread after each round with where it read and how far behind that is.
        public var onRead: (@Sendable (ReadState) -> Void)?
        /// Called on the listener's thread as each round starts (before its tick): a round that
        /// started long ago and has not read is waiting on something (`/health` says what).
        public var onRoundStart: (@Sendable () -> Void)?
        /// Called on the listener's thread when `auto` mode's idle rule changes phase (``AwakeLease``).
        public var onLease: (@Sendable (AwakeLease.Phase) -> Void)?
        /// Called on the listener's thread when a table was subscribed or unsubscribed (and after
        /// each connect, when one may have been missed): the relay's WAL capturer looks again.
        public var onSubscriptionsChanged: (@Sendable () -> Void)?

        public init(
            conninfo: String,
            tables: Tables = .all,
            channels: Channels = .only([]),
            startAfter: Int64? = nil,
            applicationName: String = "pgrelay listener",
            failOnFirstConnect: Bool = true,
            bufferLimit: Int = 20,
            answerTimeout: Double = 30,
            poll: PollSchedule = PollSchedule(),
            onConnect: (@Sendable (Connected) -> Void)? = nil,
            onDisconnect: (@Sendable (Error) -> Void)? = nil,
            readConninfo: String? = nil,
            onRead: (@Sendable (ReadState) -> Void)? = nil,
            onRoundStart: (@Sendable () -> Void)? = nil,
            onLease: (@Sendable (AwakeLease.Phase) -> Void)? = nil
        ) {
            self.onRoundStart = onRoundStart
            self.onLease = onLease
            self.conninfo = conninfo
            self.readConninfo = readConninfo
            self.onRead = onRead
            self.tables = tables
            self.channels = channels
            self.startAfter = startAfter
            self.applicationName = applicationName
            self.failOnFirstConnect = failOnFirstConnect
            self.bufferLimit = bufferLimit
            self.answerTimeout = answerTimeout
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

    /// The changes one at a time: ``pages()`` flattened, for the CLI.
    public func events() -> ChangeEvents { ChangeEvents(pages: pages()) }

    /// The changes of a listener's pages, one at a time.
    public struct ChangeEvents: AsyncSequence, Sendable {
        public typealias Element = ChangeEvent
        let pages: AsyncThrowingStream<Page, Error>

        public struct AsyncIterator: AsyncIteratorProtocol {
            var pages: AsyncThrowingStream<Page, Error>.AsyncIterator
            var buffered: ArraySlice<LoggedChange> = []

            public mutating func next() async throws -> ChangeEvent? {
                while buffered.isEmpty {
                    guard let page = try await pages.next() else { return nil }
                    buffered = page.changes[...]
                }
                return buffered.popFirst()?.event
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pages: pages.makeAsyncIterator()) }
    }

    /// Changes and messages one at a time, in id order: for `pgrelay listen` with `--channel`.
    public func entries() -> Entries { Entries(pages: pages()) }

    /// The changes and messages of a listener's pages, one at a time.
    public struct Entries: AsyncSequence, Sendable {
        public typealias Element = LogEntry
        let pages: AsyncThrowingStream<Page, Error>

        public struct AsyncIterator: AsyncIteratorProtocol {
            var pages: AsyncThrowingStream<Page, Error>.AsyncIterator
            var buffered: ArraySlice<LogEntry> = []

            public mutating func next() async throws -> LogEntry? {
                while buffered.isEmpty {
                    guard let page = try await pages.next() else { return nil }
                    buffered = page.entries[...]
                }
                return buffered.popFirst()
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pages: pages.makeAsyncIterator()) }
    }

    /// Starts the listener thread; it stops when the stream is dropped or its consumer stops
    /// iterating. Each element is one page of changes, in id order, none empty.
    public func pages() -> AsyncThrowingStream<Page, Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: Page.self,
            throwing: Error.self,
            bufferingPolicy: .bufferingOldest(configuration.bufferLimit)
        )
        let stop = StopFlag()
        continuation.onTermination = { _ in stop.set() }
        let (configuration, logger) = (self.configuration, self.logger)
        ReconnectingThread.start(name: "pgrelay listener", role: "listener", logger: logger, stop: stop) { thread in
            var loop = ListenerLoop(configuration: configuration, logger: logger, continuation: continuation, thread: thread)
            loop.run()
        }
        return stream
    }

    /// Raw notifications on `channels`, exactly as Postgres delivers them, for `listen --channel`.
    /// Ends with an error when the connection is lost: raw notifications cannot be replayed.
    public static func rawNotifications(conninfo: String, channels: [String]) -> AsyncThrowingStream<RawNotification, Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: RawNotification.self, throwing: Error.self)
        let stop = StopFlag()
        continuation.onTermination = { _ in stop.set() }
        // Raw notifications cannot be replayed: the first failure ends the stream, no retry.
        ReconnectingThread.start(name: "pgrelay raw listener", role: "raw listener", logger: Logger(label: "pgrelay.listen"), stop: stop) { thread in
            thread.run {
                let connection = try Connection(conninfo: conninfo, applicationName: "pgrelay listen --channel")
                for channel in channels { try connection.listen(channel) }
                while !thread.stop.isSet {
                    for notification in try connection.waitForNotifications(timeout: 0.25) {
                        continuation.yield(notification)
                    }
                }
            } failed: { error in
                continuation.finish(throwing: error)
                return false
            }
            continuation.finish()
        }
        return stream
    }
}

/// Set once, from any thread, to end a thread's loop (a listener's, or a test's writers').
public final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)

    public init() {}
    public func set() { value.store(true, ordering: .releasing) }
    public var isSet: Bool { value.load(ordering: .acquiring) }
}
