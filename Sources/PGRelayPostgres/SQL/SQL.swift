import Foundation
import PGRelayCore

/// One statement and its parameters, built by string interpolation: every interpolated value
/// becomes a bound parameter (`$1`, `$2`, ...), never text in the statement, as postgres-nio's
/// `PostgresQuery` does.
///
/// ```swift
/// let rows = try connection.query("select id from realtime.ticks where tick > \(tick) and channel = any(\(array: channels))")
/// ```
///
/// Trusted fragments (a name quoted by ``SQLQuoting``, a constant) go in with
/// `\(unescaped:)`; nothing a client sent may.
public struct SQL: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var text: String
    /// Parameters in text format; nil is SQL NULL.
    public private(set) var parameters: [String?]

    public init(stringLiteral value: String) {
        text = value
        parameters = []
    }

    public init(stringInterpolation: StringInterpolation) {
        text = stringInterpolation.text
        parameters = stringInterpolation.parameters
    }

    /// A statement assembled from pgrelay's own constant fragments that number their parameters
    /// themselves (`$1`, `$2`): `parameters` in that order. Prefer interpolation.
    public init(numbered text: String, _ parameters: [(any SQLParameter)?]) {
        self.text = text
        self.parameters = parameters.map { $0?.sqlText }
    }

    /// The statement, for messages: the parameters are not shown (they may be secrets or rows).
    public var description: String { text }

    public struct StringInterpolation: StringInterpolationProtocol {
        var text = ""
        var parameters: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            text.reserveCapacity(literalCapacity + 3 * interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) { text += literal }

        /// A value as a bound parameter.
        public mutating func appendInterpolation(_ value: some SQLParameter) { bind(value.sqlText) }

        /// A value or NULL as a bound parameter.
        public mutating func appendInterpolation(_ value: (some SQLParameter)?) { bind(value?.sqlText) }

        /// A `text[]` parameter (nil is NULL): the one place array literals are built.
        public mutating func appendInterpolation(array values: [String]?) { bind(values.map(SQL.textArray)) }
        /// A `text[]` parameter whose elements may be NULL.
        public mutating func appendInterpolation(array values: [String?]) { bind(SQL.textArray(values)) }

        /// Trusted SQL text, as is: a name quoted by ``SQLQuoting``, a constant of pgrelay's own.
        public mutating func appendInterpolation(unescaped fragment: String) { text += fragment }

        private mutating func bind(_ value: String?) {
            parameters.append(value)
            text += "$\(parameters.count)"
        }
    }

    /// A Postgres text[] literal: `{"a","b"}`, each element quoted and escaped.
    static func textArray(_ values: [String]) -> String { textArray(values.map { Optional($0) }) }

    /// A Postgres text[] literal with NULL elements.
    static func textArray(_ values: [String?]) -> String {
        let elements = values.map { value in
            value.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" } ?? "NULL"
        }
        return "{" + elements.joined(separator: ",") + "}"
    }
}

/// A value that can be a query parameter, in Postgres' text format.
public protocol SQLParameter {
    var sqlText: String { get }
}

extension String: SQLParameter { public var sqlText: String { self } }
extension Int: SQLParameter { public var sqlText: String { String(self) } }
extension Int32: SQLParameter { public var sqlText: String { String(self) } }
extension Int64: SQLParameter { public var sqlText: String { String(self) } }
extension UInt32: SQLParameter { public var sqlText: String { String(self) } }
extension Double: SQLParameter { public var sqlText: String { String(self) } }
extension Bool: SQLParameter { public var sqlText: String { self ? "true" : "false" } }
extension JSONValue: SQLParameter { public var sqlText: String { jsonText } }
