import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport

/// A fresh database with `public.orders (id, status, total)` subscribed, as most server tests use.
func ordersDatabase() async throws -> TestDatabase {
    try await TestDatabase.make { db in
        try db.connection.execute("create table orders (id int primary key, status text, total numeric)")
        try db.installer.subscribe(TableName(schema: "public", name: "orders"))
    }
}
