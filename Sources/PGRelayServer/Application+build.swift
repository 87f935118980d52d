import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import PGRelayCore
import PGRelayPostgres

/// Everything `pgrelay serve` needs to know. Defaults are the documented ones.
public struct ServeConfiguration: Sendable {
    public var conninfo: String
    /// A hot standby to read ticks and the log from (`--read-url`, `database.read_url`); nil reads the primary.
    public var readConninfo: String?
    /// `/health` is 503 while the standby lacks a tick the primary has had for longer than this. Default 30.
    public var readMaxLagSeconds: Double = 30
    /// Default 127.0.0.1: without auth, pgrelay only binds to loopback (see `insecureNoAuth`).
    public var host: String = "127.0.0.1"
    /// Default 3100; 0 picks a free port (tests).
    public var port: Int = 3100
    /// Seconds between keep-alive comments on idle streams. Default 15.
    public var keepAliveSeconds: Double = 15
    /// The `retry:` hint sent to EventSource clients, in milliseconds. Default 2000.
    public var retryMilliseconds: Int = 2000
    /// How many of the newest changes the relay keeps in memory for its subscribers; a subscriber
    /// further behind reads the log. Default 10,000 changes or 64 MiB.
    public var tail = Tail.Limits()
    /// Connections for request handlers (replay pages, lookups) and their statement timeout.
    public var pool = DatabasePool.Configuration()
    /// Seconds the listener waits for any answer before it presumes its connection dead. Default 30.
    public var listenerAnswerTimeout: Double = 30
    /// When the listener ticks and reads the log without a NOTIFY (`--notify off` tables):
    /// every 10 ms while changes flow, backing off to 250 ms after a second without any.
    public var poll = PollSchedule()
    /// Seconds between WebSocket pings; a socket that does not answer is closed. Default 30.
    public var webSocketPingSeconds: Int = 30
    /// Tokens and access rules; no key configured means no authentication.
    public var auth = Authenticator.Configuration()
    /// Proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`): for limits,
    /// logs, the connection list and who counts as a loopback client. Default none.
    public var trustedProxies: TrustedProxies = .none
    /// Allow binding beyond loopback without authentication.
    public var insecureNoAuth: Bool = false
    /// Seconds a request has to send its head (the first request: from the connection's accept).
    /// Default 10.
    public var headerTimeoutSeconds: Int = 10
    /// Seconds a request has to send its body once its head has arrived. Default 10.
    public var bodyTimeoutSeconds: Int = 10
    /// Host names served besides loopback ones (`server.allowed_hosts`). Empty: with auth, every
    /// Host; without, loopback names only (against DNS rebinding; see ``AllowedHosts``).
    public var allowedHosts: [String] = []
    /// Seconds an HTTP connection may sit idle between requests before it is closed. Default 60;
    /// must exceed the keep-alive interval so that open SSE streams are never idle.
    public var idleTimeoutSeconds: Int = 60

    /// Pages that may use the relay from a browser (CORS, WebSocket `Origin`). Default none:
    /// same-origin pages and clients that send no `Origin` only.
    public var allowedOrigins: AllowedOrigins = .none
    /// Connections in total, per address and per user, subscriptions per socket, replays at once.
    public var limits = ConnectionLimits()
    /// Seconds without a heartbeat after which a relay is taken for dead and the presences it
    /// tracked leave (every relay beats every 5 s, or every third of it when shorter). Default 30.
    public var presenceExpirySeconds: Double = PresenceStore.expirySeconds
    /// Channel names that get a label of their own in `/metrics` (`metrics.channel_labels`); by
    /// default none, so that the metrics' size does not grow with the number of channels.
    public var metricsChannelLabels: Set<String> = []
    /// Tables whose `/v1/changes` pages a shared HTTP cache may store and serve to anyone
    /// (`cache.public_tables`): only tables every reader may see whole. Without auth every page is public.
    public var publicTables: Set<TableName> = []

    public init(conninfo: String) { self.conninfo = conninfo }

    /// Who sees `/metrics` and `/health`'s details (ids, lag, errors): `loopback` clients only
    /// (the default), or `everyone`. Others get `/health`'s status alone and a 403 for `/metrics`.
    public var details: DetailsAudience = .loopback

    public enum DetailsAudience: String, Sendable { case loopback, everyone }

