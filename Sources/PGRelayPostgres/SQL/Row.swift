/// One row of a query's answer, read by column name into typed values.
///
/// ```swift
/// for row in try connection.query("select tick, last_id from realtime.ticks") {
///     let tick = try row.decode("tick", as: Int64.self)
/// }
/// ```
///
/// No silent defaults: a missing column, a NULL where a value is needed, or text that is not the
/// type asked for throws a ``RowDecodingError`` naming the column.
public struct Row: Sendable {
    /// Column names, shared by every row of one answer.
    let columns: [String]
    /// Values in text format; nil is SQL NULL.
    public let values: [String?]

    /// The value of column `name` as `type`; an optional type reads NULL as nil.
    public func decode<T: SQLDecodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let index = columns.firstIndex(of: name) else {
            throw RowDecodingError(column: name, problem: "the answer has no such column (it has \(columns.joined(separator: ", ")))")
        }
        do {
            return try T(sqlText: values[index])
        } catch {
            // Typed: the initializer throws only SQLDecodingFailure.
            throw RowDecodingError(column: name, problem: error.description)
        }
    }
}

extension Row {
    /// The value of column `name` as one of the cases of `type` (a role, a channel kind).
    public func decode<T: RawRepresentable>(_ name: String, as type: T.Type = T.self) throws -> T where T.RawValue == String {
        let text: String = try decode(name)
        guard let value = T(rawValue: text) else { throw RowDecodingError(column: name, problem: "\"\(text.prefix(40))\" is not a \(T.self)") }
        return value
    }

    /// As ``decode(_:as:)-(_,T.Type)``, NULL read as nil.
    public func decodeIfPresent<T: RawRepresentable>(_ name: String, as type: T.Type = T.self) throws -> T? where T.RawValue == String {
        try decode(name, as: String?.self) == nil ? nil : decode(name, as: T.self)
    }
}

/// A column of an answer that could not be read as the type asked for.
public struct RowDecodingError: Error, CustomStringConvertible, Sendable {
    public var column: String
    public var problem: String
    public var description: String { "column \(column): \(problem)" }
}

/// Why one value could not be decoded (``Row`` adds the column's name).
public struct SQLDecodingFailure: Error, CustomStringConvertible, Sendable {
    public var description: String

    static let null = SQLDecodingFailure(description: "is NULL where a value is needed")
    static func invalid(_ text: String, as type: String) -> SQLDecodingFailure {
        SQLDecodingFailure(description: "\"\(text.prefix(40))\" is not \(type)")
    }
}

/// A type a column's text-format value decodes into.
public protocol SQLDecodable {
    init(sqlText: String?) throws(SQLDecodingFailure)
}

extension SQLDecodable where Self: LosslessStringConvertible {
    static func parse(_ text: String?, as name: String) throws(SQLDecodingFailure) -> Self {
        guard let text else { throw .null }
        guard let value = Self(text) else { throw .invalid(text, as: name) }
        return value
    }
}

extension String: SQLDecodable {
    public init(sqlText: String?) throws(SQLDecodingFailure) {
        guard let sqlText else { throw .null }
        self = sqlText
    }
}

extension Int: SQLDecodable {
    public init(sqlText: String?) throws(SQLDecodingFailure) { self = try Self.parse(sqlText, as: "an integer") }
}

extension Int32: SQLDecodable {
    public init(sqlText: String?) throws(SQLDecodingFailure) { self = try Self.parse(sqlText, as: "an integer") }
}

extension UInt32: SQLDecodable {
    /// An `oid`.
    public init(sqlText: String?) throws(SQLDecodingFailure) { self = try Self.parse(sqlText, as: "an oid") }
}

extension Int64: SQLDecodable {
    public init(sqlText: String?) throws(SQLDecodingFailure) { self = try Self.parse(sqlText, as: "a bigint") }
}

extension Double: SQLDecodable {
    public init(sqlText: String?) throws(SQLDecodingFailure) { self = try Self.parse(sqlText, as: "a number") }
}

extension Bool: SQLDecodable {
    /// Postgres' text format: `t` or `f`.
    public init(sqlText: String?) throws(SQLDecodingFailure) {
        switch sqlText {
        case "t": self = true
        case "f": self = false
        case nil: throw .null
        case let text?: throw .invalid(text, as: "a boolean")
        }
    }
}

extension Optional: SQLDecodable where Wrapped: SQLDecodable {
    public init(sqlText: String?) throws(SQLDecodingFailure) {
        self = try sqlText.map { text throws(SQLDecodingFailure) in try Wrapped(sqlText: text) }
    }
}
