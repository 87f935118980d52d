import Foundation
import PGRelayPostgres
import Synchronization

/// The real, unmodified Supabase Python client (`realtime` 2.34.1 from PyPI), in a virtual
/// environment the tests make once under `.build/python-realtime` (or the Python that
/// `PGRELAY_TEST_PYTHON` names, with the package installed).
///
/// The scripts create their clients with `timeout=60`: the relays under test share the test
/// process's two cooperative threads with every other test, and while the heavy ones run (a burst
/// to 50 readers in a debug build) a join's reply can take longer than the client's default 10 s.
/// The client then joins again, and a join replaces the last (as Supabase's server does), so the
/// changes between were the test's to lose. The tests check what arrives, not how fast.
public enum PythonRealtime {
    public static let version = "2.34.1"
    /// Held while the venv is made: concurrent tests wait for the first to finish it.
    private static let lock = Mutex(())

    /// The venv's python, made (and the package installed) on first use.
    public static func python() throws -> String {
        if let given = ProcessInfo.processInfo.environment["PGRELAY_TEST_PYTHON"] { return given }
        return try lock.withLock { _ in
            let directory = FileManager.default.currentDirectoryPath + "/.build/python-realtime"
            let python = directory + "/bin/python"
            let marker = directory + "/installed-realtime-\(version)"
            if FileManager.default.fileExists(atPath: marker) { return python }
            let venv = try Subprocess.run("/usr/bin/env", ["python3", "-m", "venv", "--clear", directory])
            guard venv.status == 0 else { throw TestClusterError("python3 -m venv failed (apt-get install python3-venv): \(venv.stderr)") }
            let pip = try Subprocess.run(directory + "/bin/pip", ["install", "--quiet", "--disable-pip-version-check", "realtime==\(version)"])
            guard pip.status == 0 else { throw TestClusterError("pip install realtime==\(version) failed: \(pip.stderr)") }
            FileManager.default.createFile(atPath: marker, contents: Data())
            return python
        }
    }

    /// Starts `script` (Python source) with `arguments`; the caller reads its stdout and ends it.
    public static func start(_ script: String, _ arguments: [String]) throws -> Subprocess.Running {
        let file = NSTemporaryDirectory() + "pgrelay-realtime-\(UUID().uuidString).py"
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        return try Subprocess.start(try python(), [file] + arguments)
    }
}
