import HummingbirdWSClient
import Logging
import PGRelayTestSupport

/// HummingbirdWSClient's `connect`, with a deadline: a session still open after `timeout`
/// seconds is cancelled and the test fails with why, instead of the suite waiting forever.
/// Use it for sessions the client speaks first in; for the sockets the relay answers first
/// (refusals), use ``WebSocketProbe``: this client can lose frames that arrive with the `101`.
@discardableResult
func webSocketSession(
    _ url: String, configuration: WebSocketClientConfiguration = .init(), timeout: Double = 120, logger: Logger,
    _ handler: @escaping WebSocketDataHandler<WebSocketClient.Context>
) async throws -> WebSocketCloseFrame? {
    try await withThrowingTaskGroup(of: WebSocketCloseFrame?.self) { group in
        group.addTask { try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger, handler: handler) }
        group.addTask {
            try await Task.sleep(for: .seconds(timeout))
            throw TestClusterError("the WebSocket session with \(url) did not end within \(Int(timeout)) s")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
