import Foundation
import Logging

/// The connection one listener session reads ticks and the log on: the hot standby that
/// `--read-url` names while it is one, the primary otherwise.
///
/// A standby is read only up to the newest tick it has replayed, so a lagging standby makes the
/// relay late, never wrong. A read server that is not (or no longer) in recovery was promoted, or
/// is another primary: its log may be another history, so the session reads the primary instead
/// and looks at the read server again every ``recheckSeconds``. A standby that cannot be reached
/// fails the session like a lost primary (the listener retries from its cursor): the relay waits
/// for its standby rather than moving its load onto the primary.
final class ReadServer {
    let conninfo: String?
    let primary: Connection
    let applicationName: String
    let answerTimeout: Double
    let logger: Logger
    private var standby: Connection?
    private(set) var source: ReadState.Source = .primary
    private var checkedAt = Date()
    /// The primary's newest ids, each with when this session first saw it, that the read server
    /// has not replayed yet, oldest first: the lag is the age of the oldest (a standby that is
    /// always a moment behind a steady stream of writes is a moment behind, not ever further).
    private var unreplayed: [(id: Int64, seen: Date)] = []
    /// At most this many are kept; the oldest stays, so the lag is never understated.
    static let unreplayedLimit = 4096

    /// How often a session that fell back to the primary looks at the read server again.
    static let recheckSeconds = 30.0

    init(conninfo: String?, primary: Connection, applicationName: String, answerTimeout: Double, logger: Logger) throws {
        self.conninfo = conninfo
        self.primary = primary
        self.applicationName = applicationName
        self.answerTimeout = answerTimeout
        self.logger = logger
        try connect()
    }

    /// Where ticks and the log are read now.
    var connection: Connection { standby ?? primary }

    /// The newest id the read server has, given the primary's newest; checks that a standby is
    /// still in recovery (one round trip for both).
    func state(primaryNewest: Int64) throws -> ReadState {
        var readable = primaryNewest
        if let standby {
            let row = try readServer { try standby.query("select realtime.newest_id() as newest, pg_is_in_recovery() as in_recovery")[0] }
            if try row.decode("in_recovery", as: Bool.self) {
                readable = try row.decode("newest")
            } else {
                self.standby = nil
                fellBack("the read server is no longer a standby (pg_is_in_recovery() is false: it was promoted)")
            }
        } else if conninfo != nil, Date().timeIntervalSince(checkedAt) >= Self.recheckSeconds {
            // Looked at again quietly: the fallback was logged once, when it began.
            try? connect()
        }
        let now = Date()
        if primaryNewest > (unreplayed.last?.id ?? readable) {
            if unreplayed.count == Self.unreplayedLimit { unreplayed.remove(at: 1) }
            unreplayed.append((primaryNewest, now))
        }
        unreplayed.removeAll { $0.id <= readable }
        return ReadState(
            source: source, primaryNewestID: primaryNewest, readableNewestID: readable,
            lagSeconds: unreplayed.first.map { now.timeIntervalSince($0.seen) } ?? 0
        )
    }

    /// Connects to the read server, if one is configured, and reads it when it is in recovery.
    private func connect() throws {
        guard let conninfo else { return }
        checkedAt = Date()
        let connection = try readServer { try Connection(conninfo: conninfo, applicationName: applicationName + " reads") }
        connection.answerTimeout = answerTimeout
        let inRecovery = try readServer { try connection.query("select pg_is_in_recovery() as in_recovery")[0].decode("in_recovery", as: Bool.self) }
        guard inRecovery else {
            if case .primaryInstead = source { return }
            fellBack("the read server is not a standby (pg_is_in_recovery() is false: promoted, or a primary)")
            return
        }
        if case .primaryInstead = source { logger.notice("the read server is a standby again; reading ticks and the log there") }
        standby = connection
        source = .standby
    }

    private func fellBack(_ reason: String) {
        source = .primaryInstead(reason: reason)
        checkedAt = Date()
        logger.error("\(reason); reading ticks and the log from the primary until it is a standby again")
    }

    /// Runs a call on the read server, its errors named as the read server's.
    private func readServer<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgresError {
            throw PostgresError(error.code, "read server: \(error.message)", sqlState: error.sqlState)
        }
    }
}
