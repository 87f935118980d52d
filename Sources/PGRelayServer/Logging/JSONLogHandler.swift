import Foundation
import Logging
import PGRelayCore

/// `serve --log-format json`: one JSON object per line on standard error, with the fields log
/// shippers look for (`timestamp` in RFC 3339 UTC, `level`, `logger`, `message`) and the entry's
/// metadata as fields of their own. Values of metadata keys that name secrets (`password`,
/// `token`, `apikey`, `authorization`, `secret`) are replaced, on top of the redaction every log
/// line already has (query strings, connection strings).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let write: @Sendable (String) -> Void

    public init(
        label: String, level: Logger.Level = .info,
        write: @escaping @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    ) {
        self.label = label
        self.logLevel = level
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static let secretKeys = ["password", "token", "apikey", "authorization", "secret"]

    public func log(event: LogEvent) {
        write(Self.line(event: event, label: label, metadata: metadata, date: Date()))
    }

    /// The JSON line for one entry: fixed fields first, then metadata by key (the entry's over the logger's).
    static func line(event: LogEvent, label: String, metadata: Logger.Metadata, date: Date) -> String {
        var merged = metadata
        for (key, value) in event.metadata ?? [:] { merged[key] = value }
        var fields: [(key: String, value: JSONValue)] = [
            ("timestamp", .string(RelayConnection.timestamp(date))), ("level", .string(event.level.rawValue)), ("logger", .string(label)),
            ("message", .string(event.message.description)),
        ]
        let reserved = Set(fields.map(\.key))
        for key in merged.keys.sorted() where !reserved.contains(key) {
            let secret = secretKeys.contains { key.lowercased().contains($0) }
            fields.append((key, secret ? .string("REDACTED") : json(merged[key]!)))
        }
        return JSONValue.object(fields).jsonText
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): return .string(text)
        case .stringConvertible(let value): return .string(value.description)
        case .array(let items): return .array(items.map(json))
        case .dictionary(let members): return .object(members.keys.sorted().map { ($0, json(members[$0]!)) })
        }
    }
}
