/// An error from Postgres or libpq, with the message libpq gave, unchanged.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// Could not connect, or the connection was lost.
        public static let connection = Code(name: "connection")
        /// The server rejected a statement.
        public static let query = Code(name: "query")
        /// The `realtime` schema is missing: run `pgrelay init`.
        public static let notInitialized = Code(name: "notInitialized")
        /// A table pgrelay was asked about does not exist or is not subscribed.
        public static let unknownTable = Code(name: "unknownTable")
        /// The log returned something pgrelay cannot read.
        public static let invalidData = Code(name: "invalidData")
        public var description: String { name }
    }

    public var code: Code
    public var message: String
    /// The five-character SQLSTATE, when the server sent one (`42501` is "insufficient privilege").
    public var sqlState: String?

    public init(_ code: Code, _ message: String, sqlState: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
    }

    public var description: String { message }
}
