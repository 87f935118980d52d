import AsyncHTTPClient
import Foundation
import NIOCore
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Synchronization
import Testing

/// Live queries as a property: writers change a table in every way (single and multi-row
/// INSERTs, UPDATEs that move rows in and out of the filter, DELETEs, key-changing UPDATEs,
/// rollbacks, a TRUNCATE) while clients each take a snapshot at their own moment and follow the
/// stream, some dropping and resuming with `Last-Event-ID`. When the writers stop and every
/// client has seen a last row, each client's rows equal `SELECT ... WHERE filter`.
@Suite struct LiveQueryTests {
    static let table = TableName(schema: "public", name: "items")
    static let sentinel = 2_000_000_000

    static func database() async throws -> TestDatabase {
        try await TestDatabase.make { db in
            try db.connection.execute("create table items (id int primary key, owner text not null, status text not null, n int not null)")
            try db.installer.subscribe(Self.table)
            try db.connection.execute(
                "insert into items select g, case when g % 2 = 0 then 'alice' else 'bob' end, case when g % 3 = 0 then 'open' else 'closed' end, g from generate_series(1, 300) g"
            )
        }
    }

    @Test(.timeLimit(.minutes(5))) func everyClientsRowsEqualTheQueryWhenTheWritersStop() async throws {
        let db = try await Self.database()
        try await TestServer.with(db) { server in
            let clients = try await Self.runClients(db: db, server: server, path: "/v1/stream/public.items?snapshot=true&status=eq.open", token: nil)
            let expected = try await Self.select(db, where: "status = 'open'")
            for (index, client) in clients.enumerated() {
                #expect(
                    client.anomalies.isEmpty,
                    "client \(index), cut \(client.cut ?? -1), drops \(client.drops), seen \(client.seen.sorted { $0.key < $1.key }): \(client.anomalies.prefix(5))"
                )
                let difference = Self.difference(client.rows, expected)
                #expect(
                    difference == nil,
                    "client \(index) of \(clients.count), cut \(client.cut ?? -1), drops \(client.drops), seen \(client.seen.sorted { $0.key < $1.key }): \(difference ?? "")"
                )
            }
        }
    }

    @Test(.timeLimit(.minutes(5))) func aTokensRowScopeAppliesToTheRowsAsToTheChanges() async throws {
        let db = try await Self.database()
        let policy = try AccessPolicy(roleClaim: "role", access: ["authenticated: public.items"], scopes: ["public.items: owner=eq.{sub}"])
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            let token = try await AuthTests.token(sub: "alice")
            let rows = try await Self.run(db: db, server: server, path: "/v1/stream/public.items?snapshot=true&status=eq.open", token: token)
            let expected = try await Self.select(db, where: "status = 'open' and owner = 'alice'")
            for (index, client) in rows.enumerated() {
                let difference = Self.difference(client, expected)
                #expect(difference == nil, "client \(index) of \(rows.count): \(difference ?? "")")
            }
        }
    }

    /// Runs the writers and eight clients (every other one drops once and resumes); returns each
    /// client's rows once it has seen the sentinel row written after the writers stopped.
    static func run(db: TestDatabase, server: TestServer, path: String, token: String?) async throws -> [[String: JSONValue]] {
        let clients = try await runClients(db: db, server: server, path: path, token: token)
        for client in clients {
            #expect(
                client.anomalies.isEmpty,
                "cut \(client.cut ?? -1), drops \(client.drops), seen \(client.seen.sorted { $0.key < $1.key }): \(client.anomalies.prefix(5))")
        }
        return clients.map(\.rows)
    }

    static func runClients(db: TestDatabase, server: TestServer, path: String, token: String?) async throws -> [LiveRows] {
        let progress = Progress()
        let writers = 3
        let operations = 250
        return try await withThrowingTaskGroup(of: LiveRows?.self) { group in
            group.addTask {
                try await Workers.run(writers, name: "live query writer") { writer in
                    try Self.write(db: db, writer: writer, operations: operations, progress: progress)
                }
                try await db.execute("insert into items values (\(Self.sentinel), 'alice', 'open', 0)")
                return nil
            }
            for client in 0..<8 {
                group.addTask {
                    // Each client starts at its own point of the writers' progress.
                    let start = client * writers * operations / 9
                    try await waitUntil("the writers to reach \(start) operations") { progress.count >= start }
                    return try await Self.follow(server: server, path: path, token: token, dropAfter: client % 2 == 1 ? 40 + client * 7 : nil)
                }
            }
            var results: [LiveRows] = []
            for try await result in group { if let result { results.append(result) } }
            return results
        }
    }

    /// One writer's operations, each in its own transaction, on ids of its own.
    static func write(db: TestDatabase, writer: Int, operations: Int, progress: Progress) throws {
        let connection = try db.connect()
        var generator = SystemRandomNumberGenerator()
        var next = (writer + 1) * 1_000_000
        var ids: [Int] = []
        let statuses = ["open", "closed", "archived"]
        let owners = ["alice", "bob"]
        for step in 0..<operations {
            defer { progress.step() }
            let status = statuses.randomElement(using: &generator)!
            let owner = owners.randomElement(using: &generator)!
            if writer == 0, step == operations / 2 {
                try connection.execute("truncate items")
                ids = []
                continue
            }
            switch Int.random(in: 0..<100, using: &generator) {
            case 0..<25:
                next += 1
                try connection.execute("insert into items values (\(next), '\(owner)', '\(status)', 1)")
                ids.append(next)
            case 25..<35:
                let rows = (1...Int.random(in: 2...5, using: &generator)).map { _ in
                    next += 1
                    return next
                }
                try connection.execute("insert into items values " + rows.map { "(\($0), '\(owner)', '\(status)', 1)" }.joined(separator: ", "))
                ids += rows
            case 35..<60 where !ids.isEmpty:
                let id = ids.randomElement(using: &generator)!
                try connection.execute("update items set status = '\(status)', n = n + 1 where id = \(id)")
            case 60..<70 where !ids.isEmpty:
                let id = ids.remove(at: Int.random(in: 0..<ids.count, using: &generator))
                try connection.execute("delete from items where id = \(id)")
            case 70..<80 where !ids.isEmpty:
                let index = Int.random(in: 0..<ids.count, using: &generator)
                next += 1
                try connection.execute("update items set id = \(next), owner = '\(owner)' where id = \(ids[index])")
                ids[index] = next
            case 80..<90:
                next += 1
                try connection.execute(
                    "begin; insert into items values (\(next), '\(owner)', 'open', 1); update items set status = 'open' where id = \(next); rollback")
            default:
                // Several rows in one statement, some moving in and some out.
                try connection.execute(
                    "update items set status = case when status = 'open' then 'closed' else 'open' end where id % 7 = \(step % 7) and id > \((writer + 1) * 1_000_000) and id < \((writer + 2) * 1_000_000)"
                )
            }
        }
    }

    /// One live-query client over SSE: the snapshot's rows, then the changes, applied; dropped
    /// once after `dropAfter` events and resumed with `Last-Event-ID` (or a new snapshot when it
    /// dropped before the snapshot ended). Returns its rows once it has the sentinel row.
    static func follow(server: TestServer, path: String, token: String?, dropAfter: Int?) async throws -> LiveRows {
        var table = LiveRows()
        var drops = 0
        while true {
            var request = HTTPClientRequest(url: server.base + path)
            request.headers.add(name: "Accept", value: "text/event-stream")
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            if table.snapshotEnded, let cursor = table.cursor {
                request.headers.add(name: "Last-Event-ID", value: String(cursor))
            } else {
                table = LiveRows()
            }
            let response = try await TestServer.client.execute(request, timeout: .seconds(240))
            guard response.status == .ok else { throw TestClusterError("the stream answered \(response.status)") }
            var pending = ""
            var events = 0
            var dropped = false
            reading: for try await buffer in response.body {
                pending += String(buffer: buffer)
                while let end = pending.range(of: "\n\n") {
                    let block = String(pending[..<end.lowerBound])
                    pending = String(pending[end.upperBound...])
                    try table.apply(block)
                    // Done once the snapshot has ended (the sentinel may be one of its rows) and has the sentinel.
                    if table.snapshotEnded, table.rows[String(Self.sentinel)] != nil {
                        table.drops = drops
                        return table
                    }
                    events += 1
                    if let dropAfter, drops == 0, events == dropAfter {
                        dropped = true
                        break reading
                    }
                }
            }
            guard dropped else { throw TestClusterError("the stream ended before the sentinel row") }
            drops += 1
        }
    }

    /// The rows `where` selects now, by id, each as `row_to_json` renders it.
    static func select(_ db: TestDatabase, where condition: String) async throws -> [String: JSONValue] {
        var rows: [String: JSONValue] = [:]
        for row in try await db.query("select id::text, row_to_json(t)::text from items t where \(condition)") {
            rows[row[0]!] = try JSONValue(parsing: row[1]!)
        }
        return rows
    }

    /// What differs between a client's rows and the query's, briefly; nil when they are equal.
    static func difference(_ client: [String: JSONValue], _ expected: [String: JSONValue]) -> String? {
        guard client != expected else { return nil }
        let missing = expected.keys.filter { client[$0] == nil }.sorted().prefix(5)
        let extra = client.keys.filter { expected[$0] == nil }.sorted().prefix(5)
        let stale = expected.keys.filter { client[$0] != nil && client[$0] != expected[$0] }.sorted().prefix(5)
        return
            "\(client.count) rows against \(expected.count): missing \(Array(missing)), extra \(Array(extra)), stale \(stale.map { "\($0): \(client[$0]!.jsonText) vs \(expected[$0]!.jsonText)" })"
    }
}

