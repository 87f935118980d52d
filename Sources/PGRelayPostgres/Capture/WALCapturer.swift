import Foundation
import Logging
import PGRelayCore
import Synchronization

/// The relay's WAL capture (`pgrelay subscribe TABLE --capture wal`; docs/concepts.md, "Capture
/// from the WAL"): on a thread of its own, it reads the database's replication slot with pgoutput
/// and appends each committed source transaction's changes to `realtime.log`, tagged with the
/// source transaction's id and their WAL positions (realtime.append_wal), in its own transactions,
/// several source transactions at a time.
///
/// - **One capturer**: every relay runs one; the one whose walsender holds the slot captures (a
///   slot streams to one walsender at a time), the others try again every few seconds, so one
///   takes over within seconds of the capturer's death. Only a role with REPLICATION can use the
///   slot: a role with nothing but CONNECT can neither capture nor stop a capturer.
/// - **Exactly once**: the end of the last source transaction appended is written with its rows
///   (`realtime.wal_capture.applied_lsn`); after a crash at any point, transactions up to it are
///   skipped, and the slot's confirmed position only follows what is in the log.
/// - **Ticks**: while WAL capture is on, ticks are proposed with a WAL marker; the capturer
///   records each once it has read past its marker (realtime.propose_tick), and proposes one after
///   each append.
public final class WALCapturer: Sendable {
    let conninfo: String
    let logger: Logger
    /// What the capturer is doing, for /health, metrics and `status`.
    public let state = Mutex(WALCaptureState())
    /// Set by ``wake()``: look at the configuration now rather than after ``idleSeconds``.
    private let woken = Mutex(false)

    public init(conninfo: String, logger: Logger = Logger(label: "pgrelay.capture")) {
        self.conninfo = conninfo
        self.logger = logger
    }

    /// Seconds between looks at whether WAL capture is configured (``wake()`` cuts it short:
    /// the relay calls it when a table is subscribed), and at whether the slot is free.
    static let unconfiguredSeconds = 30.0
    static let idleSeconds = 2.0

    /// Makes an idle capturer look at the configuration now (a table was just subscribed).
    public func wake() { woken.withLock { $0 = true } }

