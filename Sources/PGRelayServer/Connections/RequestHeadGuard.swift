import Foundation
import NIOCore

/// The first handler of every connection, in front of the HTTP decoder: each request on the
/// connection must send a complete, sane HTTP/1.1 head within `timeout` of its first byte (the
/// first request: of the connection's accept), and its body within `bodyTimeout` of its head, or
/// it gets a 4xx where one is possible and the connection is closed. Without it, a connection
/// that sent half a request, a 100 KB request line, 2,000 headers, `Content-Length: -1`, two
/// Content-Lengths, a body one byte per 20 s, HTTP/0.9, an HTTP/2 preface or a TLS hello was held
/// open with no answer for minutes, holding one of `limits.connections`.
///
/// It only reads along: bytes pass on as they come, while it follows each request's framing
/// (heads, then `Content-Length` bytes of body; a request body in any other framing is refused
/// with 411). Each head is checked: its size and number of fields, one Content-Length of digits,
/// one Authorization, a `Host` this relay answers (``AllowedHosts``, 421), and for a WebSocket
/// upgrade its `Origin` (``AllowedOrigins``). An upgrade is held at the end of its head while
/// ``UpgradeCheck`` decides (the token): refused, it gets a real HTTP answer that says why (the
/// WebSocket stage can only answer a refused upgrade with an empty 400); allowed, it passes on as
/// it came and the guard steps aside.
final class RequestHeadGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    struct Limits: Sendable {
        /// Seconds to send a whole request head. Default 10.
        var timeout: TimeAmount = .seconds(10)
        /// Seconds to send a request's body once its head has arrived. Default 10.
        var bodyTimeout: TimeAmount = .seconds(10)
        /// Bytes a request head may have (request line and headers). Default 32 KiB; below the
        /// decoder's own 80 KiB so that this answers first.
        var maximumHeadBytes = 32 * 1024
        /// Header fields a request head may have. Default 100.
        var maximumHeaderFields = 100
    }

    /// Decides a WebSocket upgrade from its request target (the path as the router matches it,
    /// and the query) and header fields: nil lets it pass, a status line and reason refuse it.
    typealias UpgradeCheck = @Sendable (_ target: String, _ fields: [(name: String, value: String)]) async -> (status: String, reason: String)?

    private enum Phase {
        /// Between requests: the next byte starts a head.
        case idle
        case head
        case body(remaining: Int)
    }

    /// What a complete head asks for.
    private enum Verdict {
        case refuse(status: String, reason: String)
        case upgrade(target: String, fields: [(name: String, value: String)])
        case request(bodyBytes: Int)
    }

    private let limits: Limits
    private let allowedOrigins: AllowedOrigins
    private let allowedHosts: AllowedHosts
    private let upgradeCheck: UpgradeCheck?
    /// What arrived while an upgrade is being checked, to pass on in order once it is allowed.
    private var held: [NIOAny] = []
    private var checking = false
    /// A connection over a limit: its first request is answered with this, and it is closed.
    private let refusal: (status: String, reason: String)?
    private var phase = Phase.head
    private var head: [UInt8] = []
    private var timer: Scheduled<Void>?
    private var done = false

    init(
        limits: Limits = Limits(), allowedOrigins: AllowedOrigins = .none, allowedHosts: AllowedHosts = .everyone,
        refusal: (status: String, reason: String)? = nil, upgradeCheck: UpgradeCheck? = nil
    ) {
        self.limits = limits
        self.allowedOrigins = allowedOrigins
        self.allowedHosts = allowedHosts
        self.refusal = refusal
        self.upgradeCheck = upgradeCheck
    }

    func handlerAdded(context: ChannelHandlerContext) {
        startTimer(context, limits.timeout, "the request head did not arrive within")
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
        let bytes = unwrapInboundIn(data).readableBytesView
        var index = bytes.startIndex
        while index < bytes.endIndex {
            switch phase {
            case .idle:
                // Empty lines between requests are allowed (RFC 9112 §2.2); the next byte starts a head.
                if bytes[index] == 13 || bytes[index] == 10 {
                    index += 1
                    continue
                }
                phase = .head
                head = []
                startTimer(context, limits.timeout, "the request head did not arrive within")
            case .body(let remaining):
                let taken = min(remaining, bytes.endIndex - index)
                index += taken
                if taken == remaining {
                    phase = .idle
                    timer?.cancel()
                } else {
                    phase = .body(remaining: remaining - taken)
                }
            case .head:
                let before = head.count
                head.append(contentsOf: bytes[index...])
                guard let end = endOfHead else {
                    if let problem = inspectPartial() {
                        refuse(context, problem.status, problem.reason)
                        return
                    }
                    index = bytes.endIndex
                    continue
                }
                index += end + 4 - before
                head.removeLast(head.count - (end + 4))
                switch inspectComplete(end: end) {
                case .refuse(let status, let reason):
                    refuse(context, status, reason)
                    return
                case .upgrade(let target, let fields):
                    guard let upgradeCheck else {
                        context.fireChannelRead(data)
                        pass(context)
                        return
                    }
                    check(context, data, target: target, fields: fields, upgradeCheck)
                    return
                case .request(let bodyBytes):
                    timer?.cancel()
                    if bodyBytes > 0 {
                        phase = .body(remaining: bodyBytes)
                        startTimer(context, limits.bodyTimeout, "the request body did not arrive within")
                    } else {
                        phase = .idle
                    }
                }
            }
        }
        context.fireChannelRead(data)
    }

    private func startTimer(_ context: ChannelHandlerContext, _ deadline: TimeAmount, _ what: String) {
        timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: deadline) {
            let (handler, context) = loopBound.value
            handler.refuse(context, "408 Request Timeout", "\(what) \(deadline.nanoseconds / 1_000_000_000) s")
        }
    }

    /// An upgrade passed: the WebSocket has the connection, and the guard steps aside.
    private func pass(_ context: ChannelHandlerContext) {
        done = true
        timer?.cancel()
        head = []
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Holds the upgrade's last bytes (and whatever follows) until `upgradeCheck` decides.
    private func check(
        _ context: ChannelHandlerContext, _ data: NIOAny, target: String, fields: [(name: String, value: String)],
        _ upgradeCheck: @escaping UpgradeCheck
    ) {
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

    private var endOfHead: Int? {
        guard head.count >= 4 else { return nil }
        for i in 0...(head.count - 4) where head[i] == 13 && head[i + 1] == 10 && head[i + 2] == 13 && head[i + 3] == 10 { return i }
        return nil
    }

    /// What is wrong with a head that has not ended yet, or nil while it may still become a good one.
    private func inspectPartial() -> (status: String, reason: String)? {
        if head.first == 0x16 { return ("400 Bad Request", "this server speaks plain HTTP, not TLS") }
        if head.starts(with: Array("PRI * HTTP/2".utf8)) { return ("505 HTTP Version Not Supported", "this server speaks HTTP/1.1") }
        let lineEnd = head.firstIndex(of: 10)
        if lineEnd == nil, head.count > limits.maximumHeadBytes {
            return ("414 URI Too Long", "the request line is longer than \(limits.maximumHeadBytes) bytes")
        }
        if let lineEnd, let problem = Self.requestLineProblem(String(decoding: head[..<lineEnd], as: UTF8.self).trimmingCharacters(in: ["\r"])) {
            return problem
        }
        if head.count > limits.maximumHeadBytes {
            return ("431 Request Header Fields Too Large", "the request head is larger than \(limits.maximumHeadBytes) bytes")
        }
        // Line ends: the request line's, one per field, and the empty line's that ends the head.
        if head.count(where: { $0 == 10 }) > limits.maximumHeaderFields + 2 {
            return ("431 Request Header Fields Too Large", "the request head has more than \(limits.maximumHeaderFields) header fields")
        }
        return nil
    }

    private static func requestLineProblem(_ line: String) -> (status: String, reason: String)? {
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            return parts.count == 2 || (parts.count == 3 && parts[2].hasPrefix("HTTP/"))
                ? ("505 HTTP Version Not Supported", "this server speaks HTTP/1.1 (the request line was '\(line.prefix(80))')")
                : ("400 Bad Request", "the request line is not 'METHOD /path HTTP/1.1'")
        }
        return nil
    }

    /// The verdict on a complete head, `head[..<end]`.
    private func inspectComplete(end: Int) -> Verdict {
        if let problem = inspectPartial() { return .refuse(status: problem.status, reason: problem.reason) }
        let lines = String(decoding: head[..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let requestLine = lines.first.map(String.init) ?? ""
        if let problem = Self.requestLineProblem(requestLine) { return .refuse(status: problem.status, reason: problem.reason) }
        // A field line is `name: value`, the name a token: a folded line (obs-fold, leading white
        // space) or one without a colon is refused, as RFC 9112 asks (the decoder behind dropped
        // such a request without an answer).
        let token = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), colon > line.startIndex, line[..<colon].allSatisfy(token.contains) else {
                return .refuse(
                    status: "400 Bad Request",
                    reason: "a header line is 'Name: value' (no folded lines, no space before the colon); not '\(line.prefix(60))'")
            }
        }
        let fields = lines.dropFirst().map { line in
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            return (
                name: parts[0].trimmingCharacters(in: .whitespaces).lowercased(),
                value: parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            )
        }
        func values(_ name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }
        guard values("authorization").count <= 1 else {
            return .refuse(status: "400 Bad Request", reason: "a request has one Authorization header; this one has \(values("authorization").count)")
        }
        let lengths = values("content-length")
        if !values("transfer-encoding").isEmpty {
            return lengths.isEmpty
                ? .refuse(status: "411 Length Required", reason: "send a request body with a Content-Length, not a Transfer-Encoding")
                : .refuse(status: "400 Bad Request", reason: "a request may not have both Content-Length and Transfer-Encoding")
        }
        guard lengths.count <= 1 else { return .refuse(status: "400 Bad Request", reason: "a request has one Content-Length header") }
        var bodyBytes = 0
        if let length = lengths.first {
            guard !length.isEmpty, length.count <= 12, length.allSatisfy({ $0.isASCII && $0.isNumber }), let bytes = Int(length) else {
                return .refuse(status: "400 Bad Request", reason: "Content-Length must be a number of bytes, not '\(length.prefix(40))'")
            }
            bodyBytes = bytes
        }
        let hosts = values("host")
        guard hosts.count <= 1 else { return .refuse(status: "400 Bad Request", reason: "a request has one Host header") }
        if let host = hosts.first, !allowedHosts.allows(host) {
            return .refuse(status: "421 Misdirected Request", reason: AllowedHosts.refusal(host))
        }
        // A browser names the page that opens a WebSocket; a page that may not use the relay is
        // refused here with a 403 that says why (the WebSocket stage can only answer an empty 400).
        guard fields.contains(where: { $0.name == "upgrade" && $0.value.lowercased().contains("websocket") }) else {
            return .request(bodyBytes: bodyBytes)
        }
        if let origin = values("origin").first, allowedOrigins.verdict(origin: origin, host: hosts.first) == .refused {
            return .refuse(status: "403 Forbidden", reason: AllowedOrigins.refusal(origin))
        }
        let parts = requestLine.split(separator: " ")
        return .upgrade(target: Self.routeTarget(String(parts[1])), fields: fields)
    }

    /// A request target as the router matches it: the path of an absolute-form target, percent-
    /// decoded, with empty segments (`//`, a trailing `/`) dropped, and the query as it came. Every
    /// spelling that reaches a route is checked as that route (`/v1/ws/`, `//v1/ws`, `http://host/v1/ws`).
    static func routeTarget(_ target: String) -> String {
        var rest = Substring(target)
        if let scheme = rest.range(of: "://"), !rest[..<scheme.lowerBound].contains("/") {
            rest = rest[scheme.upperBound...]
            rest = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
        }
        let queryStart = rest.firstIndex(of: "?")
        let path = queryStart.map { rest[..<$0] } ?? rest
        let decoded = String(path).removingPercentEncoding ?? String(path)
        let normal = "/" + decoded.split(separator: "/").joined(separator: "/")
        return normal + (queryStart.map { String(rest[$0...]) } ?? "")
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
