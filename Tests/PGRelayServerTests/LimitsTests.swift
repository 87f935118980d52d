import Foundation
import HummingbirdWSClient
import Logging
import NIOWebSocket
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Synchronization
import Testing

@testable import PGRelayServer

/// `limits.*`: a client over its share gets a clear error, and nobody else notices.
@Suite struct LimitsTests {
    /// Opens `count` streams on raw sockets and returns each socket with the start of its answer
    /// (the test's HTTP client may hold a keep-alive connection of its own, so counts are upper bounds).
    static func openStreams(_ count: Int, port: Int, path: String = "/v1/stream/public.orders") async throws -> [(fd: Int32, answer: String)] {
        try await Workers.value {
            try (0..<count).map { _ in
                let (fd, head) = try openGET(port: port, path)
                return (fd, head.hasPrefix("HTTP/1.1 200") ? head : head + readUntil(fd, contains: "allows", timeout: 5))
            }
        }
    }

    @Test func connectionsInTotalAreLimitedAndAFreedPlaceIsTakenAgain() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(
            db,
            configure: {
                $0.limits.connections = 3
                $0.keepAliveSeconds = 0.5
            }
        ) { server in
            let port = server.port
            let opened = try await Self.openStreams(5, port: port)
            let accepted = opened.filter { $0.answer.hasPrefix("HTTP/1.1 200") }
            let freed = try #require(accepted.first, "\(opened.map(\.answer))").fd
            // Each descriptor is closed once: closing one twice, after its number was reused by the
            // in-process server's next socket, would close that socket under NIO (which then traps).
            defer { for (fd, _) in opened where fd != freed { close(fd) } }
            let refused = opened.filter { !$0.answer.hasPrefix("HTTP/1.1 200") }
            #expect((1...3).contains(accepted.count), "\(opened.map(\.answer))")
            #expect(refused.count >= 2)
            for (_, answer) in refused {
                #expect(answer.hasPrefix("HTTP/1.1 503"), "\(answer)")
                #expect(answer.contains("the relay has 3 connections open, the most limits.connections allows"), "\(answer)")
            }
            close(freed)
            try await waitUntilBlocking("a place to be free again") {
                guard let (fd, answer) = try? openGET(port: port, "/v1/stream/public.orders", timeout: 5) else { return false }
                close(fd)
                return answer.hasPrefix("HTTP/1.1 200")
            }
        }
    }

    @Test func connectionsPerAddressSkipLoopbackUnlessConfigured() async throws {
        let db = try await ordersDatabase()
        for limitLoopback in [false, true] {
            let server = try await TestServer.start(db) {
                $0.limits.connectionsPerAddress = 2
                $0.limits.limitLoopback = limitLoopback
            }
            let opened = try await Self.openStreams(4, port: server.port)
            let accepted = opened.filter { $0.answer.hasPrefix("HTTP/1.1 200") }
            if limitLoopback {
                #expect(accepted.count <= 2)
                let refused = opened.filter { !$0.answer.hasPrefix("HTTP/1.1 200") }
                #expect(refused.count >= 2)
                for (_, answer) in refused {
                    #expect(answer.hasPrefix("HTTP/1.1 429"), "\(answer)")
                    #expect(answer.contains("this address has 2 connections open, the most limits.connections_per_address allows"), "\(answer)")
                }
            } else {
                #expect(accepted.count == 4, "\(opened.map(\.answer))")
            }
            for (fd, _) in opened { close(fd) }
            await server.stop()
        }
    }

    @Test func streamsPerUserAreLimitedForThatUserOnly() async throws {
        let db = try await AuthTests().database()
        let policy = try AuthTests().policy()
        try await TestServer.with(
            db,
            configure: {
                $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy)
                $0.limits.streamsPerUser = 2
                $0.keepAliveSeconds = 0.5
            }
        ) { server in
            let port = server.port
            let alice = TokenTests.craft(claims: TokenTests.claims(sub: "alice"))
            let bob = TokenTests.craft(claims: TokenTests.claims(sub: "bob"))
            let held = try await Workers.value { try (0..<2).map { _ in try openGET(port: port, "/v1/stream/public.orders?access_token=\(alice)") } }
            for (_, answer) in held { #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)") }
            let third = try await server.get("/v1/stream/public.orders?access_token=\(alice)")
            #expect(third.status == 429)
            #expect(third.body.contains("the most limits.streams_per_user allows"), "\(third.body)")
            let others = try await server.stream("/v1/stream/public.orders?since=0&access_token=\(bob)", count: 1)
            #expect(others.status == 200 && others.events.count == 1)

            let refused = try await Workers.value { try WebSocketProbe(port: port, path: "/v1/ws?access_token=\(alice)").read() }
            #expect(refused.closeCode == 4429)
            #expect(refused.messages.contains { $0.contains("limits.streams_per_user") }, "\(refused.messages)")

            // A stream that ends gives its place back.
            Foundation.close(held[0].fd)
            try await waitUntilBlocking("alice's place to be free") {
                guard let (fd, answer) = try? openGET(port: port, "/v1/stream/public.orders?access_token=\(alice)", timeout: 5) else { return false }
                Foundation.close(fd)
                return answer.hasPrefix("HTTP/1.1 200")
            }
            Foundation.close(held[1].fd)
        }
    }

    @Test func subscriptionsPerSocketAreLimitedAndTheOthersGoOn() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db, configure: { $0.limits.subscriptionsPerSocket = 3 }) { server in
            var logger = Logger(label: "ws.test")
            logger.logLevel = .warning
            let inbox = WebSocketRouteTests.Inbox()
            try await webSocketSession("ws://127.0.0.1:\(server.port)/v1/ws", logger: logger) { inbound, outbound, _ in
                try await readingTexts(inbound, onText: { inbox.add($0) }) {
                    for id in 1...4 {
                        try await outbound.write(.text(#"{"type":"subscribe","id":"s\#(id)","table":"public.orders"}"#))
                    }
                    _ = try await inbox.wait {
                        $0.filter { $0["type"] == .string("live") }.count == 3 && $0.contains { $0["type"] == .string("error") }
                    }
                    try await db.execute("insert into orders values (1, 'paid', 10)")
                    _ = try await inbox.wait { $0.filter { $0["type"] == .string("change") }.count == 3 }
                    // Unsubscribing one makes room for another.
                    try await outbound.write(.text(#"{"type":"unsubscribe","id":"s1"}"#))
                    try await outbound.write(.text(#"{"type":"subscribe","id":"s5","table":"public.orders"}"#))
                    _ = try await inbox.wait { $0.contains { $0["type"] == .string("subscribed") && $0["id"] == .string("s5") } }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            let error = inbox.all.first { $0["type"] == .string("error") }
            #expect(error?["id"] == .string("s4"))
            #expect(
                error?["message"]?.stringValue?.contains("this socket has 3 subscriptions, the most limits.subscriptions_per_socket allows") == true)
        }
    }

    @Test func replaySlotsAreTakenInTurnAndAWaiterCanLeave() async throws {
        let slots = ReplaySlots(count: 1)
        final class Order: Sendable {
            let names = Mutex<[String]>([])
            func add(_ name: String) { names.withLock { $0.append(name) } }
        }
        let order = Order()
        let (entered, enteredContinuation) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseContinuation) = AsyncStream.makeStream(of: Void.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await slots.withSlot {
                    order.add("first")
                    enteredContinuation.yield()
                    for await _ in release { break }
                }
            }
            for await _ in entered { break }
            let leaving = Task { try await slots.withSlot { order.add("left") } }
            group.addTask { try await slots.withSlot { order.add("second") } }
            try await waitUntil("two waiters") { slots.waiting == 2 }
            leaving.cancel()
            await #expect(throws: CancellationError.self) { try await leaving.value }
            #expect(slots.waiting == 1)
            releaseContinuation.yield()
            try await group.waitForAll()
        }
        #expect(order.names.withLock { $0 } == ["first", "second"])
    }
}
