@testable import PGRelayCore

/// A seeded generator, so that a failing generated case can be reproduced from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Generate {
    /// Characters that stress names and strings: quotes, dots, spaces, escapes, multi-byte letters, controls.
    static let alphabet: [Character] = Array("aZ_09 .\"'\\/$-é中😀\t\n{}[],:") + ["\u{01}", "\u{7F}"]

    static func string(_ rng: inout SplitMix64, maxLength: Int = 12) -> String {
        String((0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
    }

    static func number(_ rng: inout SplitMix64) -> String {
        [
            "0", "-1", "12.5", "1e10", "-0.000123", "123456789012345678901234567890.123456789", "3E-7",
            String(Int.random(in: -1_000_000...1_000_000, using: &rng)),
        ]
        .randomElement(using: &rng)!
    }

    static func json(_ rng: inout SplitMix64, depth: Int = 0) -> JSONValue {
        let choice = Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &rng)
        switch choice {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .number(number(&rng))
        case 3: return .string(string(&rng))
        case 4: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in json(&rng, depth: depth + 1) })
        default:
            return .object((0..<Int.random(in: 0...4, using: &rng)).map { _ in (string(&rng, maxLength: 6), json(&rng, depth: depth + 1)) })
        }
    }
}
