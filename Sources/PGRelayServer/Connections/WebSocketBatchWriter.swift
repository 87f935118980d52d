import NIOCore
import NIOWebSocket
import Synchronization

/// Writes a socket's text messages as WebSocket frames, many frames to one write and one flush.
///
/// Why not the library's ``WebSocketOutboundWriter``: it hops to the event loop and flushes (one
/// `writev`) for every frame, and each frame passes the pipeline's encoder as two buffers, so a
/// channel message to 1,000 sockets cost 1,000 hops, syscalls and encodings per message; profiles
/// of `bench/channels` showed that as most of the relay's time (BENCHMARKS.md). Here the frames of
/// a batch are encoded into one buffer of about ``batchBytes`` (as the SSE stream writes 64 KiB at
/// a time), handed to the event loop once, written past the pipeline's ``WebSocketFrameEncoder``
/// (they are encoded already) and flushed once. Every frame is still one whole message, as the
/// protocols need; only the copies and the syscalls are shared.
///
/// A write returns once its bytes are handed to the event loop, not once the socket took them,
/// as long as fewer than ``pendingLimit`` bytes are on their way; past that it waits until the
/// socket takes some. Waiting for each write to reach the socket made every reply cost a round
/// trip to the event loop and back: on a busy machine a Supabase join's reply took seconds, and
/// its client timed out and joined again (measured in the test suite, where the relay shares two
/// cores with everything else). So a client that does not read still holds up only its own
/// deliveries, and at most ``pendingLimit`` bytes of them. Once a write fails (the socket
/// closed), every later write throws.
///
/// All of pgrelay's own frames on a socket go through one writer; the event loop runs what is
/// handed to it in order, so they keep their order, and the library's frames (pong, close) pass
/// the same encoder on the same event loop. Server frames are not masked, and the relay
/// negotiates no WebSocket extension (permessage-deflate would need the library's path).
final class WebSocketBatchWriter: Sendable {
    /// One message's text in three parts written one after another: a subscription's envelope
    /// around an entry's shared JSON, without joining them into a new string first.
    struct Text: Sendable {
        var head: String
        var body: String
        var tail: String

        init(head: String = "", _ body: String, tail: String = "") {
            (self.head, self.body, self.tail) = (head, body, tail)
        }

        var byteCount: Int { head.utf8.count + body.utf8.count + tail.utf8.count }
    }

    let channel: any Channel

    /// About how many bytes one flush carries.
    static let batchBytes = 64 * 1024
    /// Most bytes handed to the event loop and not yet taken by the socket before a write waits.
    static let pendingLimit = 256 * 1024

    private struct State {
        var pending = 0
        var failure: (any Error)?
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    init(channel: any Channel) { self.channel = channel }

    /// Writes one message.
    func write(_ text: String) async throws {
        try await write(CollectionOfOne(Text(text)))
    }

    /// Writes the messages in order, a flush per ``batchBytes`` (a lazy sequence is framed as it
    /// is written, so at most one batch is held here); calls `written` after each batch is handed
    /// on (the stall watch counts it as progress).
    func write(_ texts: some Sequence<Text>, written: () -> Void = {}) async throws {
        var buffer = channel.allocator.buffer(capacity: 0)
        for text in texts {
            Self.appendFrame(text, to: &buffer)
            if buffer.readableBytes >= Self.batchBytes {
                try await flush(buffer)
                written()
                buffer = channel.allocator.buffer(capacity: 0)
            }
        }
        if buffer.readableBytes > 0 {
            try await flush(buffer)
            written()
        }
    }

    /// Appends one final, unmasked text frame (RFC 6455 section 5.2) holding `text`.
    static func appendFrame(_ text: Text, to buffer: inout ByteBuffer) {
        let length = text.byteCount
        buffer.reserveCapacity(minimumWritableBytes: length + 10)
        buffer.writeInteger(UInt8(0x81))  // FIN, opcode 1 (text)
        if length < 126 {
            buffer.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
        buffer.writeString(text.head)
        buffer.writeString(text.body)
        buffer.writeString(text.tail)
    }

    /// Hands the encoded frames to the event loop, which writes them after the frame encoder and
    /// flushes once; waits first while ``pendingLimit`` bytes are still on their way.
    private func flush(_ buffer: ByteBuffer) async throws {
        try await waitForRoom()
        let size = buffer.readableBytes
        state.withLock { $0.pending += size }
        let channel = self.channel
        channel.eventLoop.execute {
            do {
                let encoder = try channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
                encoder.writeAndFlush(NIOAny(buffer)).whenComplete { self.finished(size, $0) }
            } catch {
                self.finished(size, .failure(error))
            }
        }
    }

    /// A flush reached the socket (or failed): its bytes are no longer pending; wakes the writers
    /// waiting for room, or for the failure.
    private func finished(_ size: Int, _ result: Result<Void, any Error>) {
        let (woken, failure) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], (any Error)?) in
            state.pending -= size
            if case .failure(let error) = result, state.failure == nil { state.failure = error }
            guard state.failure != nil || state.pending < Self.pendingLimit else { return ([], nil) }
            defer { state.waiters.removeAll() }
            return (state.waiters.map(\.continuation), state.failure)
        }
        for waiter in woken {
            if let failure { waiter.resume(throwing: failure) } else { waiter.resume() }
        }
    }

    /// Returns at once while fewer than ``pendingLimit`` bytes are pending; otherwise when the
    /// socket has taken enough. Throws once a write has failed, or when the task is cancelled.
    private func waitForRoom() async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let now = state.withLock { state -> Result<Void, any Error>? in
                    if let failure = state.failure { return .failure(failure) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.pending < Self.pendingLimit { return .success(()) }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
