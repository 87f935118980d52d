import Testing
@testable import PGRelayCore

@Suite struct TriggerTemplateTests {
    static let subscribe = """
        -- header
        -- [rows]
        create trigger realtime_capture after {{row_events}} on {{table}} for each row execute function realtime.capture({{channel}});
        -- [truncate]
        create trigger realtime_capture_truncate after truncate on {{table}} for each statement execute function realtime.capture({{channel}});
        """

    @Test func rendersRowEventsAndQuotes() {
        let sql = TriggerTemplate(Self.subscribe).renderSubscribe(
            table: TableName(schema: "public", name: "orders"), channel: "realtime:table:public.orders", events: .default
        )
        #expect(sql.contains(#"after insert or update or delete on "public"."orders" for each row execute function realtime.capture('realtime:table:public.orders');"#))
        #expect(!sql.contains("truncate"))
    }

    @Test func keepsOnlyRequestedSections() throws {
        let sql = TriggerTemplate(Self.subscribe).renderSubscribe(
            table: TableName(schema: "s", name: "t"), channel: "c", events: try EventSet(parsing: "TRUNCATE")
        )
        #expect(!sql.contains("for each row"))
        #expect(sql.contains("after truncate on \"s\".\"t\""))
        #expect(sql.hasPrefix("-- header"))
    }

    @Test func hostileNamesStayInsideTheirQuotes() {
        let evil = TableName(schema: "x\"; drop table y; --", name: "o'k")
        let channel = "realtime:table:it's"
        let sql = TriggerTemplate(Self.subscribe).renderSubscribe(table: evil, channel: channel, events: .default)
        #expect(sql.contains(#""x""; drop table y; --"."o'k""#))
        #expect(sql.contains("'realtime:table:it''s'"))
    }
}
