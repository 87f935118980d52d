import Foundation

/// Who may read which tables, and which rows: the `auth` section of the configuration.
///
/// ```yaml
/// access:                       # "<role>: <table>, <table>"   ("*" is every table)
///   - "authenticated: public.orders, public.items"
///   - "service_role: *"
/// scopes:                       # "<table>: <row filter>", {claim} taken from the token
///   - "public.orders: user_id=eq.{sub}"
/// ```
///
/// A scope is ANDed with whatever filter the client sends, so a client can narrow it but
/// never widen it.
public struct AccessPolicy: Equatable, Sendable {
    /// The token claim that names the role. Default `role` (as Supabase's tokens have it).
    public var roleClaim: String
    /// Tables each role may read; nil means every table.
    public var grants: [String: Set<TableName>?]
    /// Row scope templates per table.
    public var scopes: [TableName: String]
    /// Who may read and send on which named channels.
    public var channels = ChannelAccess()
    /// The token claim that names the user: a channel member, a message's sender, a presence.
    /// Default `sub`.
    public var userClaim = "sub"

    public init(roleClaim: String = "role", grants: [String: Set<TableName>?] = [:], scopes: [TableName: String] = [:]) {
        self.roleClaim = roleClaim
        self.grants = grants
        self.scopes = scopes
    }

    /// Parses the `access` and `scopes` lists; errors name the entry and what is wrong.
    public init(roleClaim: String, access: [String], scopes scopeEntries: [String]) throws {
        self.init(roleClaim: roleClaim)
        for entry in access {
            guard let colon = entry.firstIndex(of: ":") else {
                throw AccessPolicyError(description: "access entry '\(entry)' must be '<role>: <table>, <table>' or '<role>: *'")
            }
            let role = entry[..<colon].trimmingCharacters(in: .whitespaces)
            let list = entry[entry.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !role.isEmpty else { throw AccessPolicyError(description: "access entry '\(entry)' has no role before ':'") }
            if list == "*" {
                grants[role] = .some(nil)
                continue
            }
            var tables = Set<TableName>()
            for name in list.split(separator: ",") {
                do {
                    tables.insert(try TableName(parsing: name.trimmingCharacters(in: .whitespaces)))
                } catch {
                    throw AccessPolicyError(description: "access entry '\(entry)': \(error)")
                }
            }
            if case .some(.some(let existing)) = grants[role] { tables.formUnion(existing) }
            grants[role] = .some(tables)
        }
        for entry in scopeEntries {
            guard let colon = entry.firstIndex(of: ":") else {
                throw AccessPolicyError(description: "scope entry '\(entry)' must be '<table>: <row filter>'")
            }
            let table: TableName
            do {
                table = try TableName(parsing: entry[..<colon].trimmingCharacters(in: .whitespaces))
            } catch {
                throw AccessPolicyError(description: "scope entry '\(entry)': \(error)")
            }
            let template = entry[entry.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            // Check the filter's shape now rather than at the first request.
            do {
                _ = try Self.parseTemplate(template)
            } catch {
                throw AccessPolicyError(description: "scope entry '\(entry)': \(error)")
            }
            scopes[table] = template
        }
    }

    /// The user a token names (its ``userClaim``), or nil when it names none.
    public func user(in claims: JSONValue) -> String? {
        switch claims[userClaim] {
        case .string(let text)?: return text
        case .number(let digits)?: return digits
        default: return nil
        }
    }

    /// The role a token names, or nil.
    public func role(in claims: JSONValue) -> String? { claims[roleClaim]?.stringValue }

    /// The row filter a token's holder must see `table` through, or an error (403) saying why not.
    public func scope(for table: TableName, claims: JSONValue) throws -> RowFilter {
        guard let role = claims[roleClaim]?.stringValue else {
            throw AccessDenied(description: "the token has no \"\(roleClaim)\" claim naming a role")
        }
        guard let grant = grants[role] else {
            throw AccessDenied(description: "role '\(role)' may not read any table")
        }
        if let tables = grant, !tables.contains(table) {
            throw AccessDenied(description: "role '\(role)' may not read \(table)")
        }
        guard let template = scopes[table] else { return .all }
        let (filter, names): (RowFilter, [String])
        do {
            (filter, names) = try Self.parseTemplate(template)
        } catch {
            // The template is the operator's, not the client's: it is not echoed.
            throw AccessDenied(description: "the scope of \(table) cannot be applied; ask the operator to check auth.scopes")
        }
        var values: [String] = []
        for claim in names {
            switch claims[claim] {
            case .string(let s)?: values.append(s)
            case .number(let n)?: values.append(n)
            case .bool(let b)?: values.append(b ? "true" : "false")
            default: throw AccessDenied(description: "the token has no \"\(claim)\" claim, which the scope of \(table) needs")
            }
        }
        return filter.binding { text, pattern in
            // In a pattern, a claim is literal text: its % _ * and \ are escaped.
            Self.fill(text, pattern ? values.map(FilterOperator.escapeLike) : values)
        }
    }

    /// A `{claim}` stands for a value inside the parsed filter, never for filter text: the
    /// template is parsed with each placeholder as a marker, and claims replace the markers in
    /// the operands afterwards, so a claim holding `,` `)` or `&` is compared as text and cannot
    /// add a condition or widen an `or`.
    static func parseTemplate(_ template: String) throws -> (filter: RowFilter, claims: [String]) {
        var claims: [String] = []
        var text = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            text += rest[..<open]
            text += marker(claims.count)
            claims.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        let filter = try RowFilter(query: text + rest)
        var misplaced = false
        filter.visitColumns { if $0.contains(markerStart) { misplaced = true } }
        if misplaced { throw AccessPolicyError(description: "a {claim} may stand only for a value, not in a column name") }
        return (filter, claims)
    }

    private static let markerStart: Character = "\u{E000}"
    private static let markerEnd: Character = "\u{E001}"
    private static func marker(_ index: Int) -> String { "\(markerStart)\(index)\(markerEnd)" }

    /// `text` with each marker replaced by its claim's value.
    static func fill(_ text: String, _ values: [String]) -> String {
        guard text.contains(markerStart) else { return text }
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: markerStart), let close = rest[open...].firstIndex(of: markerEnd),
            let index = Int(rest[rest.index(after: open)..<close]), values.indices.contains(index)
        {
            out += rest[..<open]
            out += values[index]
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}

public struct AccessPolicyError: Error, Equatable, CustomStringConvertible {
    public var description: String
}

/// A token that may not read what it asked for (HTTP 403).
public struct AccessDenied: Error, Equatable, CustomStringConvertible {
    public var description: String
}
