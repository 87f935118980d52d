import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// Capture runs with its owner's rights inside every writer's transaction, and without a SET
/// clause for writers whose settings are the standard ones: no search_path of a writer's may
/// redirect a name in it, and no setting of a writer's may change what it captures.
@Suite struct CaptureSafetyTests {
    /// Columns whose printing depends on session settings, each kind at the top level, in an
    /// array, in a range and in a composite value.
    static let columns = """
        id int primary key, note text, at timestamptz, day date, local timestamp, span interval, ratio float8,
        small float4, amount numeric, raw bytea, period tstzrange, days daterange, stamps timestamptz[],
        ratios float8[], spans interval[], pair public.reading
        """

    static func row(_ id: String) -> String {
        """
        \(id), 'n'::text, '2026-03-01 12:34:56.789+00'::timestamptz, '2026-03-01'::date, '2026-03-01 01:02:03.5'::timestamp,
        '1 year 2 mons 3 days 04:05:06.7'::interval, 1 / 3.0::float8, 1.1::float4, 12.50::numeric, '\\xdeadbeef'::bytea,
        tstzrange('2026-03-01 00:00+00', '2026-03-02 06:00+05'), daterange('2026-03-01', '2026-04-01'),
        array['2026-03-01 12:00+00'::timestamptz, '1999-12-31 23:59:59.999+00'], array[0.1, 2.0 / 3, 1e300]::float8[],
        array['90 minutes'::interval, '-1 day'], row('2026-03-01 12:00+00', '36 hours', 0.2, '\\x00ff')::public.reading
        """
    }

    /// The statements every writer runs on its table `t` and its keyless table `k`. Their own
    /// operators are named with their schema: a hostile writer's search_path redirects only what
    /// it does not qualify, and what it writes must be the same rows as a plain writer's.
    static func statements(_ t: String, _ k: String) -> [String] {
        [
            "insert into \(t) values (\(row("1")))",
            "insert into \(t) select \(row("g")) from generate_series(2, 4) g",
            "update \(t) set note = 'u' where id OPERATOR(pg_catalog.=) 1",
            "update \(t) set ratio = ratio * 2, span = span * 1.5",
            "update \(t) set id = 10 where id OPERATOR(pg_catalog.=) 2",
            "delete from \(t) where id OPERATOR(pg_catalog.=) 3",
            "delete from \(t)",
            "insert into \(k) values ('2026-03-01 12:34:56.789+00', '1 year 2 mons 3 days 04:05:06.7', 1 / 3.0, '\\xdeadbeef'), (null, '-5 minutes', -0.0, '')",
            "update \(k) set ratio = ratio / 7",
            "delete from \(k)",
            "truncate \(t)",
        ]
    }

    /// `operation new old` of each log row on a table's channel, in log order, as the log holds
    /// the JSON text.
    static func captured(_ db: TestDatabase, _ table: String) throws -> [String] {
        try db.connection.query(
            "select record->>'operation', (record->'new')::text, (record->'old')::text from realtime.log where channel = $1 order by seq",
            [ChannelName.forTable(TableName(schema: "public", name: table))]
        ).map { "\($0[0] ?? "-") \($0[1] ?? "-") \($0[2] ?? "-")" }
    }

    /// Makes a table of ``columns`` and its keyless twin, both subscribed to every event.
    static func subscribedPair(_ db: TestDatabase, _ t: String) throws {
        try db.connection.execute("create table \(t) (\(columns)); create table \(t)_k (at timestamptz, span interval, ratio float8, raw bytea)")
        for name in [t, t + "_k"] {
            try db.installer.subscribe(TableName(schema: "public", name: name), events: try EventSet(parsing: "INSERT,UPDATE,DELETE,TRUNCATE"))
        }
    }

