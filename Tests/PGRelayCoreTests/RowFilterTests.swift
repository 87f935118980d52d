import Foundation
import Testing

@testable import PGRelayCore

@Suite struct RowFilterTests {
    static let row = JSONValue.object([
        ("id", .number("7")), ("status", .string("paid")), ("total", .number("120.50")), ("vip", .bool(true)),
        ("note", .null), ("name", .string("Ada Lovelace")), ("big", .number("12345678901234567890.5")),
    ])

    func matches(_ query: String) throws -> Bool { try RowFilter(query: query).matches(Self.row) }

    @Test(arguments: [
        ("status=eq.paid", true), ("status=eq.open", false), ("status=neq.open", true),
        ("total=gt.100", true), ("total=gt.120.5", false), ("total=gte.120.5", true), ("total=lt.200", true), ("total=lte.120.49", false),
        ("id=eq.7", true), ("id=eq.7.0", true), ("id=gt.10", false),
        // Numbers compare numerically: 9 < 10 though "9" > "10" as text.
        ("id=lt.10", true),
        ("big=gt.12345678901234567890", true), ("big=lt.12345678901234567891", true),
        ("status=in.(open,paid)", true), ("status=in.(open,\"on hold\")", false), ("id=in.(1,7)", true),
        ("status=not.in.(open,paid)", false),
        ("note=is.null", true), ("missing=is.null", true), ("status=is.null", false), ("vip=is.true", true), ("vip=is.false", false),
        ("vip=eq.true", true),
        ("name=like.Ada*", true), ("name=like.ada*", false), ("name=ilike.ada*", true), ("name=like.*Love%", true), ("name=like.A_a*", true),
        ("status=not.eq.paid", false), ("note=eq.x", false), ("note=neq.x", false), ("status=gt.9", true),
        ("status=eq.paid&total=gt.100", true), ("status=eq.paid&total=gt.1000", false),
        ("or=(status.eq.open,total.gt.100)", true), ("or=(status.eq.open,total.gt.1000)", false),
        ("or=(status.eq.open,and(total.gt.100,vip.is.true))", true), ("or=(status.eq.open,and(total.gt.100,vip.is.false))", false),
        ("and=(status.eq.paid,or(id.eq.1,id.eq.7))", true), ("not.or=(status.eq.open,id.eq.1)", true),
        ("or=(name.eq.\"Ada Lovelace\",id.eq.0)", true), ("or=(status.not.eq.paid,id.eq.0)", false),
        ("status=eq.paid%26more", false), ("name=eq.Ada%20Lovelace", true),
    ])
    func evaluates(_ query: String, _ expected: Bool) throws {
        #expect(try matches(query) == expected, "\(query)")
    }

    /// A number compared with text that is not a number (or a boolean with text that is not a
    /// boolean) cannot be evaluated, as PostgREST refuses it: an error, not a silent "no match".
    @Test(arguments: ["total=eq.abc", "id=gt.x", "vip=eq.maybe", "id=in.(1,x)", "or=(status.eq.open,id.lt.seven)"])
    func refusesOperandsThatCannotBeCompared(_ query: String) throws {
        let filter = try RowFilter(query: query)
        #expect(throws: FilterEvaluationError.self, "\(query)") { try filter.matches(Self.row) }
    }

    @Test(arguments: [
        ("status=eqq.paid", "unknown operator 'eqq'"),
        ("status=paid", "unknown operator 'paid'"),
        ("status=eq", "expected '.' and a value after 'eq'"),
        ("=eq.1", "column name"),
        ("id=in.1,2", "in takes a list in parentheses"),
        ("id=in.(1,2", "missing ')'"),
        ("note=is.maybe", "is takes null, true, false or unknown"),
        ("or=status.eq.1", "or= takes a list in parentheses"),
        ("or=(status.eq.1", "missing ')'"),
        ("or=(status.eq.1)x", "unexpected text"),
        ("or=(status)", "expected '.' and an operator"),
        ("or=(status.zz.1)", "unknown operator 'zz'"),
        ("or=(name.eq.\"open)", "not closed"),
        ("not.status=eq.1", "write not. after '='"),
    ])
    func rejectsWithAMessageSayingWhere(_ query: String, _ fragment: String) {
        #expect(throws: RowFilterError.self) { try RowFilter(query: query) }
        do {
            _ = try RowFilter(query: query)
        } catch {
            #expect("\(error)".contains(fragment), "\(query): \(error)")
            #expect("\(error)".contains("at character"), "\(query): \(error)")
        }
    }

    @Test func refusesExcessiveNesting() {
        let deep = "or=" + String(repeating: "or(", count: 100) + "a.eq.1" + String(repeating: ")", count: 100)
        #expect(throws: RowFilterError.self) { try RowFilter(query: deep) }
    }

