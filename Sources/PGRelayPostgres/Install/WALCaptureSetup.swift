import PGRelayCore

/// What `pgrelay subscribe TABLE --capture wal` needs from the server, checked before anything
/// changes, each missing piece said with how to get it; and the slot and publication it makes
/// (docs/concepts.md, "Capture from the WAL").
struct WALCaptureSetup {
    let connection: Connection

    /// The publication pgrelay keeps equal to the WAL-captured tables of this database.
    static let publication = "pgrelay"

    /// The slot's name: one per database (slots are the cluster's; the database's oid tells
    /// pgrelay's slots of several databases apart).
    func slotName() throws -> String {
        "pgrelay_"
            + String(
                try connection.query("select oid::int8 as oid from pg_database where datname = current_database()")[0].decode("oid", as: Int64.self))
    }

    /// Refuses, with what to do, unless the server, the role and the table allow WAL capture.
    func check(_ table: TableName, relid: UInt32) throws {
        let row = try connection.query(
            """
            -- The tables whose WAL is written: the table itself, or a partitioned one's partitions.
            with realtime_leaf as (
                select \(relid)::oid as relid where (select relkind from pg_class where oid = \(relid)) = 'r'
                union select p.relid from pg_partition_tree(\(relid)::oid) p where p.isleaf)
            select current_setting('wal_level') as wal_level,
                   (select rolreplication or rolsuper from pg_roles where rolname = current_user) as replication,
                   pg_has_role(current_user, c.relowner, 'USAGE') as owner, c.relowner::regrole::text as owner_name,
                   has_database_privilege(current_database(), 'CREATE') as may_create,
                   exists (select from pg_publication where pubname = \(Self.publication)) as has_publication,
                   exists (select from pg_replication_slots where slot_name = \(try slotName()) and wal_status <> 'lost') as has_slot,
                   (select count(*) from pg_replication_slots)::int as slots, current_setting('max_replication_slots')::int as max_slots,
                   (select count(*) from pg_stat_replication)::int as senders, current_setting('max_wal_senders')::int as max_senders,
                   (select string_agg(a.attname::text, ', ' order by a.attnum) from pg_attribute a
                     where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated <> '') as generated,
                   (select string_agg(distinct p.relid::regclass::text, ', ') from realtime_leaf p join pg_class pc on pc.oid = p.relid
                     where pc.relreplident <> 'f'
                       and exists (select from pg_attribute a where a.attrelid = p.relid and a.attnum > 0 and not a.attisdropped and a.attstorage <> 'p')) as toastable,
                   (select string_agg(distinct p.relid::regclass::text, ', ') from realtime_leaf p join pg_class pc on pc.oid = p.relid
                     where (pc.relreplident = 'n' or (pc.relreplident = 'd' and not exists (select from pg_index i where i.indrelid = p.relid and i.indisprimary)))) as no_identity
              from pg_class c where c.oid = \(relid)
            """)[0]
        let quoted = table.quoted
        guard try row.decode("wal_level", as: String.self) == "logical" else {
            throw PostgresError(
                .query,
                "WAL capture needs wal_level = logical; this server has \(try row.decode("wal_level", as: String.self)): ALTER SYSTEM SET wal_level = logical, then restart Postgres (or keep --capture trigger)"
            )
        }
        guard try row.decode("replication", as: Bool.self) else {
            throw PostgresError(
                .query,
                "WAL capture needs a role with REPLICATION (the relays read the slot with it, and subscribe makes it): ALTER ROLE \(try connection.query("select current_user::text as me")[0].decode("me", as: String.self)) REPLICATION, or your provider's equivalent. This right lets the role read the WAL of every database on the server.",
                sqlState: SQLState.insufficientPrivilege)
        }
        guard try row.decode("owner", as: Bool.self) else {
            throw PostgresError(
                .query,
                "WAL capture needs ownership of \(table) (adding it to a publication does; trigger capture needs only TRIGGER): run subscribe as \(try row.decode("owner_name", as: String.self)) or a member of it",
                sqlState: SQLState.insufficientPrivilege)
        }
        if try !row.decode("has_publication", as: Bool.self), try !row.decode("may_create", as: Bool.self) {
            throw PostgresError(
                .query,
                "WAL capture needs CREATE on database \"\(connection.databaseName)\" for its publication: GRANT CREATE ON DATABASE ... TO the role",
                sqlState: SQLState.insufficientPrivilege)
        }
        if try !row.decode("has_slot", as: Bool.self) {
            let (slots, maxSlots) = (try row.decode("slots", as: Int.self), try row.decode("max_slots", as: Int.self))
            guard slots < maxSlots else {
                throw PostgresError(
                    .query,
                    "WAL capture needs a free replication slot: all \(maxSlots) are taken (max_replication_slots); raise it (a restart) or drop an unused slot"
                )
            }
        }
        let (senders, maxSenders) = (try row.decode("senders", as: Int.self), try row.decode("max_senders", as: Int.self))
        guard senders < maxSenders else {
            throw PostgresError(.query, "WAL capture needs a free WAL sender: all \(maxSenders) are in use (max_wal_senders); raise it (a restart)")
        }
        if let generated = try row.decode("generated", as: String?.self) {
            throw PostgresError(
                .query,
                "\(table) has generated columns (\(generated)): Postgres 15 does not write them to the WAL for logical decoding; keep --capture trigger for it"
            )
        }
        if let missing = try row.decode("no_identity", as: String?.self) {
            throw PostgresError(
                .query,
                "\(missing) has no replica identity: once published, its UPDATEs and DELETEs would fail; give it a primary key, or ALTER TABLE \(quoted) REPLICA IDENTITY FULL"
            )
        }
        if let toastable = try row.decode("toastable", as: String?.self) {
            throw PostgresError(
                .query,
                "\(toastable) has columns whose values may be TOASTed, and an UPDATE that leaves one unchanged does not write it to the WAL: ALTER TABLE \(quoted) REPLICA IDENTITY FULL (every UPDATE and DELETE then writes the old row, and events carry it whole, as with triggers), or keep --capture trigger"
            )
        }
    }

