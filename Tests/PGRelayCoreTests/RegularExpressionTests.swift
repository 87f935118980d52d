import Foundation
import Testing

@testable import PGRelayCore

/// `match` / `imatch`: the linear-time matcher against Foundation's regular expressions (ICU,
/// a backtracking engine) over generated patterns, known cases, and patterns that make a
/// backtracking engine take exponential time.
@Suite struct RegularExpressionTests {
    @Test(arguments: [
        ("^Ada", "Ada Lovelace", true), ("Love", "Ada Lovelace", true), ("^Love", "Ada Lovelace", false), ("lace$", "Ada Lovelace", true),
        ("a.a", "Ada", false), ("A.a", "Ada", true), ("^[A-Z][a-z]+ [A-Z]", "Ada Lovelace", true), ("[^a-z ]{2}", "Ada Lovelace", false),
        ("\\d{3}-\\d{4}", "call 555-1234", true), ("\\d{3}-\\d{4}", "call 55-1234", false), ("^\\w+$", "snake_case9", true),
        ("\\s", "nospace", false),
        ("colou?r", "color", true), ("(cat|dog)s?$", "hotdogs", true), ("(?:ab)+c", "ababc", true), ("^(ab){2}$", "abab", true),
        ("^(ab){2}$", "ababab", false),
        ("[[:digit:]]+", "abc123", true), ("[[:upper:]]", "abc", false), ("a\\.b", "a.b", true), ("a\\.b", "axb", false), ("x*", "", true),
        ("^$", "", true),
        ("[]a]", "]", true), ("[a-]", "-", true), ("é+", "café", true),
    ])
    func matches(_ pattern: String, _ subject: String, _ expected: Bool) throws {
        #expect(try RegularExpression(pattern).matches(subject) == expected, "\(pattern) ~ \(subject)")
    }

    @Test func imatchFoldsCase() throws {
        #expect(try RegularExpression("^ada [l]OVE", caseInsensitive: true).matches("Ada Lovelace"))
        #expect(try RegularExpression("[a-c]+Z", caseInsensitive: true).matches("ABCz"))
        #expect(try !RegularExpression("^ada", caseInsensitive: false).matches("Ada"))
    }

    @Test(arguments: [
        ("(a", "missing ')'"), ("a)", "unmatched ')'"), ("*a", "nothing to repeat"), ("a{2", "ends with '}'"), ("a{5,2}", "smaller than the first"),
        ("a{1000}", "at most 100"), ("\\1", "not supported"), ("(?=a)", "only (?: ...) groups"), ("[a", "missing ']'"), ("[z-a]", "backwards"),
        ("[[:nope:]]", "unknown class"), ("^*", "cannot repeat an anchor"), ("(a{100}){100}", "too large"), ("a\\", "ends with '\\'"),
    ])
    func refusesWithAReason(_ pattern: String, _ fragment: String) {
        do {
            _ = try RegularExpression(pattern)
            Issue.record("\(pattern) was accepted")
        } catch {
            #expect(error.message.contains(fragment), "\(pattern): \(error.message)")
        }
    }

    /// Catastrophic for a backtracking engine, linear here: each would take years to fail by backtracking.
    @Test(.timeLimit(.minutes(1))) func pathologicalPatternsRunInLinearTime() throws {
        let subject = String(repeating: "a", count: 20_000) + "!"
        for pattern in ["^(a+)+$", "^(a|aa)+$", "^(a*)*b", "(a|a?)+c", "^(\\w+\\s?)*$"] {
            #expect(try !RegularExpression(pattern).matches(subject), "\(pattern)")
        }
        #expect(try RegularExpression("^(a+)+!$").matches(subject))
    }

    @Test func agreesWithFoundationOnGeneratedPatterns() throws {
        var rng = SplitMix64(seed: 29)
        let atoms = ["a", "b", ".", "[ab]", "[^a]", "(a|b)", "(ab)", "(a|)", "\\d", "1"]
        let quantifiers = ["", "", "", "*", "+", "?", "{2}", "{1,2}", "{0,}"]
        var checked = 0
        var matched = 0
        for _ in 0..<4000 {
            var pattern = Int.random(in: 0...3, using: &rng) == 0 ? "^" : ""
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                pattern += atoms.randomElement(using: &rng)! + quantifiers.randomElement(using: &rng)!
                if Int.random(in: 0...6, using: &rng) == 0 { pattern += "|" }
            }
            if Int.random(in: 0...3, using: &rng) == 0 { pattern += "$" }
            let subject = String((0..<Int.random(in: 0...7, using: &rng)).map { _ in ["a", "b", "1", "c"].randomElement(using: &rng)! as Character })
            guard let reference = try? NSRegularExpression(pattern: pattern), let ours = try? RegularExpression(pattern) else { continue }
            let expected = reference.firstMatch(in: subject, range: NSRange(subject.startIndex..., in: subject)) != nil
            #expect(ours.matches(subject) == expected, "'\(subject)' ~ '\(pattern)'")
            checked += 1
            if expected { matched += 1 }
        }
        #expect(checked > 3000 && matched > 500 && matched < checked - 500, "\(checked) checked, \(matched) matched")
    }

    @Test func filtersUseThem() throws {
        let row = JSONValue.object([("name", .string("Ada Lovelace")), ("id", .number("42")), ("note", .null)])
        #expect(try RowFilter(query: "name=match.^Ada").matches(row))
        #expect(try !RowFilter(query: "name=match.^ada").matches(row))
        #expect(try RowFilter(query: "name=imatch.^ada").matches(row))
        #expect(try RowFilter(query: "name=not.imatch.^bob").matches(row))
        #expect(try RowFilter(query: "id=match.^4\\d$").matches(row))
        #expect(try !RowFilter(query: "note=match.x").matches(row))
        #expect(try RowFilter(query: "note=isdistinct.x").matches(row))
        #expect(try RowFilter(query: "id=isdistinct.41").matches(row) && !RowFilter(query: "id=isdistinct.42").matches(row))
        #expect(try RowFilter(query: "id=not.isdistinct.42").matches(row))
        #expect { try RowFilter(query: "name=match.(a") } throws: { "\($0)".contains("match: missing ')'") && "\($0)".contains("at character") }
    }
}
