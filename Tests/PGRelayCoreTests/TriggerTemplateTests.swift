import Foundation
import Testing

@testable import PGRelayCore

@Suite struct TriggerTemplateTests {
    /// The shipped template, so that these tests check what `subscribe` really renders.
    static let subscribe: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../triggers/sql/subscribe.sql")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()
    static let captureRows: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../triggers/sql/capture_rows.sql")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()
    static let unsubscribe: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../triggers/sql/unsubscribe.sql")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()
    let orders = TableName(schema: "public", name: "orders")

    @Test func rendersStatementTriggersWithTheirArguments() {
        let sql = TriggerTemplate(Self.subscribe).renderSubscribe(
            table: orders, channel: "realtime:table:public.orders", events: .init(operations: [.insert, .update, .delete]), notify: .off, key: ["id"]
        )
        #expect(sql.contains(#"create trigger realtime_capture_insert after insert on "public"."orders""#))
        #expect(sql.contains(#"execute function realtime.capture_rows('realtime:table:public.orders', 'off', 'public', 'orders', 'id');"#))
        #expect(sql.contains(#"full join old_rows o on n."id" operator("pg_catalog".=) o."id""#))
        #expect(sql.contains(TriggerTemplate.updateFunction(channel: "realtime:table:public.orders") + "()"))
        #expect(sql.contains("enable always trigger realtime_capture_insert"))
        // No SET clause without a condition: capture names everything with its schema instead.
        #expect(
            sql.contains(
                TriggerTemplate.updateFunction(channel: "realtime:table:public.orders")
                    + "() returns trigger\nlanguage plpgsql security definer\nas $fn$"))
        #expect(!sql.contains("set search_path"))
        #expect(!sql.contains("truncate on"))
        #expect(!sql.contains("for each row"))
    }

    @Test func tablesWithoutAKeyGetRowLevelUpdates() throws {
        let sql = TriggerTemplate(Self.subscribe).renderSubscribe(
            table: orders, channel: "c", events: try EventSet(parsing: "UPDATE,TRUNCATE"), key: []
        )
        #expect(sql.contains("for each row execute function realtime.capture_row('c', 'auto', 'public', 'orders');"))
        #expect(sql.contains(#"after truncate on "public"."orders""#))
        #expect(!sql.contains("create function"))
        #expect(!sql.contains("after insert"))
    }

    @Test func compositeKeysJoinOnEveryColumn() {
        let sql = TriggerTemplate(Self.subscribe).renderSubscribe(table: orders, channel: "c", events: .default, key: ["a", "B b"])
        #expect(sql.contains(#"on n."a" operator("pg_catalog".=) o."a" and n."B b" operator("pg_catalog".=) o."B b""#))
        let citext = TriggerTemplate(Self.subscribe).renderSubscribe(
            table: orders, channel: "c", events: .default, key: [KeyColumn(name: "email", operatorSchema: "ext")]
        )
        #expect(citext.contains(#"on n."email" operator("ext".=) o."email""#))
    }

    @Test func hostileNamesStayInsideTheirQuotes() {
        let evil = TableName(schema: "x\"; drop table y; --", name: "o'k")
        let channel = "realtime:table:it's"
        let sql = TriggerTemplate(Self.subscribe).renderSubscribe(table: evil, channel: channel, events: .default, key: ["k'\"x"])
        #expect(sql.contains(#""x""; drop table y; --"."o'k""#))
        #expect(sql.contains("'realtime:table:it''s', 'auto', 'x\"; drop table y; --', 'o''k', 'k''\"x'"))
        #expect(sql.contains(#"n."k'""x" operator("pg_catalog".=) o."k'""x""#))
    }

    /// A value is substituted once: placeholder syntax inside a name stays inside its quotes.
    @Test func namesThatContainPlaceholdersAreRenderedOnce() {
        let placeholders = ["{{table}}", "{{args}}", "{{update_function}}", "{{key_join}}", "{{legacy_update_function}}", "{{", "}}"]
        for placeholder in placeholders {
            let evil = TableName(schema: "s" + placeholder, name: placeholder + "t")
            let sql = TriggerTemplate(Self.subscribe).renderSubscribe(
                table: evil, channel: "c" + placeholder, events: try! EventSet(parsing: "INSERT,UPDATE,DELETE,TRUNCATE"),
                key: [KeyColumn(name: placeholder)]
            )
            let quoted = evil.quoted
            #expect(sql.contains("after insert on \(quoted)\n"), "\(placeholder)")
            #expect(
                sql.contains(
                    "execute function realtime.capture_rows('c\(placeholder)', 'auto', 's\(placeholder)', '\(placeholder)t', '\(placeholder)');"))
            // Every placeholder of the template was filled: none is left but those the names brought.
            let leftover = sql.components(separatedBy: "{{").count - 1
            let brought = sql.components(separatedBy: placeholder == "}}" ? "{{NOPE" : placeholder).count - 1
            #expect(placeholder == "{{" || placeholder == "}}" || leftover == brought, "\(placeholder): \(leftover) vs \(brought)")
            let unsubscribe = TriggerTemplate(Self.unsubscribe).renderUnsubscribe(table: evil, channel: "c", formerlyNamed: evil)
            #expect(unsubscribe.contains("drop trigger if exists realtime_capture_insert on \(quoted);"))
        }
    }
    @Test func updateFunctionNamesAreStableAndDistinct() {
        let a = TriggerTemplate.updateFunction(channel: ChannelName.forTable(TableName(schema: "a.b", name: "c")))
        let b = TriggerTemplate.updateFunction(channel: ChannelName.forTable(TableName(schema: "a", name: "b.c")))
        #expect(a != b)
        #expect(a == TriggerTemplate.updateFunction(channel: ChannelName.forTable(TableName(schema: "a.b", name: "c"))))
        #expect(a != TriggerTemplate.legacyUpdateFunction(of: TableName(schema: "a.b", name: "c")))
        #expect(a.hasPrefix("realtime.\"capture_update_") && a.utf8.count < 63 + 12)
    }
}
extension TriggerTemplateTests {
    /// With a condition: INSERT and DELETE through the subscription's own function, UPDATEs kept
    /// when the old or the new row matches, the condition a SQL function whose body is one literal.
    @Test func aConditionIsCompiledIntoTheCapture() throws {
        let orders = TableName(schema: "public", name: "orders")
        let condition = CompiledCondition(
            row: try SubscriptionCondition("(pgrelay_row.note = 'it''s')"), new: try SubscriptionCondition("(new.note = 'x')"),
            old: try SubscriptionCondition("(old.note = 'x')")
        )
        let keyed = TriggerTemplate(Self.subscribe).renderSubscribe(
            table: orders, channel: "c", events: .default, key: ["id"], condition: condition, captureRows: TriggerTemplate(Self.captureRows))
        let function = TriggerTemplate.conditionFunction(channel: "c")
        #expect(
            keyed.contains(
                "create function \(function)(pgrelay_row anyelement) returns boolean\nlanguage sql immutable\nas 'select coalesce(((pgrelay_row.note = ''it''''s'')), false)';"
            ), "\(keyed)")
        #expect(
            keyed.contains(
                "for each statement execute function \(TriggerTemplate.rowsFunction(channel: "c"))('c', 'auto', 'public', 'orders', 'id');"))
        #expect(keyed.contains(#"where (\#(function)(n::"public"."orders") or \#(function)(o::"public"."orders"))"#))
        #expect(!keyed.contains("realtime.capture_rows("))
        // The subscription's own capture is capture_rows.sql with the condition as its row test.
        let rowsFunction = TriggerTemplate.rowsFunction(channel: "c")
        #expect(keyed.contains("create or replace function \(rowsFunction)() returns trigger\nlanguage plpgsql security definer\nset search_path"))
        #expect(keyed.components(separatedBy: "where \(function)(r::\"public\".\"orders\")").count - 1 == 6, "\(keyed)")
        #expect(!keyed.contains("{{"))
        // A condition's body needs a fixed search path: the UPDATE function has the SET clause.
        #expect(
            keyed.contains(
                "create function \(TriggerTemplate.updateFunction(channel: "c"))() returns trigger\nlanguage plpgsql security definer\nset search_path"
            ))
        let keyless = TriggerTemplate(Self.subscribe).renderSubscribe(table: orders, channel: "c", events: .default, key: [], condition: condition)
        #expect(
            keyless.contains(
                "for each row when (coalesce(((new.note = 'x')), false) or coalesce(((old.note = 'x')), false)) execute function realtime.capture_row("
            ), "\(keyless)")
        let unsubscribe = TriggerTemplate(Self.unsubscribe).renderUnsubscribe(table: orders, channel: "c", formerlyNamed: orders)
        #expect(unsubscribe.contains("drop function if exists \(function)(anyelement);"))
    }
}

