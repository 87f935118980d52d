import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import ServiceLifecycle

/// Whether the Listener is connected, as `/health` reports it.
public final class ListenerState: @unchecked Sendable {
    private let lock = NSLock()
    private var connected = false
    public init() {}
    public var isConnected: Bool { lock.withLock { connected } }
    func set(_ value: Bool) { lock.withLock { connected = value } }
}

/// The long-running part of `serve`: feeds the Listener's changes into the Hub and ticks
/// keep-alives. On graceful shutdown (SIGTERM/SIGINT) it stops and ends every stream.
struct HubService: Service {
    let hub: Hub
    let listener: Listener
    let keepAliveSeconds: Double
    let logger: Logger

    func run() async throws {
        defer { hub.closeAll() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await event in listener.events().cancelOnGracefulShutdown() {
                    logger.debug("change", metadata: ["id": "\(event.id)", "table": "\(event.table)", "operation": "\(event.operation.rawValue)"])
                    hub.publish(event)
                }
            }
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: .seconds(keepAliveSeconds))
                    hub.tick()
                }
            }
            // Whichever ends first (shutdown, or the listener failing for good) ends the service.
            try await group.next()
            group.cancelAll()
        }
    }
}
