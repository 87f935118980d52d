import PGRelayPostgres

/// Tests read the answers of the SQL they write by position (`rows[0][0]`), as psql shows them;
/// pgrelay's own code reads columns by name (``Row/decode(_:as:)``).
extension Row {
    public subscript(position: Int) -> String? { values[position] }
}

extension Array where Element == Row {
    /// Every row's values, by position.
    public var texts: [[String?]] { map(\.values) }
}
