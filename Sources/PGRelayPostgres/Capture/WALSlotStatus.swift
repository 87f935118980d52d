/// The WAL capture's replication slot as Postgres sees it: how much WAL it holds back from
/// removal, whether a relay reads it, and whether Postgres gave up on it (past
/// `max_slot_wal_keep_size`). For `status`, /health and /metrics: a slot nobody reads keeps WAL
/// until the disk fills, unless that setting bounds it.
public struct WALSlotStatus: Sendable, Equatable {
    public var slot: String
    /// Whether the slot exists at all (it is gone after a standby's promotion: Postgres 15 slots
    /// are not copied to standbys).
    public var exists: Bool
    /// Bytes of WAL kept for the slot: from its restart position to the server's current one.
    public var retainedBytes: Int64
    /// How far behind the server's WAL the capture has confirmed, in bytes.
    public var lagBytes: Int64
    /// `reserved`, `extended`, `unreserved` or `lost` (pg_replication_slots.wal_status).
    public var walStatus: String?
    /// Whether a walsender reads it now.
    public var active: Bool
    /// The pid of the walsender reading it.
    public var activePID: Int32?

    /// The slot's status, or nil when no table is captured from the WAL (or the schema predates it).
    public static func read(_ connection: Connection) throws -> WALSlotStatus? {
        guard try SchemaMigration(connection: connection).schemaVersion() >= SchemaMigration.walCaptureVersion else { return nil }
        guard
            let row = try connection.query(
                """
                select w.slot::text as slot, s.slot_name is not null as exists,
                       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn), 0)::int8 as retained,
                       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn), 0)::int8 as lag,
                       s.wal_status, coalesce(s.active, false) as active, s.active_pid
                  from realtime.wal_capture w left join pg_replication_slots s on s.slot_name = w.slot
                """
            ).first
        else { return nil }
        return WALSlotStatus(
            slot: try row.decode("slot"), exists: try row.decode("exists"), retainedBytes: try row.decode("retained"),
            lagBytes: try row.decode("lag"), walStatus: try row.decode("wal_status"), active: try row.decode("active"),
            activePID: try row.decode("active_pid"))
    }

    /// What is wrong with the slot, or nil.
    public var problem: String? {
        if !exists {
            return
                "replication slot \(slot) is missing (a promoted standby has none): WAL-captured changes are not captured; run pgrelay subscribe TABLE --capture wal to make a new one (changes since are lost: reload)"
        }
        if walStatus == "lost" {
            return
                "replication slot \(slot) was invalidated (it held more WAL than max_slot_wal_keep_size): run pgrelay subscribe TABLE --capture wal to make a new one (changes since are lost: reload)"
        }
        return nil
    }
}