    /// True when the host resolves only to addresses this machine alone can reach.
    public var isLoopback: Bool { LoopbackAddress.isLoopbackOnly(host) }

    /// ``isLoopback`` for any host name.
    public static func loopbackCheck(_ host: String) -> Bool { LoopbackAddress.isLoopbackOnly(host) }
}

public struct ServeConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Builds the daemon: Listener, Tail, routes. `pgrelay serve` and the tests build it the same way.
/// - Parameter onServerRunning: called with the bound port once the server listens.
public func buildApplication(
    _ configuration: ServeConfiguration,
    logger: Logger = Logger(label: "pgrelay"),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    if !configuration.isLoopback && !configuration.insecureNoAuth && !configuration.auth.isEnabled {
        throw ServeConfigurationError(
            description: "refusing to serve on \(configuration.host) without authentication; bind to 127.0.0.1, or pass --insecure-no-auth"
        )
    }
    let metrics = RelayMetrics(channelLabels: configuration.metricsChannelLabels)
    let tail = Tail(limits: configuration.tail)
    let pool = DatabasePool(conninfo: configuration.conninfo, configuration: configuration.pool)
    let reads = LogReads(primary: pool, standby: configuration.readConninfo.map { DatabasePool(conninfo: $0, configuration: configuration.pool) })
    let listenerState = ListenerState()
    let authenticator = try await Authenticator.make(configuration.auth)
    let allowedHosts = try AllowedHosts(configured: configuration.allowedHosts, authOn: authenticator != nil)
    let admission = Admission(limits: configuration.limits, proxies: configuration.trustedProxies)
    let replays = ReplaySlots(count: configuration.limits.concurrentReplays)
    let schemas = TableSchemas()
    let connectionBook = ConnectionBook()
    let capturer = WALCapturer(conninfo: configuration.conninfo, logger: logger)
    var listening = Listener.Configuration(
        conninfo: configuration.conninfo, tables: .all, channels: .all, applicationName: "pgrelay listener", failOnFirstConnect: false,
        answerTimeout: configuration.listenerAnswerTimeout, poll: configuration.poll,
        onConnect: { connected in
            tail.start(after: connected.afterID)
            listenerState.connected(backendPID: connected.backendPID)
        },
        onDisconnect: { error in
            listenerState.disconnected("listener disconnected: \(error)")
            metrics.listenerReconnects.increment()
        },
        readConninfo: configuration.readConninfo,
        onRead: { state in
            reads.follow(state.source)
            listenerState.read(state)
        },
        onRoundStart: { listenerState.roundStarted() },
        onLease: { listenerState.lease($0) }
    )
    listening.onSubscriptionsChanged = { capturer.wake() }
    let listener = Listener(listening, logger: logger)
    let router = Router(context: RelayRequestContext.self)
    router.add(middleware: OriginGate(allowed: configuration.allowedOrigins))
    let snapshots = LiveSnapshots(conninfo: configuration.conninfo, limits: configuration.limits)
    StreamRoute(
        tail: tail, pool: pool, reads: reads, metrics: metrics, retryMilliseconds: configuration.retryMilliseconds, authenticator: authenticator,
        admission: admission, replays: replays, schemas: schemas, connections: connectionBook, snapshots: snapshots, logger: logger
    )
    .register(on: router)
    ChangesRoute(tail: tail, pool: pool, reads: reads, metrics: metrics, authenticator: authenticator, publicTables: configuration.publicTables)
        .register(on: router)
    RowsRoute(pool: pool, snapshots: snapshots, authenticator: authenticator, logger: logger).register(on: router)
    CatalogRoute(pool: pool, authenticator: authenticator).register(on: router)
    let gate = ChannelGate(authenticator: authenticator, pool: pool)
    let hub = EphemeralHub()
    let registry = RelayRegistry(
        pool: pool, expirySeconds: configuration.presenceExpirySeconds, connections: connectionBook, tail: tail, metrics: metrics, logger: logger)
    let sender = ChannelSender(
        gate: gate, pool: pool, limits: configuration.limits, rate: SendRate(perSecond: configuration.limits.messagesPerSecond),
        proxies: configuration.trustedProxies
    )
    ChannelStreamRoute(
        tail: tail, pool: pool, reads: reads, metrics: metrics, retryMilliseconds: configuration.retryMilliseconds, gate: gate, admission: admission,
        replays: replays,
        schemas: schemas, hub: hub, connections: connectionBook, logger: logger
    ).register(on: router)
    ChannelMessagesRoute(tail: tail, pool: pool, reads: reads, metrics: metrics, gate: gate, sender: sender).register(on: router)
    PresenceRoute(pool: pool, gate: gate).register(on: router)
    ChannelMembersRoute(pool: pool, authenticator: authenticator).register(on: router)
    SupabaseBroadcastRoute(gate: gate, sender: sender, metrics: metrics).register(on: router)
    InspectorRoute().register(on: router)
    let details = configuration.details
    let proxies = configuration.trustedProxies
    router.get("/metrics") { request, context in
        guard details == .everyone || proxies.client(peer: context.remoteAddress, headers: request.headers).isLoopback else {
            throw Refusal(.forbidden, "/metrics is served to loopback clients only (server.details: everyone opens it)")
        }
        let capture = capturer.state.withLock { $0 }
        let slot = capture.role == .off ? nil : try? await pool.withConnection { try WALSlotStatus.read($0) }
        metrics.captured(capture, slot: slot ?? nil)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: metrics.text)))
    }
    HealthRoute(
        tail: tail, pool: pool, listenerState: listenerState, capturer: capturer, proxies: configuration.trustedProxies,
        readMaxLagSeconds: configuration.readConninfo == nil ? nil : configuration.readMaxLagSeconds,
        details: configuration.details
    ).register(on: router)
    let webSocketRouter = Router(context: RelayWebSocketContext.self)
    let sockets = SocketServices(
        tail: tail, pool: pool, reads: reads, metrics: metrics, authenticator: authenticator, admission: admission, replays: replays,
        schemas: schemas,
        gate: gate, sender: sender, hub: hub, registry: registry, snapshots: snapshots, logger: logger
    )
    NativeSocketRoute(services: sockets).register(on: webSocketRouter)
    SupabaseSocketRoute(services: sockets).register(on: webSocketRouter)
    let webSocketResponder = webSocketRouter.buildResponder()
    // Upgrades are decided before they happen, each by its route (nil: not its path, or allowed).
    let nativeCheck = NativeSocketRoute.upgradeCheck(authenticator)
    let supabaseCheck = SupabaseSocketRoute.upgradeCheck(authenticator)
    let upgradeCheck: RequestHeadGuard.UpgradeCheck = { target, fields in
        if let refusal = await nativeCheck?(target, fields) { return refusal }
        return await supabaseCheck(target, fields)
    }
    var app = Application(
        router: router,
        server: HTTPServerBuilder { responder in
            GuardedChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    webSocketResponder: webSocketResponder,
                    configuration: .init(
                        // An idle keep-alive connection is closed after a while; SSE streams write
                        // keep-alive comments well within it.
                        http1: .init(idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))),
                        // Larger client frames close the socket with 1009 (message too big): the native
                        // protocol's limit, or the Supabase socket's, which drops frames between the two
                        // with an answer (SupabaseSocketRoute). Pings find dead peers.
                        ws: .init(
                            maxFrameSize: max(configuration.limits.socketMessageBytes, SupabaseSocketRoute.maximumFrameBytes),
                            autoPing: .enabled(timePeriod: .seconds(configuration.webSocketPingSeconds))
                        )
                    )
                ),
                limits: .init(
                    timeout: .seconds(Int64(configuration.headerTimeoutSeconds)), bodyTimeout: .seconds(Int64(configuration.bodyTimeoutSeconds))),
                allowedOrigins: configuration.allowedOrigins,
                allowedHosts: allowedHosts,
                admission: admission,
                upgradeCheck: upgradeCheck
            )
        },
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "pgrelay"),
        onServerRunning: { channel in
            registry.port.withLock { $0 = channel.localAddress?.port }
            await onServerRunning(channel.localAddress?.port ?? 0)
        },
        logger: logger
    )
    app.addServices(registry)
    app.addServices(EphemeralService(hub: hub, listener: EphemeralListener(conninfo: configuration.conninfo, logger: logger)))
    app.addServices(CaptureService(capturer: capturer))
    app.addServices(
        TailService(
            tail: tail, listener: listener, schemas: schemas, pool: pool, keepAliveSeconds: configuration.keepAliveSeconds, metrics: metrics,
            logger: logger))
    return app
}
