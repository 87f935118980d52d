import Foundation

/// Runs a program to completion with posix_spawn and waitpid, capturing stdout and stderr in files.
///
/// Foundation's `Process.waitUntilExit` was seen to hang here after `pg_ctl` exited (the server
/// it starts keeps running), so programs start with the plain POSIX calls instead. Used by
/// `pgrelay demo`'s private cluster and by the tests.
public struct Subprocess {
    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc
    /// module does not import; nil where the C library lacks it (the child then inherits what
    /// is not close-on-exec).
    static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// A program started in the background: signal it, then wait for it.
    public struct Running: Sendable {
        public let pid: pid_t
        let outPath: String
        let errPath: String

        public func signal(_ signal: Int32) { kill(pid, signal) }

        /// What the program has written to stdout so far.
        public var stdoutSoFar: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
        /// What the program has written to stderr so far.
        public var stderrSoFar: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

        /// Waits for the program to exit and returns what it printed.
        public func wait() -> Output {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            return Output(
                status: exitStatus,
                stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            )
        }
    }

    /// Runs a program to its end and returns what it printed; its temporary files are removed.
    public static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Output {
        let running = try start(path, arguments, environment: environment)
        defer { try? FileManager.default.removeItem(atPath: (running.outPath as NSString).deletingLastPathComponent) }
        return running.wait()
    }

    /// Starts a program with stdout and stderr going to temporary files.
    public static func start(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Running {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgrelay-subprocess-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let outPath = directory.appendingPathComponent("out").path
        let errPath = directory.appendingPathComponent("err").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // The child gets nothing else of ours: a socket it inherited (NIO accepts without
        // close-on-exec) would stay open in it after we close it, and its peer would see no end
        // of the connection until the child exits.
        _ = Self.closeFrom?(&actions, 3)

        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        // The test process ignores SIGTERM and friends (service lifecycle handles them); a child
        // would inherit that and outlive `signal(SIGTERM)`. Children start with default handlers.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw Failure("cannot start \(path): \(String(cString: strerror(spawned)))") }
        return Running(pid: pid, outPath: outPath, errPath: errPath)
    }
}
