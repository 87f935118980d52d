import Foundation
import PGRelayPostgres
import Synchronization

/// The Postgres the integration tests use: the one `PGRELAY_TEST_DATABASE_URL` names, or a
/// throwaway cluster made with initdb and pg_ctl in a temporary directory (as the `postgres`
/// user when the tests run as root), stopped and removed when the test process exits.
///
/// Each test gets a database of its own from ``freshDatabase(initialized:)``.
public final class TestCluster: Sendable {
    public static let shared: Result<TestCluster, Error> = Result { try TestCluster() }

    /// Connection string of the maintenance database, where test databases are created.
    public let adminConninfo: String
    private let counter = Mutex(0)

    public static func get() throws -> TestCluster { try shared.get() }

    private init() throws {
        if let url = ProcessInfo.processInfo.environment["PGRELAY_TEST_DATABASE_URL"], !url.isEmpty {
            adminConninfo = url
            return
        }
        adminConninfo = try ThrowawayCluster.start()
    }

    /// Creates an empty database and returns its connection string; runs `pgrelay init` on it when asked.
    public func freshDatabase(initialized: Bool = true) throws -> String {
        let name = counter.withLock { counter in
            counter += 1
            return "pgrelay_test_\(ProcessInfo.processInfo.processIdentifier)_\(counter)"
        }
        let admin = try Connection(conninfo: adminConninfo)
        try admin.execute("drop database if exists \(name)")
        try admin.execute("create database \(name)")
        let conninfo = try Self.replacingDatabase(in: adminConninfo, with: name)
        if initialized { try SchemaMigration(connection: try Connection(conninfo: conninfo)).initialize() }
        return conninfo
    }

    /// The same connection parameters with another dbname, for both URI and key=value forms.
    public static func replacingDatabase(in conninfo: String, with database: String) throws -> String {
        if conninfo.hasPrefix("postgres://") || conninfo.hasPrefix("postgresql://") {
            guard var components = URLComponents(string: conninfo) else { throw TestClusterError("cannot parse \(conninfo)") }
            components.path = "/" + database
            return components.string!
        }
        let kept = conninfo.split(separator: " ").filter { !$0.hasPrefix("dbname=") }
        return (kept + ["dbname=\(database)"]).joined(separator: " ")
    }
}

public struct TestClusterError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// initdb + pg_ctl in a temporary directory.
enum ThrowawayCluster {
    nonisolated(unsafe) static var directory: String?
    nonisolated(unsafe) static var binaries: String?

    static func start() throws -> String {
        let bin = try findBinaries()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pgrelay-test-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let asPostgres = getuid() == 0
        if asPostgres { try run("/bin/chown", ["postgres", dir]) }
        let port = 20_000 + Int.random(in: 0..<20_000)
        // C locale: text compares by code point, as the relay's filters do (the comparison oracle relies on it).
        try run(
            bin + "/initdb", ["-D", dir + "/data", "-A", "trust", "-U", "postgres", "--no-sync", "--locale=C", "--encoding=UTF8"],
            asPostgres: asPostgres)
        try run(
            bin + "/pg_ctl",
            [
                "-D", dir + "/data", "-l", dir + "/log", "-w", "-o",
                "-p \(port) -k \(dir) -c listen_addresses='' -c fsync=off -c max_connections=1000 -c shared_buffers=64MB -c max_prepared_transactions=20 -c wal_level=logical -c max_wal_senders=20 -c max_replication_slots=20",
                "start",
            ],
            asPostgres: asPostgres
        )
        directory = dir
        binaries = bin
        atexit {
            guard let dir = ThrowawayCluster.directory, let bin = ThrowawayCluster.binaries else { return }
            try? ThrowawayCluster.run(bin + "/pg_ctl", ["-D", dir + "/data", "-m", "immediate", "stop"], asPostgres: getuid() == 0)
            try? FileManager.default.removeItem(atPath: dir)
        }
        return "host=\(dir) port=\(port) user=postgres dbname=postgres"
    }

    static func findBinaries() throws -> String {
        if let configured = ProcessInfo.processInfo.environment["PGBIN"] { return configured }
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        if let newest = versions.compactMap(Int.init).max() { return "\(root)/\(newest)/bin" }
        throw TestClusterError("no PostgreSQL server binaries under \(root); install postgresql, or set PGRELAY_TEST_DATABASE_URL")
    }

    static func run(_ tool: String, _ arguments: [String], asPostgres: Bool = false) throws {
        let output =
            asPostgres
            ? try Subprocess.run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments)
            : try Subprocess.run(tool, arguments)
        guard output.status == 0 else { throw TestClusterError("\(tool) failed: \(output.stdout)\(output.stderr)") }
    }
}
