import NIOCore
import Testing

@testable import PGRelayServer

/// The frames ``WebSocketBatchWriter`` encodes itself, read back by RFC 6455's rules: final,
/// text, unmasked, the shortest length form (7 bits up to 125, 16 bits up to 65,535, then 64).
@Suite struct WebSocketBatchWriterTests {
    struct Truncated: Error {}

    func read<T: FixedWidthInteger>(_ type: T.Type, _ buffer: inout ByteBuffer) throws -> T {
        guard let value = buffer.readInteger(as: T.self) else { throw Truncated() }
        return value
    }

    @Test func framesUseTheShortestLengthAndCarryTheTextWhole() throws {
        let lengths = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]
        var buffer = ByteBuffer()
        for length in lengths {
            // Three parts, as a subscription's envelope around a shared JSON, with 2-byte characters.
            guard length >= 2 else {
                WebSocketBatchWriter.appendFrame(.init(String(repeating: "x", count: length)), to: &buffer)
                continue
            }
            let body = String(repeating: "é", count: length / 4) + String(repeating: "x", count: length - 2 - length / 4 * 2)
            WebSocketBatchWriter.appendFrame(.init(head: "<", body, tail: ">"), to: &buffer)
        }
        for length in lengths {
            let first = try read(UInt8.self, &buffer)
            #expect(first == 0x81, "FIN and text")
            let second = try read(UInt8.self, &buffer)
            #expect(second & 0x80 == 0, "a server's frame is not masked")
            var got = Int(second & 0x7F)
            switch got {
            case 126:
                got = Int(try read(UInt16.self, &buffer))
                #expect(got >= 126, "16-bit length only past 125")
            case 127:
                got = Int(try read(UInt64.self, &buffer))
                #expect(got > 65_535, "64-bit length only past 65,535")
            default:
                break
            }
            #expect(got == length)
            let text = buffer.readString(length: got) ?? ""
            #expect(text.utf8.count == length && (length < 2 || text.hasPrefix("<") && text.hasSuffix(">")))
        }
        #expect(buffer.readableBytes == 0)
    }
}
