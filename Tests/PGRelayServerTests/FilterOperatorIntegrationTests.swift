import AsyncHTTPClient
import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

@Suite struct FilterOperatorIntegrationTests {
    /// Every operator through a real server, on rows typed by Postgres (numeric, text, boolean, null).
    @Test func everyOperatorFiltersRealRows() async throws {
        let db = try await TestDatabase.make()
        try await db.execute("create table items (id int primary key, name text, price numeric, active boolean, note text)")
        try db.installer.subscribe(TableName(schema: "public", name: "items"))
        try await db.execute("insert into items values (1, 'Apple', 9.5, true, null)")
        try await db.execute("insert into items values (2, 'banana', 10, false, 'ripe')")
        try await db.execute("insert into items values (3, 'Cherry pie', 100, true, 'a,b')")
        try await TestServer.with(db) { server in
            let cases: [(String, [Int])] = [
                ("id=eq.2", [2]), ("id=neq.2", [1, 3]), ("price=gt.9.5", [2, 3]), ("price=gte.9.5", [1, 2, 3]),
                ("price=lt.10", [1]), ("price=lte.10", [1, 2]), ("name=like.*an*", [2]), ("name=ilike.c*", [3]),
                ("note=in.(ripe,\"a,b\")", [2, 3]), ("note=is.null", [1]), ("active=is.true", [1, 3]), ("active=is.false", [2]),
                ("note=not.is.null", [2, 3]), ("id=not.in.(1,2)", [3]), ("or=(id.eq.1,price.gt.50)", [1, 3]),
                ("or=(name.eq.banana,and(active.is.true,price.lt.50))", [1, 2]), ("active=is.true&price=gt.50", [3]),
                ("name=eq.Cherry%20pie", [3]), ("price=gt.9.99", [2, 3]),
            ]
            for (filter, expected) in cases {
                let body = try await server.get("/v1/changes/public.items?\(filter)").body
                guard case .array(let changes)? = try JSONValue(parsing: body)["changes"] else {
                    Issue.record("\(filter): \(body)")
                    continue
                }
                #expect(changes.map { $0["new"]?["id"] } == expected.map { .number(String($0)) }, "\(filter)")
            }
        }
    }
}