    /// Makes the slot (a fresh one, when it was lost) and the publication when missing, and the
    /// capture's row; outside any transaction (a slot cannot be made in one that wrote). Making a
    /// slot waits for the transactions running now to end.
    func prepare() throws {
        let slot = try slotName()
        // Under the lock the retiring capturer takes to drop the slot and the publication
        // (WALCapturer.dropSlot): either it dropped them and they are made again here, or this
        // one's row tells it not to. The publication first, committed on its own (a slot cannot be
        // made in a transaction that wrote): pgoutput looks it up as the catalog was at each change
        // it decodes, so changes written between a slot and a later publication fail to decode.
        // Making a slot waits for the transactions running now to end.
        for _ in 0..<5 {
            try connection.transaction {
                try connection.execute("lock table realtime.subscriptions in share row exclusive mode")
                if try connection.query("select from pg_publication where pubname = \(Self.publication)").isEmpty {
                    try connection.execute(
                        "create publication \(SQLQuoting.identifier(Self.publication)) with (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)"
                    )
                }
            }
            let ready = try connection.transaction { () -> Bool in
                try connection.execute("lock table realtime.subscriptions in share row exclusive mode")
                // A retiring capturer dropped it in between: make it again first.
                guard try !connection.query("select from pg_publication where pubname = \(Self.publication)").isEmpty else { return false }
                let lost = try connection.query("select wal_status = 'lost' as lost from pg_replication_slots where slot_name = \(slot)").first
                if let lost, try lost.decode("lost", as: Bool.self) {
                    try connection.query("select pg_drop_replication_slot(\(slot))")
                }
                var made = false
                if try connection.query("select from pg_replication_slots where slot_name = \(slot)").isEmpty {
                    try connection.query("select pg_create_logical_replication_slot(\(slot), 'pgoutput')")
                    made = true
                }
                // Last: from now on ticks wait for the capturer, which needs the slot. A new slot
                // starts after every position an old one had appended.
                try connection.query(
                    """
                    insert into realtime.wal_capture (slot, publication) values (\(slot), \(Self.publication))
                    on conflict (only_one) do update set slot = excluded.slot, publication = excluded.publication, retire_after = null
                    """)
                if made { try connection.query("update realtime.wal_capture set applied_lsn = '0/0'") }
                return true
            }
            if ready { return }
        }
        throw PostgresError(.query, "the publication \(Self.publication) was dropped again and again while subscribing; run subscribe again")
    }

    /// Inside `subscribe`'s transaction: the table joins the publication (its writers are locked
    /// out until the transaction ends, so that each of their transactions is captured by the
    /// triggers before or by the WAL after, never both or neither).
    func publish(_ table: TableName) throws {
        try connection.execute("lock table \(table.quoted) in share row exclusive mode")
        let member = try connection.query(
            "select from pg_publication_tables where pubname = \(Self.publication) and schemaname = \(table.schema) and tablename = \(table.name)")
        if member.isEmpty {
            try connection.execute("alter publication \(SQLQuoting.identifier(Self.publication)) add table \(table.quoted)")
        }
    }

    /// Inside `subscribe`'s or `unsubscribe`'s transaction: the table leaves the publication.
    func unpublish(_ table: TableName) throws {
        try connection.execute("lock table \(table.quoted) in share row exclusive mode")
        let member = try connection.query(
            "select from pg_publication_rel r join pg_publication p on p.oid = r.prpubid where p.pubname = \(Self.publication) and r.prrelid = to_regclass(\(table.quoted))"
        )
        if !member.isEmpty {
            try connection.execute("alter publication \(SQLQuoting.identifier(Self.publication)) drop table \(table.quoted)")
        }
    }

    /// After a transaction that left no WAL-captured table: the capturer retires once it has
    /// read past now (WALCapturer drops the slot and the publication then).
    func retireIfUnused() throws {
        try connection.query(
            """
            update realtime.wal_capture set retire_after = pg_current_wal_insert_lsn()
             where not exists (select from realtime.subscriptions where capture = 'wal')
            """)
    }
}
