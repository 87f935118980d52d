import Foundation
import PGRelayPostgres

/// A throwaway Postgres cluster for `pgrelay demo`: initdb and pg_ctl in a directory of its own
/// under the temporary directory, on a Unix socket only (no TCP port to collide with), as the
/// `postgres` user when run as root (initdb refuses root). The directory is its owner's only: the
/// server trusts every connection on its socket. ``stop()`` stops it and removes the directory.
///
/// A demo killed with -9 cannot clean up: the directory records the demo's pid (`demo.pid`), and
/// the next demo stops and removes every such directory whose demo is gone.
struct PrivateCluster {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let directory: String
    let binaries: String
    let port: Int
    private let asPostgres: Bool

    var conninfo: String { "host=\(directory) port=\(port) user=postgres dbname=postgres" }

    static let prefix = "pgrelay-demo-"

    /// Creates and starts a cluster; removes what stale demos left first.
    static func start() throws -> PrivateCluster {
        let binaries = try findBinaries()
        let asPostgres = getuid() == 0
        removeStale(binaries: binaries, asPostgres: asPostgres)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + UUID().uuidString.prefix(8)).path
        // Owner only: the server trusts every connection on its socket, which lives here.
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Data("\(getpid())\n".utf8).write(to: URL(fileURLWithPath: directory + "/demo.pid"))
        let cluster = PrivateCluster(directory: directory, binaries: binaries, port: 5432, asPostgres: asPostgres)
        do {
            if asPostgres { try run("/bin/chown", ["postgres", directory]) }
            try cluster.tool("initdb", ["-D", directory + "/data", "-A", "trust", "-U", "postgres", "--no-sync", "--encoding=UTF8"])
            try cluster.tool(
                "pg_ctl",
                ["-D", directory + "/data", "-l", directory + "/postgres.log", "-w", "-o", "-p 5432 -k \(directory) -c listen_addresses=''", "start"]
            )
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    /// Stops the server (immediately: it holds only demo data) and removes the directory.
    func stop() {
        try? tool("pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The newest server binaries: `PGBIN`, else initdb on PATH, else /usr/lib/postgresql/N/bin.
    static func findBinaries() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let configured = environment["PGBIN"], !configured.isEmpty { return configured }
        for dir in (environment["PATH"] ?? "").split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/initdb") {
            return String(dir)
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init)
        if let newest = versions.filter({ FileManager.default.isExecutableFile(atPath: "\(root)/\($0)/bin/initdb") }).max() {
            return "\(root)/\(newest)/bin"
        }
        throw Failure(
            description:
                "no PostgreSQL server found (initdb is not on PATH nor in \(root)/*/bin): install the postgresql package, or give --database-url")
    }

    /// Stops and removes the clusters of demos that are no longer running.
    private static func removeStale(binaries: String, asPostgres: Bool) {
        let temporary = FileManager.default.temporaryDirectory.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix(prefix) {
            let directory = temporary + "/" + name
            let owner = (try? String(contentsOfFile: directory + "/demo.pid", encoding: .utf8)).flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if let owner, kill(owner, 0) == 0 || errno == EPERM { continue }
            PrivateCluster(directory: directory, binaries: binaries, port: 5432, asPostgres: asPostgres).stop()
        }
    }

    private func tool(_ name: String, _ arguments: [String]) throws {
        let path = binaries + "/" + name
        if asPostgres { try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments) } else { try Self.run(path, arguments) }
    }

    /// Runs a program to its end; throws with its output when it fails.
    private static func run(_ program: String, _ arguments: [String]) throws {
        let output = try Subprocess.run(program, arguments)
        guard output.status == 0 else {
            let text = (output.stdout + output.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure(description: "\((program as NSString).lastPathComponent) \(arguments.first ?? "") failed: \(text)")
        }
    }
}
