import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import PGRelayCore

/// The HTTP/1.1 + WebSocket child channel, with a ``RequestHeadGuard`` in front of it.
struct GuardedChannel: ServerChildChannel {
    let inner: HTTP1WebSocketUpgradeChannel
    let limits: RequestHeadGuard.Limits
    let allowedOrigins: AllowedOrigins
    let allowedHosts: AllowedHosts
    let admission: Admission
    /// Decides WebSocket upgrades before they happen (their token), so a refusal is a real HTTP answer.
    var upgradeCheck: RequestHeadGuard.UpgradeCheck? = nil

    func setup(channel: any NIOCore.Channel, logger: Logger) -> EventLoopFuture<HTTP1WebSocketUpgradeChannel.Value> {
        // Counted from accept to close; over a limit, the first request is answered with why.
        var refusal: Refusal?
        switch admission.admitConnection(from: channel.remoteAddress) {
        case .success(let ticket):
            channel.closeFuture.whenComplete { _ in ticket.release() }
        case .failure(let refused):
            refusal = refused
        }
        do {
            try channel.pipeline.syncOperations.addHandler(
                RequestHeadGuard(
                    limits: limits, allowedOrigins: allowedOrigins, allowedHosts: allowedHosts, refusal: refusal.map { ($0.statusLine, $0.message) },
                    upgradeCheck: upgradeCheck
                )
            )
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: HTTP1WebSocketUpgradeChannel.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