    /// Generated filters: the parsed filter agrees with a direct evaluation of the same condition,
    /// and random mutations of valid filters never trap.
    @Test func generatedConditionsAgreeWithDirectEvaluation() throws {
        var rng = SplitMix64(seed: 5)
        let values: [JSONValue] = [.number("1"), .number("-2.5"), .number("10"), .string("a"), .string("B"), .string("10"), .bool(true), .null]
        let operands = ["1", "-2.5", "10", "a", "B", "9", "true", "x"]
        for _ in 0..<3000 {
            let value = values.randomElement(using: &rng)!
            let operand = operands.randomElement(using: &rng)!
            let op = [FilterOperator.eq, .neq, .gt, .gte, .lt, .lte].randomElement(using: &rng)!
            let negate = Bool.random(using: &rng)
            let row = JSONValue.object([("c", value)])
            let parsed = try RowFilter(query: "c=\(negate ? "not." : "")\(op.rawValue).\(operand)")
            if let expected = Self.reference(value, op, operand) {
                #expect(try parsed.matches(row) == (negate ? !expected : expected), "\(value) \(op) \(operand)")
            } else {
                #expect(throws: FilterEvaluationError.self, "\(value) \(op) \(operand)") { try parsed.matches(row) }
            }
        }
    }

    @Test func mutatedFiltersNeverTrap() {
        var rng = SplitMix64(seed: 9)
        let seeds = ["or=(a.eq.1,and(b.gt.2,c.in.(x,\"y,z\")))", "status=not.ilike.*ab_c%", "n=is.null&m=lte.-1.5e3"]
        for _ in 0..<5000 {
            var chars = Array(seeds.randomElement(using: &rng)!)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<chars.count, using: &rng)
                chars[i] = Array("().,\"=&!abc1 not").randomElement(using: &rng)!
            }
            if let filter = try? RowFilter(query: String(chars)) { _ = try? filter.matches(Self.row) }
        }
    }

    /// An independent statement of the comparison rules, for the generated test; nil where the
    /// filter cannot be evaluated (a number or boolean against text that is not one).
    static func reference(_ value: JSONValue, _ op: FilterOperator, _ operand: String) -> Bool? {
        let order: Int
        switch value {
        case .number(let n):
            guard let other = Double(operand) else { return nil }
            order = Double(n)! < other ? -1 : (Double(n)! > other ? 1 : 0)
        case .string(let s):
            order = s < operand ? -1 : (s > operand ? 1 : 0)
        case .bool(let b):
            guard let other = Bool(operand) else { return nil }
            order = b == other ? 0 : (b ? 1 : -1)
        default:
            return false
        }
        switch op {
        case .eq: return order == 0
        case .neq: return order != 0
        case .gt: return order > 0
        case .gte: return order >= 0
        case .lt: return order < 0
        case .lte: return order <= 0
        default: return false
        }
    }

    /// LIKE against a plain recursive reference, over generated patterns and subjects.
    @Test func likeAgreesWithAReferenceMatcher() {
        func reference(_ s: [Character], _ p: [Character]) -> Bool {
            var memo: [Int: Bool] = [:]
            func go(_ i: Int, _ j: Int) -> Bool {
                if let known = memo[i * 1000 + j] { return known }
                let result: Bool
                if j == p.count {
                    result = i == s.count
                } else if p[j] == "\\", j + 1 < p.count {
                    result = i < s.count && s[i] == p[j + 1] && go(i + 1, j + 2)
                } else if p[j] == "%" || p[j] == "*" {
                    result = go(i, j + 1) || (i < s.count && go(i + 1, j))
                } else if p[j] == "_" {
                    result = i < s.count && go(i + 1, j + 1)
                } else {
                    result = i < s.count && s[i] == p[j] && go(i + 1, j + 1)
                }
                memo[i * 1000 + j] = result
                return result
            }
            return go(0, 0)
        }
        var rng = SplitMix64(seed: 11)
        let alphabet: [Character] = ["a", "b", "%", "_", "*", "\\"]
        var matched = 0
        for _ in 0..<20_000 {
            let subject = String((0..<Int.random(in: 0...8, using: &rng)).map { _ in ["a", "b", "%", "_"].randomElement(using: &rng)! as Character })
            var pattern = String((0..<Int.random(in: 0...6, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            if pattern.hasSuffix("\\") { pattern += "a" }
            let ours = FilterOperator.like(.string(subject), pattern, caseInsensitive: false)
            #expect(ours == reference(Array(subject), Array(pattern)), "'\(subject)' like '\(pattern)'")
            if ours { matched += 1 }
        }
        #expect(matched > 1000)
    }

    @Test func likePatternsAreBounded() throws {
        _ = try RowFilter(query: "name=like." + String(repeating: "%a", count: 128))
        #expect { try RowFilter(query: "name=ilike." + String(repeating: "a", count: 257)) } throws: { "\($0)".contains("at most 256 characters") }
        #expect(FilterOperator.like(.string("50%_off"), FilterOperator.escapeLike("50%_off"), caseInsensitive: false))
        #expect(!FilterOperator.like(.string("50xyoff"), FilterOperator.escapeLike("50%_off"), caseInsensitive: false))
    }
}
