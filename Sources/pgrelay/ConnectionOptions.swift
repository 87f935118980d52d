import ArgumentParser
import Foundation
import PGRelayPostgres

/// `--database-url`, else `DATABASE_URL`, else libpq's own defaults (`PG*`, `.pgpass`, service files).
struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "A libpq URI or connection string. Default: $DATABASE_URL, else libpq's PG* variables.")
    var databaseURL: String?

    var conninfo: String { databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"] ?? "" }

    /// The database, reached through ``Database``: its calls run on a thread of its own, never on
    /// the cooperative pool that the CLI's async code (signals, HTTP, listeners) runs on.
    func database() -> Database { Database(conninfo: conninfo, applicationName: "pgrelay cli") }

    /// Runs `body` with a fresh connection, on the database's own thread.
    func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await database().run(body)
    }
}

/// Runs a command body, turning any error into one line on stderr and exit status 1.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("pgrelay: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// Writes a line to stdout now, so that a pipe (`| jq`) sees each change as it arrives.
func emit(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
