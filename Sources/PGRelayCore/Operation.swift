import Foundation

/// The kind of a change: a row change, or a change to the table's shape.
public enum Operation: String, CaseIterable, Sendable, Codable, Comparable {
    case insert = "INSERT"
    case update = "UPDATE"
    case delete = "DELETE"
    case truncate = "TRUNCATE"
    /// The table's columns, name or existence changed (`old` and `new` are its shape before and
    /// after, `new` null when it was dropped): not a row change, never captured by a trigger of
    /// its own, and delivered to every stream of the table whatever its events and filter.
    case schema = "SCHEMA"

    /// The row operations: what a subscription captures and a client's `events` names.
    public static let allCases: [Operation] = [.insert, .update, .delete, .truncate]

    public static func < (lhs: Operation, rhs: Operation) -> Bool {
        let order: [Operation] = allCases + [.schema]
        return order.firstIndex(of: lhs)! < order.firstIndex(of: rhs)!
    }
}

/// The set of operations a subscription captures, as typed on the command line: `INSERT,UPDATE`.
public struct EventSet: Hashable, Sendable, CustomStringConvertible {
    public var operations: Set<Operation>

    /// Every operation, TRUNCATE included: what `pgrelay subscribe` captures unless told otherwise
    /// (a live query's client must hear of a TRUNCATE to empty its rows).
    public static let `default` = EventSet(operations: [.insert, .update, .delete, .truncate])

    public init(operations: Set<Operation>) { self.operations = operations }

    /// Parses a comma-separated list, case-insensitive; `*` or `ALL` means every operation.
    public init(parsing text: String) throws {
        var ops = Set<Operation>()
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let word = raw.trimmingCharacters(in: .whitespaces).uppercased()
            if word == "*" || word == "ALL" {
                ops.formUnion(Operation.allCases)
            } else if let op = Operation(rawValue: word) {
                ops.insert(op)
            } else {
                if word.isEmpty {
                    let why =
                        text.trimmingCharacters(in: .whitespaces).isEmpty ? "is empty" : "has an empty name (two commas in a row, or one at an end)"
                    throw EventSetError(description: "the event list '\(text)' \(why); use INSERT, UPDATE, DELETE or TRUNCATE, separated by commas")
                }
                throw EventSetError(
                    description:
                        "unknown event '\(raw.trimmingCharacters(in: .whitespaces))'; use INSERT, UPDATE, DELETE or TRUNCATE, separated by commas")
            }
        }
        guard !ops.isEmpty else { throw EventSetError(description: "no events given; use INSERT, UPDATE, DELETE or TRUNCATE") }
        self.operations = ops
    }

    /// In canonical order: `INSERT,UPDATE,DELETE`.
    public var sorted: [Operation] { operations.sorted() }
    public var description: String { sorted.map(\.rawValue).joined(separator: ",") }
}

public struct EventSetError: Error, Equatable, CustomStringConvertible {
    public var description: String
}
