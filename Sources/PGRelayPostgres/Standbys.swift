import Foundation

/// The standbys streaming from a primary, as `pg_stat_replication` shows them: what `pgrelay
/// status` prints so that an operator sees how far behind the servers that relays read are.
///
/// Roles without `pg_read_all_stats` see the rows but not their positions (nil here).
public struct Standbys {
    public struct Standby: Sendable, Equatable {
        /// `application_name` of the standby's WAL receiver (`walreceiver` unless its `primary_conninfo` names one).
        public var name: String
        /// The standby's address; nil on a Unix socket.
        public var address: String?
        /// `streaming`, `catchup`, `startup`, ...
        public var state: String?
        /// WAL bytes the primary wrote that the standby has not replayed.
        public var replayBytesBehind: Int64?
        /// How long ago the last WAL the standby replayed was written on the primary (Postgres's
        /// `replay_lag`; nil when there has been nothing to replay lately).
        public var replayLagSeconds: Double?
    }

    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// The standbys connected now; empty on a standby itself or without replication.
    public func list() throws -> [Standby] {
        try connection.query(
            """
            select application_name, client_addr::text as address, state,
                   case when pg_is_in_recovery() then null else pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint end as behind,
                   extract(epoch from replay_lag)::float8 as lag
              from pg_stat_replication
             order by application_name, client_addr
            """
        ).map { row in
            Standby(
                name: try row.decode("application_name", as: String?.self) ?? "", address: try row.decode("address"), state: try row.decode("state"),
                replayBytesBehind: try row.decode("behind"), replayLagSeconds: try row.decode("lag")
            )
        }
    }
}
