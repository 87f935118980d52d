import NIOCore
import NIOWebSocket

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
/// All of pgrelay's own frames on a socket go through one writer, so they keep their order; the
/// library's frames (pong, close) pass the same encoder on the same event loop. Each write returns
/// once its bytes are written to the socket (or throws when the socket is closed): a client that
/// does not read holds up only its own deliveries. Server frames are not masked, and the relay
/// negotiates no WebSocket extension (permessage-deflate would need the library's path).
struct WebSocketBatchWriter: Sendable {
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

    /// Writes one message.
    func write(_ text: String) async throws {
        try await write(CollectionOfOne(Text(text)))
    }

    /// Writes the messages in order, a flush per ``batchBytes`` (a lazy sequence is framed as it
    /// is written, so at most one batch is held); calls `written` after each flush (the stall
    /// watch counts it as progress).
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

    /// One hop to the event loop: the encoded frames written after the frame encoder, one flush;
    /// done when they are written.
    private func flush(_ buffer: ByteBuffer) async throws {
        let channel = self.channel
        try await channel.eventLoop.flatSubmit {
            do {
                let encoder = try channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
                return encoder.writeAndFlush(NIOAny(buffer))
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.get()
    }
}