    /// Sleeps up to `seconds`, until stopped or woken.
    private func idle(_ thread: ReconnectingThread, seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while !thread.stop.isSet, Date() < deadline, !woken.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.05) }
        woken.withLock { $0 = false }
    }
    /// Source changes appended in one transaction, at most.
    static let batchLimit = 2_000

    /// Starts the capture thread; it runs until `stop` is set.
    public func start(stop: StopFlag) {
        ReconnectingThread.start(name: "pgrelay capture", role: "WAL capturer", logger: logger, stop: stop) { thread in
            thread.run { try self.session(thread) }
            self.state.withLock { $0.role = .stopped }
        }
    }

    /// One connection's worth of capture: waits until WAL capture is configured and the slot is
    /// free, then streams until the connection fails or the capture retires.
    func session(_ thread: ReconnectingThread) throws {
        // Looked at on a connection of its own that is closed while idle: most relays have no
        // table captured from the WAL, and should not hold a connection for it.
        guard let (appender, configuration) = try configured() else {
            state.withLock { $0.role = .off }
            idle(thread, seconds: Self.unconfiguredSeconds)
            return
        }
        guard try capture(configuration, appender: appender, thread: thread) else { return }
        try Self.dropSlot(configuration.slot, publication: configuration.publication, on: appender)
        logger.info("WAL capture retired: no table is captured from the WAL", metadata: ["slot": "\(configuration.slot)"])
    }

    /// A connection for appends, and the capture's configuration, when a table is captured from the WAL.
    private func configured() throws -> (Connection, WALCaptureConfiguration)? {
        let appender = try Connection(conninfo: conninfo, applicationName: "pgrelay capture")
        guard try SchemaMigration(connection: appender).schemaVersion() >= SchemaMigration.walCaptureVersion,
            let configuration = try WALCaptureConfiguration.read(appender)
        else { return nil }
        try Self.useStableSettings(appender)
        return (appender, configuration)
    }

    /// Streams the slot until stopped or until the capture retires (true); the replication
    /// connection is closed when this returns.
    private func capture(_ configuration: WALCaptureConfiguration, appender: Connection, thread: ReconnectingThread) throws -> Bool {
        let replication: Connection
        do {
            replication = try Connection(conninfo: conninfo, applicationName: "pgrelay capturer", replication: true)
        } catch {
            state.withLock {
                $0.role = .unable
                $0.problem = "cannot open a replication connection (the relay's role needs REPLICATION): \(error)"
            }
            idle(thread, seconds: Self.idleSeconds * 5)
            return false
        }
        try Self.useStableSettings(replication)
        let stream = ReplicationStream(connection: replication)
        do {
            try stream.start(slot: configuration.slot, publication: configuration.publication)
        } catch let error as PostgresError where error.sqlState == "55006" {
            // "replication slot ... is active for PID ...": another relay captures.
            state.withLock {
                $0.role = .standby
                $0.problem = nil
            }
            idle(thread, seconds: Self.idleSeconds)
            return false
        } catch let error as PostgresError where error.sqlState == "42704" || error.sqlState == "55000" {
            // The slot is gone or was invalidated (max_slot_wal_keep_size): say so and wait for
            // `pgrelay subscribe` to make a new one.
            state.withLock {
                $0.role = .unable
                $0.problem =
                    "the replication slot \(configuration.slot) cannot be used: \(error.message); run pgrelay subscribe TABLE --capture wal to make a new one"
            }
            logger.error("WAL capture cannot read its slot", metadata: ["slot": "\(configuration.slot)", "error": "\(error.message)"])
            idle(thread, seconds: Self.idleSeconds * 5)
            return false
        }
        logger.info("capturing from the WAL", metadata: ["slot": "\(configuration.slot)", "publication": "\(configuration.publication)"])
        var session = CaptureSession(configuration: configuration, appender: appender, stream: stream, capturer: self)
        return try session.run(thread)
    }

    /// Drops the retired capture's slot once its walsender has ended (shortly after its
    /// connection closed), and the publication; under the lock `subscribe` takes to make them,
    /// and only while no table is captured from the WAL again (WALCaptureSetup.prepare).
    static func dropSlot(_ slot: String, publication: String, on connection: Connection) throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let done = try connection.transaction { () -> Bool in
                try connection.execute("lock table realtime.subscriptions in share row exclusive mode")
                guard try connection.query("select from realtime.wal_capture").isEmpty else { return true }
                let found = try connection.query("select active from pg_replication_slots where slot_name = \(slot)").first
                if let found, try found.decode("active", as: Bool.self) { return false }
                if found != nil { try connection.query("select pg_drop_replication_slot(\(slot))") }
                try connection.execute("drop publication if exists \(SQLQuoting.identifier(publication))")
                return true
            }
            if done { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// The text forms pgoutput writes values in and json_populate_record reads them back in must
    /// be the same: both sessions use these.
    static func useStableSettings(_ connection: Connection) throws {
        try connection.execute(
            "set datestyle = 'ISO, YMD'; set intervalstyle = 'postgres'; set extra_float_digits = 3; set bytea_output = 'hex'; set timezone = 'UTC'"
        )
    }
}

/// What ``WALCapturer`` is doing.
public struct WALCaptureState: Sendable, Equatable {
    public enum Role: String, Sendable {
        /// No table is captured from the WAL.
        case off
        /// This relay reads the slot.
        case capturing
        /// Another relay reads it; this one takes over if it stops.
        case standby
        /// WAL capture is configured but this relay cannot do it (``problem`` says why).
        case unable
        case stopped
    }
    public var role: Role = .off
    public var problem: String?
    /// The end of the last source transaction appended.
    public var applied: WALPosition?
    public var appendedChanges = 0

    public init() {}
}

/// `realtime.wal_capture`: the slot and publication, and how far the log holds the WAL's changes.
struct WALCaptureConfiguration {
    var slot: String
    var publication: String
    var applied: UInt64
    var retireAfter: UInt64?

    static func read(_ connection: Connection) throws -> WALCaptureConfiguration? {
        guard
            let row = try connection.query("select slot::text, publication::text, applied_lsn::text, retire_after::text from realtime.wal_capture")
                .first
        else { return nil }
        return WALCaptureConfiguration(
            slot: try row.decode("slot"), publication: try row.decode("publication"),
            applied: WALPosition(parsing: try row.decode("applied_lsn"))?.value ?? 0,
            retireAfter: try row.decode("retire_after", as: String?.self).flatMap { WALPosition(parsing: $0)?.value })
    }
}
