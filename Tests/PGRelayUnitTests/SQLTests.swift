import Testing

@testable import PGRelayPostgres

/// The typed boundary to Postgres, without a database: what an interpolated statement sends, and
/// what decoding a row by column name says when a column is not what the code expects.
@Suite struct SQLTests {
    @Test func interpolatedValuesBecomeNumberedParametersNeverText() {
        let hostile = "x'); drop table users; --"
        let channels = ["a\"b", #"c\d"#, "plain"]
        let optional: String? = nil
        let sql: SQL = "select \(hostile), \(42), \(optional)::text, \(true), \(array: channels)::text[], \(unescaped: "realtime.log")"
        #expect(sql.text == "select $1, $2, $3::text, $4, $5::text[], realtime.log")
        #expect(sql.parameters == [hostile, "42", nil, "true", #"{"a\"b","c\\d","plain"}"#])
        // A statement's description never shows its parameters (rows, tokens).
        #expect(!sql.description.contains("drop table"))
    }

    @Test func numberedStatementsKeepTheirOrder() {
        let sql = SQL(numbered: "select $2, $1", [Int64(7), "seven"])
        #expect(sql.parameters == ["7", "seven"])
    }

    @Test func rowsDecodeByNameAndSayWhichColumnFailed() throws {
        let row = Row(columns: ["id", "note", "done", "gone"], values: ["12", nil, "t", "maybe"])
        #expect(try row.decode("id", as: Int64.self) == 12)
        #expect(try row.decode("note", as: String?.self) == nil)
        #expect(try row.decode("done", as: Bool.self))
        #expect(throws: RowDecodingError.self) { try row.decode("note", as: String.self) }
        do {
            _ = try row.decode("gone", as: Bool.self)
            Issue.record("a boolean column holding maybe decoded")
        } catch let error as RowDecodingError {
            #expect(error.description == #"column gone: "maybe" is not a boolean"#)
        }
        do {
            _ = try row.decode("missing", as: Int.self)
            Issue.record("a missing column decoded")
        } catch let error as RowDecodingError {
            #expect(error.description == "column missing: the answer has no such column (it has id, note, done, gone)")
        }
        #expect(throws: RowDecodingError.self) { try row.decode("note", as: Int.self) }
    }
}
