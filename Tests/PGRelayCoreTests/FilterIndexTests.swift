import Foundation
import Testing

@testable import PGRelayCore

@Suite struct FilterIndexTests {
    func row(_ id: JSONValue, status: String = "open") -> JSONValue { .object([("id", id), ("status", .string(status))]) }

    @Test func equalityFiltersFindOnlyTheirRows() throws {
        var index = FilterIndex<Int>()
        for n in 0..<1000 { index.insert(n, filter: try RowFilter(query: "id=eq.\(n)")) }
        index.insert(5000, filter: try RowFilter(query: "status=eq.paid&id=gt.3"))
        index.insert(6000, filter: try RowFilter(query: "id=in.(7,8)"))
        index.insert(7000, filter: .all)
        index.insert(8000, filter: try RowFilter(query: "id=gt.3"))
        let seven: Set<Int> = [7, 6000, 7000, 8000]
        let unindexed: Set<Int> = [7000, 8000]
        // Numbers key numerically, as eq compares them; a string "7" equals the operand 7 too.
        let found = [row(.number("7")), row(.number("7.0")), row(.string("7")), row(.number("2000"))].map { Set(index.candidates(for: $0)) }
        #expect(found == [seven, seven, seven, unindexed])
        let none = Set(index.candidates(for: nil))
        #expect(none == unindexed)
        index.remove(7)
        index.remove(7000)
        let afterRemoval = Set(index.candidates(for: row(.number("7"))))
        #expect(afterRemoval == [6000, 8000] && index.count == 1002)
    }

    /// An `or` whose every term pins one column (a Supabase channel's bindings) is indexed by the
    /// union of its values; one whose terms pin different columns, or none, is not.
    @Test func anOrOfOneColumnsEqualitiesIsIndexed() throws {
        var index = FilterIndex<Int>()
        index.insert(1, filter: .or([try RowFilter(query: "id=eq.1"), try RowFilter(query: "id=in.(2,3)&status=eq.paid")]))
        index.insert(2, filter: .or([try RowFilter(query: "id=eq.1"), try RowFilter(query: "status=eq.paid")]))
        index.insert(3, filter: .or([try RowFilter(query: "id=eq.4"), .all]))
        #expect(Set(index.candidates(for: row(.number("3")))) == [1, 2, 3])
        #expect(Set(index.candidates(for: row(.number("1.0")))) == [1, 2, 3])
        #expect(Set(index.candidates(for: row(.number("9")))) == [2, 3])
    }

    /// Generated filters and rows: whatever the whole filter matches is among the candidates.
    @Test func candidatesIncludeEveryMatch() throws {
        var rng = SplitMix64(seed: 11)
        let operands = ["1", "1.0", "2", "a", "true", "false", "-0", "1e0"]
        let values: [JSONValue] = [
            .number("1"), .number("1.00"), .number("2"), .string("a"), .string("1"), .bool(true), .bool(false), .null, .number("0"), .array([]),
        ]
        var filters: [RowFilter] = []
        var index = FilterIndex<Int>()
        for n in 0..<300 {
            let a = operands.randomElement(using: &rng)!
            let b = operands.randomElement(using: &rng)!
            let query = [
                "c=eq.\(a)", "c=in.(\(a),\(b))", "c=eq.\(a)&d=eq.\(b)", "d=gt.1&c=eq.\(a)", "or=(c.eq.\(a),c.eq.\(b))", "c=neq.\(a)",
            ].randomElement(using: &rng)!
            let filter = try RowFilter(query: query)
            filters.append(filter)
            index.insert(n, filter: filter)
        }
        for _ in 0..<500 {
            let row = JSONValue.object([("c", values.randomElement(using: &rng)!), ("d", values.randomElement(using: &rng)!)])
            let candidates = Set(index.candidates(for: row))
            for (n, filter) in filters.enumerated() where (try? filter.matches(row)) == true {
                #expect(candidates.contains(n), "\(filter) matches \(row.jsonText) but is not a candidate")
            }
        }
    }
}
