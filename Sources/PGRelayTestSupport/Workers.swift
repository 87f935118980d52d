import Foundation

/// Runs blocking work (libpq calls) on threads of its own, off Swift's cooperative pool, which on
/// a 2-core machine has two threads: eight blocking writers there would wait for each other.
public enum Workers {
    /// Runs `body(0..<count)` on `count` threads at once and returns when all have finished;
    /// rethrows the first error any of them threw.
    public static func run(_ count: Int, name: String = "test worker", _ body: @escaping @Sendable (Int) throws -> Void) async throws {
        let state = State(remaining: count)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            state.setContinuation(continuation)
            for index in 0..<count {
                let thread = Thread {
                    var failure: Error?
                    do { try body(index) } catch { failure = error }
                    state.finished(failure)
                }
                thread.name = "\(name) \(index)"
                thread.start()
            }
        }
    }

    /// Runs one blocking call on a thread of its own and returns its value.
    public static func value<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let box = Box<T>()
        try await run(1) { _ in box.set(try body()) }
        return box.get()!
    }

    private final class Box<T>: @unchecked Sendable {
        private let lock = NSLock()
        private var value: T?
        func set(_ newValue: T) { lock.withLock { value = newValue } }
        func get() -> T? { lock.withLock { value } }
    }

    private final class State: @unchecked Sendable {
        private let lock = NSLock()
        private var remaining: Int
        private var failure: Error?
        private var continuation: CheckedContinuation<Void, Error>?

        init(remaining: Int) { self.remaining = remaining }

        func setContinuation(_ continuation: CheckedContinuation<Void, Error>) {
            let done = lock.withLock { () -> Bool in
                self.continuation = continuation
                return remaining == 0
            }
            if done { continuation.resume() }
        }

        func finished(_ error: Error?) {
            let resume = lock.withLock { () -> (CheckedContinuation<Void, Error>, Error?)? in
                if failure == nil { failure = error }
                remaining -= 1
                guard remaining == 0, let continuation else { return nil }
                self.continuation = nil
                return (continuation, failure)
            }
            if let (continuation, failure) = resume {
                if let failure { continuation.resume(throwing: failure) } else { continuation.resume() }
            }
        }
    }
}
