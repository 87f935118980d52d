import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The request context of `/v1/ws`: Hummingbird's WebSocket basics plus the connection, so that a
/// socket whose client stopped reading in the middle of a replay can be closed (its pending
/// writes fail, and the replay's page and slot are let go).
public struct RelayWebSocketContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
}
