import Foundation
import PGRelayPostgres
import Synchronization

/// A gentle, realistic stream of writes for the demo: new customers and orders (with their
/// items, in one transaction), orders moving from open to paid to shipped, page-view and other
/// events, and now and then a cancelled order deleted. `rate` writes per second, on a thread of
/// its own (libpq blocks).
final class DemoWriter: Sendable {
    private let conninfo: String
    private let rate: Double
    private let stopped = Mutex(false)
    private let ended = DispatchSemaphore(value: 0)

    init(conninfo: String, rate: Double) {
        self.conninfo = conninfo
        self.rate = rate
    }

    /// Starts writing; returns at once.
    func start() async throws {
        let conninfo = self.conninfo
        let connection = try await Blocking.run {
            let connection = try Connection(conninfo: conninfo, applicationName: "pgrelay demo writer")
            try Self.seed(connection)
            return connection
        }
        let thread = Thread { [self] in
            defer { ended.signal() }
            var generator = SystemRandomNumberGenerator()
            let interval = 1 / rate
            var next = Date()
            while !stopped.withLock({ $0 }) {
                do {
                    try Self.write(connection, using: &generator)
                } catch {
                    // A write can fail (the demo's database restarted, a row raced away): say so and go on.
                    FileHandle.standardError.write(Data("pgrelay demo: a demo write failed: \(error)\n".utf8))
                }
                next = max(next.addingTimeInterval(interval), Date().addingTimeInterval(-1))
                let wait = next.timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            }
        }
        thread.name = "pgrelay demo writer"
        thread.start()
    }

    /// Stops writing and waits (a few seconds at most) for the write in progress to end, so
    /// that the database is not stopped under it.
    func stop() {
        stopped.withLock { $0 = true }
        _ = ended.wait(timeout: .now() + 5)
    }

    /// A few customers, once, so that the first orders have someone to belong to.
    private static func seed(_ connection: Connection) throws {
        let count: Int = try connection.query("select count(*) from pgrelay_demo.customers")[0].decode("count")
        guard count == 0 else { return }
        for (name, country) in [("Ada Lovelace", "GB"), ("Grace Hopper", "US"), ("Edsger Dijkstra", "NL"), ("Barbara Liskov", "US")] {
            let email = name.lowercased().replacingOccurrences(of: " ", with: ".") + "@example.com"
            try connection.query("insert into pgrelay_demo.customers (name, email, country) values (\(name), \(email), \(country))")
        }
    }

    private static let skus = ["tea-green", "tea-black", "mug-blue", "kettle", "honey", "biscuits"]
    private static let pages = ["/", "/shop", "/shop/tea", "/cart", "/checkout", "/about"]

    /// One write, chosen at random, weighted toward orders.
    private static func write(_ connection: Connection, using generator: inout SystemRandomNumberGenerator) throws {
        switch Int.random(in: 0..<100, using: &generator) {
        case 0..<35:
            let quantity = Int.random(in: 1...3, using: &generator)
            let sku = skus.randomElement(using: &generator)!
            let price = String(format: "%.2f", Double(Int.random(in: 300...4000, using: &generator)) / 100)
            try connection.query(
                """
                with o as (
                    insert into pgrelay_demo.orders (customer_id, total)
                    select id, \(price)::numeric * \(quantity)::int from pgrelay_demo.customers order by random() limit 1
                    returning id
                )
                insert into pgrelay_demo.order_items (order_id, sku, quantity, price) select id, \(sku), \(quantity)::int, \(price)::numeric from o
                """
            )
        case 35..<65:
            try connection.query(
                """
                update pgrelay_demo.orders set status = case status when 'open' then 'paid' else 'shipped' end
                 where id = (select id from pgrelay_demo.orders where status in ('open', 'paid') order by random() limit 1)
                """
            )
        case 65..<90:
            let page = pages.randomElement(using: &generator)!
            let kind = Int.random(in: 0..<4, using: &generator) == 0 ? "signup_started" : "page_view"
            let milliseconds = Int.random(in: 5...900, using: &generator)
            try connection.query(
                "insert into pgrelay_demo.events (kind, payload) values (\(kind), jsonb_build_object('path', \(page)::text, 'ms', \(milliseconds)::int))"
            )
        case 90..<95:
            let names = ["Alan Turing", "Frances Allen", "Donald Knuth", "Margaret Hamilton", "Ken Thompson", "Radia Perlman"]
            let name = names.randomElement(using: &generator)!
            let email = name.lowercased().replacingOccurrences(of: " ", with: ".") + "@example.com"
            let country = ["DE", "FR", "JP", "BR", "IN"].randomElement(using: &generator)!
            try connection.query("insert into pgrelay_demo.customers (name, email, country) values (\(name), \(email), \(country))")
        default:
            try connection.query(
                """
                delete from pgrelay_demo.orders
                 where id = (select id from pgrelay_demo.orders where status = 'shipped' order by placed_at limit 1)
                """
            )
        }
    }
}
