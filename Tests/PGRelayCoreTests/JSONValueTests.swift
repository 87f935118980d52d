import Testing

@testable import PGRelayCore

@Suite struct JSONValueTests {
    @Test func parsesWhatPostgresEmits() throws {
        let value = try JSONValue(
            parsing: #"{"id" : 7, "total":12.50, "ok":true, "tags":["a","b"], "meta":{"x": null}, "big": 123456789012345678901234567890.1}"#)
        #expect(value["id"] == .number("7"))
        #expect(value["total"] == .number("12.50"))
        #expect(value["ok"] == .bool(true))
        #expect(value["tags"] == .array([.string("a"), .string("b")]))
        #expect(value["meta"]?["x"] == .null)
        // Digits survive exactly: no Double in between.
        #expect(value["big"]?.jsonText == "123456789012345678901234567890.1")
    }

    @Test func decodesEscapesAndSurrogates() throws {
        let value = try JSONValue(parsing: #""a\"b\\c\/d\n\u00e9\ud83d\ude00""#)
        #expect(value == .string("a\"b\\c/d\né😀"))
    }

    @Test(arguments: [
        "", "{", "}", "[1,]", "{\"a\":}", "{\"a\" 1}", "01", "1.", "-", "tru", "nul", "\"abc", "\"\\x\"", "\"\\ud800\"",
        "[1] 2", "{\"a\":1,}", "\"a\u{01}\"", "1e", "+1", "NaN",
    ])
    func rejectsMalformedInput(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    /// Postgres stores jsonb nested far deeper than a recursive parser may go: such a value is
    /// parsed, kept as text below the built depth, and printed back exactly (whitespace aside).
    @Test func keepsValuesNestedDeeperThanItBuilds() throws {
        let depth = 100_000
        let deep = String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
        let value = try JSONValue(parsing: #"{"id": 1, "doc": "# + deep + "}")
        #expect(value["id"] == .number("1"))
        #expect(value.jsonText == #"{"id":1,"doc":"# + deep + "}")
        let objects = String(repeating: #"{"a" : [ "x\"]" , "#, count: 300) + "null" + String(repeating: "]}", count: 300)
        let parsed = try JSONValue(parsing: objects)
        #expect(parsed.jsonText == String(repeating: #"{"a":["x\"]","#, count: 300) + "null" + String(repeating: "]}", count: 300))
        #expect(parsed.typeName == "object")
        // Equal to the same value built shallower: a fragment compares by its text.
        let inner = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(try JSONValue(parsing: "[" + inner + "]").jsonText == "[" + inner + "]")
    }

    @Test(arguments: [
        String(repeating: "[", count: 1000) + String(repeating: "]", count: 999),
        String(repeating: "[", count: 1000) + "}" + String(repeating: "]", count: 999),
        String(repeating: "[", count: 1000) + "1," + String(repeating: "]", count: 1000),
        String(repeating: "[", count: 1000) + "{\"a\" 1}" + String(repeating: "]", count: 1000),
        String(repeating: "[", count: 1000) + "{1:2}" + String(repeating: "]", count: 1000),
        String(repeating: "[", count: 1000) + "\"\\x\"" + String(repeating: "]", count: 1000),
        String(repeating: "[", count: 1000) + "1 2" + String(repeating: "]", count: 1000),
        String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000) + "]",
    ])
    func rejectsMalformedDeepInput(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func generatedValuesRoundTrip() throws {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<2000 {
            let value = Generate.json(&rng)
            let text = value.jsonText
            let parsed = try JSONValue(parsing: text)
            #expect(parsed == value, "round trip of \(text)")
            #expect(parsed.jsonText == text)
        }
    }

    @Test func generatedGarbageNeverTraps() {
        var rng = SplitMix64(seed: 7)
        var parsedSome = 0
        for _ in 0..<5000 {
            // Mutate valid JSON: drop, duplicate or replace a character.
            var chars = Array(Generate.json(&rng).jsonText)
            if !chars.isEmpty {
                let i = Int.random(in: 0..<chars.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: chars.remove(at: i)
                case 1: chars.insert(chars[i], at: i)
                default: chars[i] = Generate.alphabet.randomElement(using: &rng)!
                }
            }
            if (try? JSONValue(parsing: String(chars))) != nil { parsedSome += 1 }
        }
        // Some mutations stay valid (e.g. a changed letter in a string), most do not.
        #expect(parsedSome > 0 && parsedSome < 5000)
    }
}
