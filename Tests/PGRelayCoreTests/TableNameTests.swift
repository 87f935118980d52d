import Testing

@testable import PGRelayCore

@Suite struct TableNameTests {
    @Test(arguments: [
        ("orders", "public", "orders"),
        ("public.orders", "public", "orders"),
        ("Public.Orders", "public", "orders"),
        (#""Sales"."Order Lines""#, "Sales", "Order Lines"),
        (#""odd.schema"."a ""quoted"" name""#, "odd.schema", #"a "quoted" name"#),
        (#"app."Mixed.Case""#, "app", "Mixed.Case"),
        ("café.crème", "café", "crème"),
        ("t$1", "public", "t$1"),
    ])
    func parses(_ input: String, _ schema: String, _ name: String) throws {
        #expect(try TableName(parsing: input) == TableName(schema: schema, name: name))
    }

    @Test(arguments: ["", ".", "a.", ".a", "a.b.c", "bad name", "\"unclosed", "\"\"", "1abc", "a-b", "\"a\"x", String(repeating: "x", count: 64)])
    func rejects(_ input: String) {
        #expect(throws: TableNameError.self) { try TableName(parsing: input) }
    }

    @Test func errorSaysWhatToFix() {
        #expect(throws: TableNameError.self) { try TableName(parsing: "my table") }
        do {
            _ = try TableName(parsing: "my table")
        } catch {
            #expect("\(error)".contains("quote names"))
        }
    }

    @Test func displayQuotesOnlyWhereNeeded() {
        #expect(TableName(schema: "public", name: "orders").description == "public.orders")
        #expect(TableName(schema: "My Schema", name: #"a"b"#).description == #""My Schema"."a""b""#)
        #expect(TableName(schema: "public", name: "orders").quoted == #""public"."orders""#)
    }

    @Test func quotedFormOfAnyNameParsesBack() throws {
        var rng = SplitMix64(seed: 1)
        for _ in 0..<2000 {
            let schema = Generate.string(&rng, maxLength: 20)
            let name = Generate.string(&rng, maxLength: 20)
            guard !schema.isEmpty, !name.isEmpty, !schema.contains("\0"), !name.contains("\0") else { continue }
            let table = TableName(schema: schema, name: name)
            #expect(try TableName(parsing: table.quoted) == table, "\(table.quoted)")
            #expect(try TableName(parsing: table.description) == table, "\(table.description)")
        }
    }
}

@Suite struct ChannelNameTests {
    @Test func naturalWhenItFits() {
        #expect(ChannelName.forTable(TableName(schema: "public", name: "orders")) == "realtime:table:public.orders")
    }

    @Test func dotsInNamesDoNotCollide() {
        let a = ChannelName.forTable(TableName(schema: "a.b", name: "c"))
        let b = ChannelName.forTable(TableName(schema: "a", name: "b.c"))
        #expect(a != b)
        #expect(a.hasPrefix("realtime:table:a.b.c~"))
    }

    @Test func longNamesAreShortenedWithinTheLimit() {
        let long = String(repeating: "s", count: 63)
        let channel = ChannelName.forTable(TableName(schema: long, name: long))
        #expect(channel.utf8.count <= 63)
        #expect(channel.hasPrefix("realtime:table:sss"))
        #expect(channel != ChannelName.forTable(TableName(schema: long, name: String(repeating: "s", count: 62) + "t")))
    }

    @Test func generatedNamesGiveValidDistinctChannels() {
        var rng = SplitMix64(seed: 3)
        var seen: [String: TableName] = [:]
        for _ in 0..<3000 {
            let table = TableName(schema: Generate.string(&rng, maxLength: 40) + "s", name: Generate.string(&rng, maxLength: 40) + "t")
            let channel = ChannelName.forTable(table)
            #expect(channel.utf8.count <= 63, "\(channel)")
            #expect(channel.hasPrefix(ChannelName.prefix))
            #expect(String(validating: Array(channel.utf8), as: UTF8.self) != nil)
            if let other = seen[channel] { #expect(other == table, "\(channel) for \(other) and \(table)") }
            seen[channel] = table
        }
    }
}
