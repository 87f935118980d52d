import NIOCore

/// The first handler of every connection, in front of the HTTP decoder: a connection must send
/// a complete, sane HTTP/1.1 request head within `timeout`, or it gets a 4xx/5xx where one is
/// possible and is closed. Without it, a connection that sends half a request, a 100 KB request
/// line, a 200 KB header, HTTP/0.9, an HTTP/2 preface, a TLS hello or a request with both
/// Content-Length and Transfer-Encoding was held open forever with no answer (the WebSocket
/// upgrade stage, which reads the first request, has no timeout and drops decoder errors).
///
/// It only reads along: bytes pass on as they come. Once the first head has passed, it removes
/// itself; later requests on the connection are covered by the HTTP server's idle timeout and
/// header limits. A WebSocket upgrade is held at the end of its head while ``UpgradeCheck``
/// decides (the token): refused, it gets a real HTTP answer that says why (the WebSocket stage
/// can only answer a refused upgrade with an empty 400); allowed, it passes on as it came.
final class RequestHeadGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    struct Limits: Sendable {
        /// Seconds to send a whole request head. Default 10.
        var timeout: TimeAmount = .seconds(10)
        /// Bytes a request head may have (request line and headers). Default 32 KiB; below the
        /// decoder's own 80 KiB so that this answers first.
        var maximumHeadBytes = 32 * 1024
    }

    /// Decides a WebSocket upgrade from its request target and header fields: nil lets it pass,
    /// a status line and reason refuse it.
    typealias UpgradeCheck = @Sendable (_ target: String, _ fields: [(name: String, value: String)]) async -> (status: String, reason: String)?

    private let limits: Limits
    private let allowedOrigins: AllowedOrigins
    private let upgradeCheck: UpgradeCheck?
    /// What arrived while an upgrade is being checked, to pass on in order once it is allowed.
    private var held: [NIOAny] = []
    private var checking = false
    /// A connection over a limit: its first request is answered with this, and it is closed.
    private let refusal: (status: String, reason: String)?
    private var head: [UInt8] = []
    private var timer: Scheduled<Void>?
    private var done = false

    init(
        limits: Limits = Limits(), allowedOrigins: AllowedOrigins = .none, refusal: (status: String, reason: String)? = nil,
        upgradeCheck: UpgradeCheck? = nil
    ) {
        self.limits = limits
        self.allowedOrigins = allowedOrigins
        self.refusal = refusal
        self.upgradeCheck = upgradeCheck
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: limits.timeout) {
            let (handler, context) = loopBound.value
            handler.refuse(context, "408 Request Timeout", "the request head did not arrive within \(handler.limits.timeout.nanoseconds / 1_000_000_000) s")
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        if checking {
            held.append(data)
            return
        }
        if let refusal {
            refuse(context, refusal.status, refusal.reason)
            return
        }
        let buffer = unwrapInboundIn(data)
        head.append(contentsOf: buffer.readableBytesView)
        if let verdict = inspect() {
            refuse(context, verdict.status, verdict.reason)
            return
        }
        if headComplete, let upgradeCheck, let (target, fields) = upgradeRequest() {
            check(context, data, target: target, fields: fields, upgradeCheck)
            return
        }
        context.fireChannelRead(data)
        if headComplete { pass(context) }
    }

    /// The head has passed: the guard steps aside.
    private func pass(_ context: ChannelHandlerContext) {
        done = true
        timer?.cancel()
        head = []
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Holds the upgrade's last bytes (and whatever follows) until `upgradeCheck` decides.
    private func check(_ context: ChannelHandlerContext, _ data: NIOAny, target: String, fields: [(name: String, value: String)], _ upgradeCheck: @escaping UpgradeCheck) {
        checking = true
        held = [data]
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask { await upgradeCheck(target, fields) }.whenComplete { result in
            let (handler, context) = loopBound.value
            handler.checking = false
            guard !handler.done else { return }
            if case .success(let verdict?) = result {
                handler.held = []
                handler.refuse(context, verdict.status, verdict.reason)
                return
            }
            let pending = handler.held
            handler.held = []
            for data in pending { context.fireChannelRead(data) }
            context.fireChannelReadComplete()
            handler.pass(context)
        }
    }

    /// The request target and fields of a complete head that asks for a WebSocket upgrade.
    private func upgradeRequest() -> (String, [(name: String, value: String)])? {
        guard let end = endOfHead else { return nil }
        let lines = String(decoding: head[..<end], as: UTF8.self).split(separator: "\r\n")
        guard let line = lines.first else { return nil }
        let parts = line.split(separator: " ")
        guard parts.count == 3 else { return nil }
        let fields = lines.dropFirst().map { line in
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            return (name: parts[0].trimmingCharacters(in: .whitespaces).lowercased(), value: parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : "")
        }
        guard fields.contains(where: { $0.name == "upgrade" && $0.value.lowercased().contains("websocket") }) else { return nil }
        return (String(parts[1]), fields)
    }

    private var headComplete: Bool { endOfHead != nil }

    private var endOfHead: Int? {
        guard head.count >= 4 else { return nil }
        for i in 0...(head.count - 4) where head[i] == 13 && head[i + 1] == 10 && head[i + 2] == 13 && head[i + 3] == 10 { return i }
        return nil
    }

    /// What is wrong with what arrived so far, or nil while it may still become a good head.
    private func inspect() -> (status: String, reason: String)? {
        if head.first == 0x16 { return ("400 Bad Request", "this server speaks plain HTTP, not TLS") }
        if head.starts(with: Array("PRI * HTTP/2".utf8)) { return ("505 HTTP Version Not Supported", "this server speaks HTTP/1.1") }
        let lineEnd = head.firstIndex(of: 10)
        if lineEnd == nil, head.count > limits.maximumHeadBytes { return ("414 URI Too Long", "the request line is longer than \(limits.maximumHeadBytes) bytes") }
        if let lineEnd {
            let line = String(decoding: head[..<lineEnd], as: UTF8.self).trimmingCharacters(in: ["\r"])
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
                return parts.count == 2 || (parts.count == 3 && parts[2].hasPrefix("HTTP/"))
                    ? ("505 HTTP Version Not Supported", "this server speaks HTTP/1.1 (the request line was '\(line.prefix(80))')")
                    : ("400 Bad Request", "the request line is not 'METHOD /path HTTP/1.1'")
            }
        }
        guard let end = endOfHead else {
            return head.count > limits.maximumHeadBytes ? ("431 Request Header Fields Too Large", "the request head is larger than \(limits.maximumHeadBytes) bytes") : nil
        }
        if end > limits.maximumHeadBytes { return ("431 Request Header Fields Too Large", "the request head is larger than \(limits.maximumHeadBytes) bytes") }
        let fields = String(decoding: head[..<end], as: UTF8.self).split(separator: "\r\n").dropFirst().map { line in
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            return (name: parts[0].trimmingCharacters(in: .whitespaces).lowercased(), value: parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : "")
        }
        let names = fields.map(\.name)
        if names.contains("content-length"), names.contains("transfer-encoding") {
            return ("400 Bad Request", "a request may not have both Content-Length and Transfer-Encoding")
        }
        // A browser names the page that opens a WebSocket; a page that may not use the relay is
        // refused here with a 403 that says why (the WebSocket stage can only answer an empty 400).
        let isUpgrade = fields.contains { $0.name == "upgrade" && $0.value.lowercased().contains("websocket") }
        if isUpgrade, let origin = fields.first(where: { $0.name == "origin" })?.value,
            allowedOrigins.verdict(origin: origin, host: fields.first(where: { $0.name == "host" })?.value) == .refused
        {
            return ("403 Forbidden", AllowedOrigins.refusal(origin))
        }
        return nil
    }

    /// Answers with a plain-text error and closes; nothing else of the connection is read.
    private func refuse(_ context: ChannelHandlerContext, _ status: String, _ reason: String) {
        guard !done else { return }
        done = true
        timer?.cancel()
        // A reason that is a JSON object (Supabase's upgrade refusals) goes as JSON, others as text.
        let json = reason.hasPrefix("{")
        let body = json ? reason : reason + "\n"
        let type = json ? "application/json" : "text/plain; charset=utf-8"
        let response = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: response))).whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
