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

/// Inside a session's handler: reads the socket's text messages, passing each to `onText`, while
/// `body` speaks. When `body` returns (having closed its side), waits for the server's close to
/// end the reading. When `body` throws (a wait's deadline passed), stops the reader before the
/// error leaves the handler: the library reads the same inbound stream for its close handshake
/// as soon as the handler ends, and two readers of one stream at once stop the whole test
/// process (NIO allows one iterator), which took every other test's result with it.
func readingTexts(
    _ inbound: WebSocketInboundStream, maxSize: Int = 1 << 20, onText: @escaping @Sendable (String) -> Void, _ body: () async throws -> Void
) async throws {
    let reader = Task {
        for try await message in inbound.messages(maxSize: maxSize) {
            if case .text(let text) = message { onText(text) }
        }
    }
    do {
        try await body()
    } catch {
        reader.cancel()
        _ = await reader.result
        throw error
    }
    _ = await reader.result
}