    @Test func aHostileSearchPathCapturesWhatAPlainWriterCaptures() async throws {
        let role = "pgrelay_hostile_\(UInt32.random(in: 0...UInt32.max))"
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create type public.reading as (at timestamptz, span interval, ratio float8, raw bytea)")
            try Self.subscribedPair(db, "plain")
            try Self.subscribedPair(db, "hostile")
            // A writer with a schema of its own, first in its search_path, holding same-named
            // functions and operators that record every call (with the role they ran as).
            try db.connection.execute(
                """
                create role \(role) login;
                grant select, insert, update, delete, truncate on hostile, hostile_k to \(role);
                create schema evil authorization \(role);
                create table evil.calls (what text, as_role text);
                grant all on evil.calls to public;
                set role \(role);
                create function evil.called(what text) returns void language plpgsql as $$
                    begin insert into evil.calls values (what, current_user); end $$;
                create function evil.texteq(a text, b text) returns boolean language plpgsql as $$
                    begin perform evil.called('text ='); return true; end $$;
                create operator evil.= (leftarg = text, rightarg = text, function = evil.texteq);
                create function evil.int4eq(a int4, b int4) returns boolean language plpgsql as $$
                    begin perform evil.called('int4 ='); return false; end $$;
                create operator evil.= (leftarg = int4, rightarg = int4, function = evil.int4eq);
                create function evil.int4gt(a int4, b int4) returns boolean language plpgsql as $$
                    begin perform evil.called('int4 >'); return false; end $$;
                create operator evil.> (leftarg = int4, rightarg = int4, function = evil.int4gt);
                create function evil.int4lt(a int4, b int4) returns boolean language plpgsql as $$
                    begin perform evil.called('int4 <'); return false; end $$;
                create operator evil.< (leftarg = int4, rightarg = int4, function = evil.int4lt);
                create function evil.int8lt(a int8, b int8) returns boolean language plpgsql as $$
                    begin perform evil.called('int8 <'); return false; end $$;
                create operator evil.< (leftarg = int8, rightarg = int8, function = evil.int8lt);
                create function evil.int8div(a int8, b int4) returns int8 language plpgsql as $$
                    begin perform evil.called('int8 /'); return 0; end $$;
                create operator evil./ (leftarg = int8, rightarg = int4, function = evil.int8div);
                create function evil.row_to_json(r anyelement) returns json language plpgsql as $$
                    begin perform evil.called('row_to_json'); return '{"forged":true}'; end $$;
                create function evil.json_agg(r anyelement) returns json language plpgsql as $$
                    begin perform evil.called('json_agg'); return '[{"forged":true}]'; end $$;
                create function evil.octet_length(t text) returns int4 language plpgsql as $$
                    begin perform evil.called('octet_length'); return 0; end $$;
                create function evil.pg_notify(c text, p text) returns void language plpgsql as $$
                    begin perform evil.called('pg_notify'); end $$;
                create function evil.date_part(f text, t timestamptz) returns float8 language plpgsql as $$
                    begin perform evil.called('date_part'); return 0; end $$;
                create function evil.clock_timestamp() returns timestamptz language plpgsql as $$
                    begin perform evil.called('clock_timestamp'); return now(); end $$;
                reset role;
                """
            )
        }
        let plain = try await Workers.value { try db.connect() }
        let hostile = try await Workers.value { try Connection(conninfo: db.conninfo + " user=\(role)") }
        try await Workers.value {
            for sql in Self.statements("plain", "plain_k") { try plain.execute(sql) }
            try hostile.execute("set search_path = evil, pg_catalog, public")
            for sql in Self.statements("hostile", "hostile_k") { try hostile.execute(sql) }
        }
        let expected = try Self.captured(db, "plain") + Self.captured(db, "plain_k")
        let got = try Self.captured(db, "hostile") + Self.captured(db, "hostile_k")
        #expect(expected.count == 12)
        #expect(got == expected)
        let calls = try db.connection.query("select what, as_role from evil.calls")
        #expect(calls.isEmpty, "\(calls)")
        try await db.execute("drop schema evil cascade; drop owned by \(role); drop role \(role)")
    }

    @Test func aWritersSessionSettingsDoNotChangeWhatIsCaptured() async throws {
        let hostile: [(name: String, settings: [String])] = [
            ("dmy", ["datestyle = 'ISO, DMY'"]),  // standard for output: the fast path
            ("zone", ["timezone = 'Asia/Kathmandu'"]),
            ("datestyle", ["datestyle = 'SQL, DMY'"]),
            ("intervals", ["intervalstyle = 'iso_8601'"]),
            ("floats", ["extra_float_digits = -15"]),
            ("bytes", ["bytea_output = 'escape'"]),
            (
                "all",
                [
                    "timezone = 'America/St_Johns'", "datestyle = 'German'", "intervalstyle = 'sql_standard'", "extra_float_digits = 0",
                    "bytea_output = 'escape'",
                ]
            ),
        ]
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create type public.reading as (at timestamptz, span interval, ratio float8, raw bytea)")
            try Self.subscribedPair(db, "plain")
            for variant in hostile { try Self.subscribedPair(db, "w_" + variant.name) }
        }
        let writer = try await Workers.value { try db.connect() }
        try await Workers.value {
            for sql in Self.statements("plain", "plain_k") { try writer.execute(sql) }
            for variant in hostile {
                for setting in variant.settings { try writer.execute("set \(setting)") }
                for sql in Self.statements("w_" + variant.name, "w_\(variant.name)_k") { try writer.execute(sql) }
                try writer.execute("reset all")
            }
        }
        let expected = try Self.captured(db, "plain") + Self.captured(db, "plain_k")
        #expect(expected.count == 12)
        // The default settings print as the SET clause does: UTC, ISO, shortest floats, hex.
        #expect(expected[0].contains(#""at":"2026-03-01T12:34:56.789+00:00""#) && expected[0].contains(#""raw":"\\xdeadbeef""#), "\(expected[0])")
        #expect(expected[0].contains(#""span":"1 year 2 mons 3 days 04:05:06.7""#), "\(expected[0])")
        #expect(expected[0].contains(#""ratio":0.3333333333333333"#), "\(expected[0])")
        for variant in hostile {
            let got = try Self.captured(db, "w_" + variant.name) + Self.captured(db, "w_\(variant.name)_k")
            #expect(got == expected, "\(variant.settings)")
        }
    }
}
