import Logging
import PGRelayCore

/// Writes a Supabase socket's Phoenix frames in the socket's serializer, through its
/// ``WebSocketBatchWriter`` (many frames to one flush when a channel delivers a batch).
///
/// A frame over ``SupabaseSocketRoute/maximumFrameBytes`` (the Python client's limit) goes out in its
/// smaller form (``SupabaseSocket/withinFrameLimit(_:)``) or, when even that is too large, is
/// not sent and is logged: a client would close its socket on it.
struct SupabaseFrameWriter: Sendable {
    let writer: WebSocketBatchWriter
    let serializer: PhoenixFrame.Serializer
    let logger: Logger

    /// Writes one frame.
    func callAsFunction(_ frame: PhoenixFrame) async throws {
        guard let text = text(of: frame) else { return }
        try await writer.write(text)
    }

    /// Writes the frames in order; calls `written` after each flush.
    func all(_ frames: some Sequence<PhoenixFrame>, written: () -> Void = {}) async throws {
        try await texts(frames.lazy.compactMap(text(of:)), written: written)
    }

    /// Writes frames' texts (made by ``text(of:)``) in order; calls `written` after each flush.
    func texts(_ texts: some Sequence<String>, written: () -> Void = {}) async throws {
        try await writer.write(texts.lazy.map { WebSocketBatchWriter.Text($0) }, written: written)
    }

    /// The frame's text within the frame limit, or nil when it cannot be sent.
    func text(of frame: PhoenixFrame) -> String? {
        let text = frame.text(serializer)
        guard text.utf8.count > SupabaseSocketRoute.maximumFrameBytes else { return text }
        guard let smaller = SupabaseSocket.withinFrameLimit(frame)?.text(serializer), smaller.utf8.count <= SupabaseSocketRoute.maximumFrameBytes
        else {
            logger.warning(
                "supabase socket: a frame over 1 MiB was not sent",
                metadata: ["topic": "\(frame.topic)", "event": "\(frame.event)", "bytes": "\(text.utf8.count)"])
            return nil
        }
        return smaller
    }
}