/// Renaming the row of a rendered condition touches column references only, never literals or quoted names.
@Suite struct SubscriptionConditionTests {
    @Test func renamingTheRowLeavesLiteralsAlone() throws {
        let rendered = try SubscriptionCondition(
            #"((pgrelay_row.note = 'pgrelay_row.x'::text) AND (lower(pgrelay_row."Body") ~~ 'it''s pgrelay_row.'::text) AND (xpgrelay_row.y = "pgrelay_row.z"))"#
        )
        #expect(
            try rendered.renamingRow("pgrelay_row", to: "new").text
                == #"((new.note = 'pgrelay_row.x'::text) AND (lower(new."Body") ~~ 'it''s pgrelay_row.'::text) AND (xpgrelay_row.y = "pgrelay_row.z"))"#
        )
    }

    @Test func conditionsAreOneExpression() {
        for (text, message) in [
            ("", "a condition is a boolean SQL expression"), ("a = 1; drop table t", "';' is not allowed"), ("(a = 1", "'(' is not closed"),
            ("a = 1)", "')' has no '('"), ("a = $1", "may not use '$'"), ("a = 1 /* x */", "comment"), ("a = 'x", "literal is not closed"),
            ("\"a = 1", "identifier is not closed"), (String(repeating: "a", count: 2001), "at most 2000 characters"),
        ] {
            #expect(throws: SubscriptionConditionError.self, "\(text)") { try SubscriptionCondition(text) }
            do { _ = try SubscriptionCondition(text) } catch { #expect(error.description.contains(message), "\(text): \(error)") }
        }
        #expect((try? SubscriptionCondition("note = 'a;b -- c $d (' and \"we;ird\" = 'x'"))?.text == "note = 'a;b -- c $d (' and \"we;ird\" = 'x'")
        #expect((try? SubscriptionCondition("note = E'it\\'s'"))?.text == "note = E'it\\'s'")
    }

    /// A placeholder inside a comment line would let a value end the comment: a table whose quoted
    /// name holds a newline would run the rest of its name as SQL. Comment lines are not sent.
    @Test func commentLinesNeverCarryValues() {
        let hostile = TableName(schema: "public", name: "x\ndrop table users; --")
        let sql = TriggerTemplate(TriggerTemplateTests.subscribe).renderSubscribe(table: hostile, channel: "c", events: .default, key: ["id"])
        // The name appears quoted, where its newline is part of the identifier, and in no comment.
        #expect(sql.contains("\"x\ndrop table users; --\""))
        #expect(!sql.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }, "\(sql)")
        #expect(TriggerTemplate(TriggerTemplateTests.captureRows).renderCaptureRows().split(separator: "\n").allSatisfy { !$0.hasPrefix("--") })
    }
}
