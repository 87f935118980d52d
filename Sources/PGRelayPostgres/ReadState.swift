import Foundation

/// Where a listener reads ticks and the log from, and how far that server is behind the
/// primary's newest tick: what `/health` shows of a relay started with `--read-url`.
///
/// A standby replays the primary's WAL in commit order, so whatever tick it has replayed, it also
/// has every log row that tick numbers: reading up to the standby's own newest tick is always
/// complete and in order. It is only late, by ``lagIDs`` (and for ``lagSeconds``).
public struct ReadState: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// No read server configured: ticks and the log are read on the primary.
        case primary
        /// A hot standby (`pg_is_in_recovery()` is true there).
        case standby
        /// A read server was configured but is not a standby (it was promoted, or points at a
        /// primary): reading it could mean reading another history, so the primary is read.
        case primaryInstead(reason: String)
    }

    public var source: Source
    /// The newest id the primary has numbered, as the listener's last tick saw it.
    public var primaryNewestID: Int64
    /// The newest id the server read from has replayed (the primary's own when reading there).
    public var readableNewestID: Int64
    /// The age of the oldest tick the primary had that the read server has not replayed: 0 when it has them all.
    public var lagSeconds: Double

    public init(source: Source, primaryNewestID: Int64, readableNewestID: Int64, lagSeconds: Double) {
        self.source = source
        self.primaryNewestID = primaryNewestID
        self.readableNewestID = readableNewestID
        self.lagSeconds = lagSeconds
    }

    /// Ids the primary has numbered that the read server has not replayed yet.
    public var lagIDs: Int64 { max(0, primaryNewestID - readableNewestID) }
}
