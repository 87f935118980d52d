import Foundation
import PGRelayPostgres

/// The `pgrelay` executable this build made, for tests that run it the way a user does.
public enum BuiltExecutable {
    /// `pgrelay` sits next to the test bundle in `.build/<configuration>/`.
    public static var pgrelay: URL {
        var directory = Bundle.main.bundleURL
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("pgrelay")
            if FileManager.default.isExecutableFile(atPath: candidate.path), !candidate.hasDirectoryPath { return candidate }
            directory.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/debug/pgrelay")
    }

    /// Runs `pgrelay arguments` with `DATABASE_URL` set to `database` and returns what it printed.
    public static func run(_ arguments: [String], database: String?) throws -> Subprocess.Output {
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = database
        return try Subprocess.run(pgrelay.path, arguments, environment: environment)
    }
}
