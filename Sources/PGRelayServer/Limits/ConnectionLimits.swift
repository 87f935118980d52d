/// How much of the relay one client may take: `limits.*` in the configuration. Defaults fit one
/// machine's worth of real clients; tests and benchmarks that need other limits set them.
public struct ConnectionLimits: Sendable, Equatable {
    /// Open connections in total (HTTP, SSE, WebSocket). Default 20,000; `serve` raises its open
    /// file limit to fit, and says so when the system does not allow that many.
    public var connections = 20_000
    /// Open connections from one client address. Default 1,000. Not applied to loopback
    /// addresses unless ``limitLoopback`` (a local proxy or load generator is one address).
    public var connectionsPerAddress = 1_000
    /// Apply ``connectionsPerAddress`` to loopback clients too. Default false.
    public var limitLoopback = false
    /// Open SSE streams and WebSockets of one user, the token's `sub` (with auth on). Default 200.
    public var streamsPerUser = 200
    /// Subscriptions on one WebSocket. Default 100.
    public var subscriptionsPerSocket = 100
    /// Subscribers reading the log at once (replay and catch-up); others wait their turn. Default 16.
    public var concurrentReplays = 16
    /// Seconds a client may stop reading while it holds a replay slot (its page not yet taken)
    /// before its connection is closed, so that it cannot keep the slot and the page from others;
    /// it resumes where it was when it reconnects (EventSource does so by itself). Default 30.
    public var replayStallSeconds: Double = 30
    /// Most bytes of a message's payload (its JSON text) sent through the relay. Default 256 KiB.
    public var messageBytes = 256 * 1024
    /// Most bytes of an ephemeral event's payload. Default 16 KiB.
    public var ephemeralBytes = 16 * 1024
    /// Messages and ephemeral events one WebSocket, or one user (or client address, without auth)
    /// over HTTP, may send per second. Default 50.
    public var messagesPerSecond = 50
    /// Channels one WebSocket may subscribe to. Default 100.
    public var channelsPerSocket = 100
    /// Most rows one live query's snapshot sends; crossing it ends the stream with an error that
    /// suggests a filter. Default 1,000,000.
    public var snapshotRows = 1_000_000
    /// Seconds a snapshot may take, its transaction open on the primary (vacuum keeps every row
    /// version it may see until it ends). Default 120.
    public var snapshotSeconds: Double = 120
    /// Snapshots read at once, each on a connection of its own; others wait their turn. Default 4.
    public var concurrentSnapshots = 4

    public init() {}
}
