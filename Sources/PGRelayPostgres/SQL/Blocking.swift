import Foundation
import Synchronization

/// Blocking work that is not a database call (starting a private Postgres with `initdb`, a
/// subprocess), run on a thread of its own so that it never holds a thread of Swift's
/// cooperative pool. Database calls go through ``Database``.
public enum Blocking {
    /// Runs `body` on a new thread and returns its value.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = "pgrelay blocking work"
            thread.start()
        }
    }
}