/// How many operations the writers have done, read by the clients to pick their moment.
final class Progress: Sendable {
    private let done = Atomic<Int>(0)
    func step() { done.add(1, ordering: .relaxed) }
    var count: Int { done.load(ordering: .relaxed) }
}

/// A client's copy of a live query: rows by id, kept by the events it applies.
struct LiveRows {
    var rows: [String: JSONValue] = [:]
    var snapshotEnded = false
    /// The last `id:` seen: where a resumed stream continues.
    var cursor: Int64?
    /// The cut of the snapshot, and how often the client dropped and resumed (for messages).
    var cut: Int64?
    var drops = 0
    /// How many events of each kind arrived (for messages).
    var seen: [String: Int] = [:]
    /// Events that did not fit the copy: a row or INSERT for a key it has, an UPDATE or DELETE for
    /// one it lacks. Through a filter none can happen unless a change came twice or was lost.
    var anomalies: [String] = []

    mutating func apply(_ block: String) throws {
        var event = "message"
        var data = ""
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("id: ") {
                cursor = Int64(line.dropFirst(4))
            } else if line.hasPrefix("event: ") {
                event = String(line.dropFirst(7))
            } else if line.hasPrefix("data: ") {
                data += line.dropFirst(6)
            }
        }
        func key(_ row: JSONValue?) -> String? { row?["id"]?.jsonText }
        seen[event, default: 0] += 1
        switch event {
        case "row":
            let row = try JSONValue(parsing: data)
            if rows[key(row)!] != nil { anomalies.append("row \(key(row)!) twice") }
            rows[key(row)!] = row
        case "snapshot":
            snapshotEnded = true
            cut = cursor
        case "INSERT", "UPDATE":
            let change = try JSONValue(parsing: data)
            let new = key(change["new"])!
            if event == "INSERT", rows[new] != nil { anomalies.append("INSERT of \(new), which the copy has (change \(cursor ?? -1))") }
            if event == "UPDATE", rows[key(change["old"]) ?? new] == nil {
                anomalies.append("UPDATE of \(new), which the copy lacks (change \(cursor ?? -1))")
            }
            if let old = key(change["old"]), old != new { rows[old] = nil }
            rows[new] = change["new"]
        case "DELETE":
            let old = key(try JSONValue(parsing: data)["old"])!
            if rows[old] == nil { anomalies.append("DELETE of \(old), which the copy lacks (change \(cursor ?? -1))") }
            rows[old] = nil
        case "TRUNCATE":
            rows = [:]
        case "error":
            throw TestClusterError("the stream ended with an error: \(data)")
        default:
            break
        }
    }
}
