import Hummingbird
import NIOCore

/// The request context of pgrelay's HTTP routes: Hummingbird's basics plus the client's
/// address, for the one log line per stream.
public struct RelayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// `127.0.0.1:51234`, for logs.
    var client: String {
        guard let remoteAddress else { return "unknown" }
        return "\(remoteAddress.ipAddress ?? remoteAddress.pathname ?? "?"):\(remoteAddress.port.map(String.init) ?? "")"
    }
}
