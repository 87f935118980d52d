import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// Filters compare as Postgres compares the column's type. Postgres is the oracle: generated rows
/// go through the real capture and log (so the relay sees exactly the JSON it sees in
/// production), and for every column, operator and operand the relay's answer is checked against
/// `SELECT id ... WHERE column op operand` on the same rows. The test cluster runs with
/// `initdb --locale=C`: text compares by code point, as the relay does.
@Suite struct FilterOracleTests {
    /// Per column: its type and values worth comparing (edges, equal spellings, specials).
    static let columns: [(name: String, type: String, values: [String])] = [
        (
            "n", "numeric",
            [
                "0", "-0.0", "5.50", "5.5", "-5.5", "1e1000", "-1e1000",
                "123456789012345678901234567890123456789012345678901234567890",
                "123456789012345678901234567890123456789012345678901234567891",
                "0.000000000000000000000000000000000000000000000000000000000001", "1e+308", "NaN", "Infinity", "-Infinity",
            ]
        ),
        ("i", "int4", ["0", "-2147483648", "2147483647", "5", "-5"]),
        ("b", "int8", ["9223372036854775807", "-9223372036854775808", "1", "0"]),
        ("d", "float8", ["1e+308", "5e-324", "0", "-0", "1.7976931348623157e308", "0.1", "0.30000000000000004", "NaN", "Infinity", "-Infinity"]),
        ("r", "float4", ["3.14", "1e-45", "3.4028235e38", "0.1", "-0", "NaN", "-Infinity"]),
        (
            "tz", "timestamptz",
            [
                "2026-11-24 10:00:00+00", "2026-11-24T12:00:00+02:00", "2026-11-24 10:00:00.000001+00", "1999-12-31T23:59:59.999999Z",
                "2026-02-28", "infinity", "-infinity",
            ]
        ),
        ("ts", "timestamp", ["2026-11-24 10:00:00", "2026-11-24T10:00:00.5", "0001-01-01 00:00:00", "9999-12-31 23:59:59", "infinity"]),
        ("dt", "date", ["2026-11-24", "2026-02-28", "2024-02-29", "0001-01-01", "infinity", "-infinity"]),
        ("t", "text", ["a", "B", "é", "e\u{301}", "", "ab", "a b", "Z", "😀", "ß", "~"]),
        ("c", "char(5)", ["ab", "ab  ", "abc", "A", ""]),
        (
            "u", "uuid",
            [
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}", "00000000-0000-0000-0000-000000000000",
                "ffffffffffffffffffffffffffffffff",
            ]
        ),
        ("f", "boolean", ["true", "false", "t", "off"]),
    ]

    /// Operands Postgres refuses for some types: the relay must refuse them too, when the stream starts.
    static let refused = ["abc", "1.5", "1e400", "2026-02-30", "2026-11-24garbage", "99999999999999999999"]

    static let operators: [(filter: String, sql: String)] = [("eq", "="), ("neq", "<>"), ("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<=")]

    /// A small deterministic generator, so that a failure names its seed and repeats.
    struct Generator {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    @Test func theRelayAnswersAsPostgresDoesForEveryType() throws {
        let seed = UInt64(Date().timeIntervalSince1970)
        var random = Generator(state: seed)
        let db = try TestDatabase()
        let table = TableName(schema: "public", name: "oracle")
        try db.connection.execute(
            "create table oracle (id int primary key, " + Self.columns.map { "\($0.name) \($0.type)" }.joined(separator: ", ") + ")"
        )
        try db.installer.subscribe(table)
        let rows = 80
        for id in 1...rows {
            // Each column a value from its list, or null one time in eight.
            let values: [String?] = Self.columns.map { column in random.next(8) == 0 ? nil : column.values[random.next(column.values.count)] }
            let placeholders = (2...(values.count + 1)).map { "$\($0)" }.joined(separator: ", ")
            try db.connection.query("insert into oracle values ($1, \(placeholders))", [String(id)] + values)
        }
        let events = try db.ticked().read(after: 0, limit: 1000)
        #expect(events.count == rows)
        let types = try db.installer.catalog.columnTypes(of: table)
        var checked = 0
        var mismatches: [String] = []
        for column in Self.columns {
            for operand in column.values + Self.refused {
                for op in Self.operators {
                    let expected: Set<Int>?
                    do {
                        let answer = try db.connection.query("select id from oracle where \(column.name) \(op.sql) $1", [operand])
                        expected = Set(answer.compactMap { $0[0].flatMap { Int($0) } })
                    } catch {
                        expected = nil  // Postgres refuses the operand for this type.
                    }
                    let encoded = operand.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? operand
                    var request = try StreamRequest(query: "\(column.name)=\(op.filter).\(encoded)")
                    let problem = request.filter.problem(types: types)
                    request.columnTypes = types
                    let relay: Set<Int>? =
                        problem != nil
                        ? nil : try Set(events.filter { try request.admits($0) }.compactMap { $0.new?["id"].flatMap { Int($0.jsonText) } })
                    checked += 1
                    if relay != expected {
                        mismatches.append(
                            "\(column.name) \(column.type) \(op.sql) '\(operand)': postgres \(expected.map { "\($0.sorted())" } ?? "refuses"), relay \(relay.map { "\($0.sorted())" } ?? "refuses: \(problem ?? "")")"
                        )
                    }
                }
            }
        }
        #expect(checked > 500)
        #expect(mismatches.isEmpty, "seed \(seed): \(mismatches.count) of \(checked) differ:\n\(mismatches.prefix(20).joined(separator: "\n"))")
    }
}
