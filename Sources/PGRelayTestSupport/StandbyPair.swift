import Foundation
import PGRelayPostgres

/// A primary and a hot standby streaming from it, made for one test: initdb and pg_ctl for the
/// primary, `pg_basebackup -R` for the standby, both on Unix sockets in a temporary directory
/// (as the `postgres` user when the tests run as root). ``remove()`` stops both and deletes them.
///
/// pgrelay is installed on the primary before the backup, so the standby has it from the start.
public final class StandbyPair: Sendable {
    public let primaryConninfo: String
    public let standbyConninfo: String
    /// Both servers, for whichever takes writes (libpq's `target_session_attrs=read-write`): what
    /// a relay is given so that it follows a failover to the promoted standby by itself.
    public let failoverConninfo: String
    let directory: String
    let binaries: String
    let standbyPort: Int
    let asPostgres: Bool

    /// Starts both servers; the standby is streaming when this returns.
    public static func start() throws -> StandbyPair {
        let bin = try ThrowawayCluster.findBinaries()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pgrelay-standby-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let asPostgres = getuid() == 0
        if asPostgres { try ThrowawayCluster.run("/bin/chown", ["postgres", dir]) }
        let primaryPort = 20_000 + Int.random(in: 0..<20_000)
        let standbyPort = primaryPort == 39_999 ? 20_000 : primaryPort + 1
        try ThrowawayCluster.run(
            bin + "/initdb", ["-D", dir + "/primary", "-A", "trust", "-U", "postgres", "--no-sync", "--locale=C", "--encoding=UTF8"],
            asPostgres: asPostgres
        )
        let pair = StandbyPair(directory: dir, binaries: bin, primaryPort: primaryPort, standbyPort: standbyPort, asPostgres: asPostgres)
        do {
            try pair.start("primary", port: primaryPort, settings: "-c wal_level=replica -c max_wal_senders=4")
            try SchemaMigration(connection: try Connection(conninfo: pair.primaryConninfo)).initialize()
            try ThrowawayCluster.run(
                bin + "/pg_basebackup",
                ["-D", dir + "/standby", "-R", "-X", "stream", "--no-sync", "-h", dir, "-p", String(primaryPort), "-U", "postgres"],
                asPostgres: asPostgres
            )
            try pair.startStandby()
        } catch {
            pair.remove()
            throw error
        }
        return pair
    }

    private init(directory: String, binaries: String, primaryPort: Int, standbyPort: Int, asPostgres: Bool) {
        self.directory = directory
        self.binaries = binaries
        self.standbyPort = standbyPort
        self.asPostgres = asPostgres
        primaryConninfo = "host=\(directory) port=\(primaryPort) user=postgres dbname=postgres"
        standbyConninfo = "host=\(directory) port=\(standbyPort) user=postgres dbname=postgres"
        failoverConninfo =
            "host=\(directory),\(directory) port=\(primaryPort),\(standbyPort) user=postgres dbname=postgres target_session_attrs=read-write"
        self.primaryPort = primaryPort
    }

    let primaryPort: Int

    /// Stops the primary at once, as a crash or a lost machine does (its connections are cut).
    public func stopPrimary() throws {
        try ThrowawayCluster.run(binaries + "/pg_ctl", ["-D", directory + "/primary", "-m", "immediate", "-w", "stop"], asPostgres: asPostgres)
    }

    /// Takes a base backup of the primary (`pg_basebackup -X stream`, no recovery settings) into
    /// the pair's directory, named `name`.
    public func backupPrimary(as name: String) throws {
        try ThrowawayCluster.run(
            binaries + "/pg_basebackup",
            ["-D", directory + "/" + name, "-X", "stream", "--no-sync", "-h", directory, "-p", String(primaryPort), "-U", "postgres"],
            asPostgres: asPostgres
        )
    }

    /// Replaces the primary by the backup `name` and starts it: the backup recovers the WAL it
    /// holds and no more (no recovery.signal, no archive), so what the primary committed after
    /// the backup is gone, and the server stays on the primary's timeline.
    public func restorePrimary(from name: String) throws {
        try stopPrimary()
        try FileManager.default.removeItem(atPath: directory + "/primary")
        try ThrowawayCluster.run("/bin/cp", ["-a", directory + "/" + name, directory + "/primary"], asPostgres: asPostgres)
        try start("primary", port: primaryPort, settings: "-c wal_level=replica -c max_wal_senders=4")
    }

    /// Starts the standby (again) and waits until it accepts connections.
    public func startStandby() throws {
        try start("standby", port: standbyPort, settings: "-c hot_standby=on -c hot_standby_feedback=on")
    }

    /// Starts one of the two servers on a Unix socket in the directory (a standby needs at least
    /// the primary's max_connections to run queries, so both have the same).
    private func start(_ server: String, port: Int, settings: String) throws {
        try ThrowawayCluster.run(
            binaries + "/pg_ctl",
            [
                "-D", directory + "/" + server, "-l", directory + "/" + server + ".log", "-w", "-o",
                "-p \(port) -k \(directory) -c listen_addresses='' -c fsync=off -c max_connections=200 " + settings, "start",
            ],
            asPostgres: asPostgres
        )
    }

    /// Stops the standby (a fast shutdown: its connections are cut, as in a restart).
    public func stopStandby() throws {
        try ThrowawayCluster.run(binaries + "/pg_ctl", ["-D", directory + "/standby", "-m", "fast", "-w", "stop"], asPostgres: asPostgres)
    }

    /// Promotes the standby: it leaves recovery and takes writes of its own, a history apart.
    public func promoteStandby() throws {
        try ThrowawayCluster.run(binaries + "/pg_ctl", ["-D", directory + "/standby", "-w", "promote"], asPostgres: asPostgres)
    }

    /// Starts a pair on a worker thread, runs `body` with it, and removes it on a worker thread:
    /// initdb, pg_basebackup and pg_ctl block for seconds, which a thread of the cooperative pool
    /// (shared with the relays under test) must not.
    public static func with<T: Sendable>(_ body: (StandbyPair) async throws -> T) async throws -> T {
        try await Workers.using(try await Workers.value { try StandbyPair.start() }, stop: { $0.remove() }, body)
    }

    /// ``with(_:)``, with the primary as a ``TestDatabase`` that `prepare` readies on a worker
    /// thread first (creates and subscribes tables, writes rows).
    public static func with<T: Sendable>(
        preparingPrimary prepare: @escaping @Sendable (TestDatabase) throws -> Void, _ body: (StandbyPair, TestDatabase) async throws -> T
    ) async throws -> T {
        try await with { pair in
            let db = try await Workers.value {
                let db = try TestDatabase(existing: pair.primaryConninfo)
                try prepare(db)
                return db
            }
            return try await body(pair, db)
        }
    }

    /// Stops both servers and deletes their directory.
    public func remove() {
        for server in ["standby", "primary"] {
            try? ThrowawayCluster.run(
                binaries + "/pg_ctl", ["-D", directory + "/" + server, "-m", "immediate", "-w", "stop"], asPostgres: asPostgres)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
