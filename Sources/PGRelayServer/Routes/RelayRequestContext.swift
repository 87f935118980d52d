import Hummingbird
import NIOCore

/// The request context of pgrelay's HTTP routes: Hummingbird's basics plus the client's
/// address, for the one log line per stream.
public struct RelayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The connection, to close a stream whose client stopped reading mid-replay.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }
}
