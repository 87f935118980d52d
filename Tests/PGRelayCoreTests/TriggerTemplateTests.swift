import Foundation
import Testing
@testable import PGRelayCore

@Suite struct TriggerTemplateTests {
    /// The shipped template, so that these tests check what `subscribe` really renders.
    static let subscribe: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../triggers/sql/subscribe.sql")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()
    let orders = TableName(schema: "public", name: "orders")

    @Test func rendersStatementTriggersWithTheirArguments() {
        let sql = TriggerTemplate(Self.subscribe).renderSubscribe(
            table: orders, channel: "realtime:table:public.orders", events: .default, notify: .off, key: ["id"]
        )
        #expect(sql.contains(#"create trigger realtime_capture_insert after insert on "public"."orders""#))
        #expect(sql.contains(#"execute function realtime.capture_rows('realtime:table:public.orders', 'off', 'public', 'orders', 'id');"#))
        #expect(sql.contains(#"full join old_rows o on n."id" = o."id""#))
        #expect(sql.contains(TriggerTemplate.updateFunction(of: orders) + "()"))
        #expect(!sql.contains("truncate on"))
        #expect(!sql.contains("for each row"))
    }

    @Test func tablesWithoutAKeyGetRowLevelUpdates() throws {
        let sql = TriggerTemplate(Self.subscribe).renderSubscribe(
            table: orders, channel: "c", events: try EventSet(parsing: "UPDATE,TRUNCATE"), key: []
        )
        #expect(sql.contains("for each row execute function realtime.capture_row('c', 'wake', 'public', 'orders');"))
        #expect(sql.contains(#"after truncate on "public"."orders""#))
        #expect(!sql.contains("create function"))
        #expect(!sql.contains("after insert"))
    }

    @Test func compositeKeysJoinOnEveryColumn() {
        let sql = TriggerTemplate(Self.subscribe).renderSubscribe(table: orders, channel: "c", events: .default, key: ["a", "B b"])
        #expect(sql.contains(#"on n."a" = o."a" and n."B b" = o."B b""#))
    }

    @Test func hostileNamesStayInsideTheirQuotes() {
        let evil = TableName(schema: "x\"; drop table y; --", name: "o'k")
        let channel = "realtime:table:it's"
        let sql = TriggerTemplate(Self.subscribe).renderSubscribe(table: evil, channel: channel, events: .default, key: ["k'\"x"])
        #expect(sql.contains(#""x""; drop table y; --"."o'k""#))
        #expect(sql.contains("'realtime:table:it''s', 'wake', 'x\"; drop table y; --', 'o''k', 'k''\"x'"))
        #expect(sql.contains(#"n."k'""x" = o."k'""x""#))
    }

    @Test func updateFunctionNamesAreStableAndDistinct() {
        let a = TriggerTemplate.updateFunction(of: TableName(schema: "a.b", name: "c"))
        let b = TriggerTemplate.updateFunction(of: TableName(schema: "a", name: "b.c"))
        #expect(a != b)
        #expect(a == TriggerTemplate.updateFunction(of: TableName(schema: "a.b", name: "c")))
        #expect(a.hasPrefix("realtime.\"capture_update_") && a.utf8.count < 63 + 12)
    }
}
