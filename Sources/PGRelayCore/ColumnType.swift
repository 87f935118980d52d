/// How a filter compares a column's values: by the column's Postgres type, so that the relay's
/// answer is the one `SELECT ... WHERE` would give for the same row. Read from the catalog when a
/// stream starts (``init(postgresType:)`` takes the type's name, a domain's base type).
///
/// Text compares by Unicode code point, as Postgres does under the C collation; a database
/// collation's order (`en_US`, ICU) is not reproduced. Types not listed compare by their JSON
/// value (``json``), as before types were known.
public enum ColumnType: Sendable, Equatable {
    /// int2, int4, int8 (their bits): whole numbers in range; `1.5` is not one, as Postgres says.
    case integer(bits: Int)
    /// numeric, oid: exact decimal comparison at any precision or exponent.
    case exact
    /// float4: IEEE single precision; NaN equals NaN and is above every number, as in Postgres.
    case float4
    /// float8: IEEE double precision, same NaN rule.
    case float8
    /// timestamptz: instants, to the microsecond; an operand without a zone is UTC.
    case timestamptz
    /// timestamp: wall-clock times, to the microsecond; an operand's zone is ignored, as Postgres does.
    case timestamp
    /// date: days.
    case date
    /// text, varchar, name: code points.
    case text
    /// char(n): code points, trailing spaces insignificant.
    case paddedText
    /// citext: code points after lowercasing.
    case caseInsensitiveText
    /// uuid: the 128 bits, whatever the operand's case or hyphens.
    case uuid
    /// boolean.
    case bool
    /// Anything else: the JSON value's own kind (numbers numerically, strings as text, equality for structures).
    case json

    public init(postgresType name: String) {
        switch name {
        case "int2": self = .integer(bits: 16)
        case "int4": self = .integer(bits: 32)
        case "int8": self = .integer(bits: 64)
        case "numeric", "oid": self = .exact
        case "float4", "real": self = .float4
        case "float8", "double precision": self = .float8
        case "timestamptz": self = .timestamptz
        case "timestamp": self = .timestamp
        case "date": self = .date
        case "text", "varchar", "name": self = .text
        case "bpchar": self = .paddedText
        case "citext": self = .caseInsensitiveText
        case "uuid": self = .uuid
        case "bool": self = .bool
        default: self = .json
        }
    }
}
