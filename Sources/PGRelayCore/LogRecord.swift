/// Expands one row of `realtime.log` into its changes.
///
/// A row-level capture writes one change, `{"operation","schema","table","new","old"}` with
/// objects (or null) for `new` and `old`. A statement-level capture writes a chunk: the same keys
/// with arrays for `new` and `old` (one of them null for INSERT and DELETE chunks). In an UPDATE
/// chunk, old and new rows were paired by key: an element with only `new` is an INSERT (a key that
/// appeared), one with only `old` a DELETE (a key that went away).
///
/// A message (`realtime.post`) is one log row of its own: `{"operation":"MESSAGE",...}` with
/// `n` = 1 (``ChannelMessage``).
public enum LogRecord {
    /// The entries of one log row: its changes, or the one message it holds.
    public static func entries(in record: JSONValue, count: Int, firstID: Int64, timestamp: String) throws -> [LogEntry] {
        if let operation = record["operation"]?.stringValue, operation == ChannelMessage.operation || operation == ChannelMessage.accessOperation {
            guard count == 1 else { throw ChangeEventDecodingError(reason: "a message recorded with n = \(count)") }
            return [.message(try ChannelMessage(id: firstID, timestamp: timestamp, record: record))]
        }
        return try changes(in: record, count: count, firstID: firstID, timestamp: timestamp).map(LogEntry.change)
    }

    /// The changes of one log row, numbered from `firstID` in the row's order.
    /// - Parameters:
    ///   - count: the row's `n`, checked against what the record holds.
    public static func changes(in record: JSONValue, count: Int, firstID: Int64, timestamp: String) throws -> [ChangeEvent] {
        let header = try ChangeEvent.Header(record)
        let new = record["new"] ?? .null
        let old = record["old"] ?? .null
        if case .array = new {
        } else if case .array = old {
        } else {
            guard count == 1 else { throw ChangeEventDecodingError(reason: "a single change recorded with n = \(count)") }
            return [try ChangeEvent(id: firstID, timestamp: timestamp, record: record)]
        }
        let news = try elements(new, "new")
        let olds = try elements(old, "old")
        let length = max(news?.count ?? 0, olds?.count ?? 0)
        if let news, news.count != length { throw ChangeEventDecodingError(reason: "\"new\" and \"old\" differ in length") }
        if let olds, olds.count != length { throw ChangeEventDecodingError(reason: "\"new\" and \"old\" differ in length") }
        guard length == count else { throw ChangeEventDecodingError(reason: "a chunk of \(length) changes recorded with n = \(count)") }
        return try (0..<length).map { index in
            let after = news.flatMap { $0[index].isNull ? nil : $0[index] }
            let before = olds.flatMap { $0[index].isNull ? nil : $0[index] }
            var operation = header.operation
            if operation == .update, after == nil { operation = .delete }
            if operation == .update, before == nil { operation = .insert }
            for (name, value) in [("new", after), ("old", before)] {
                if let value, case .object = value {
                } else if value != nil {
                    throw ChangeEventDecodingError(reason: "\"\(name)\" rows must be objects")
                }
            }
            guard after != nil || before != nil else { throw ChangeEventDecodingError(reason: "a chunk element with neither row") }
            return ChangeEvent(id: firstID + Int64(index), timestamp: timestamp, operation: operation, table: header.table, new: after, old: before)
        }
    }

    private static func elements(_ value: JSONValue, _ name: String) throws -> [JSONValue]? {
        switch value {
        case .null: return nil
        case .array(let items): return items
        default: throw ChangeEventDecodingError(reason: "\"\(name)\" of a chunk must be an array or null")
        }
    }
}
