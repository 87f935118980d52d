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

/// The SQLSTATEs pgrelay tells apart, by their names in Postgres' errcodes table.
public enum SQLState {
    /// `22023`: pgrelay's SQL functions refuse a bad argument with it (a channel name, an event).
    public static let invalidParameterValue = "22023"
    /// `23505`: two `init`s at once created the same row.
    public static let uniqueViolation = "23505"
    /// `42P06`: two `init`s at once created the schema.
    public static let duplicateSchema = "42P06"
    /// `42P07`: two `init`s at once created the same table.
    public static let duplicateTable = "42P07"
    /// `42710`: an object of that name exists (a replication slot another `subscribe` made).
    public static let duplicateObject = "42710"
    /// `42501`: the role lacks a privilege.
    public static let insufficientPrivilege = "42501"
    /// `P0001`: a plpgsql `raise exception`.
    public static let raiseException = "P0001"
    /// `P0002`: a plpgsql `no_data_found`.
    public static let noDataFound = "P0002"
    /// A statement cancelled: by `statement_timeout`, among others.
    public static let queryCanceled = "57014"
    /// A session closed by `idle_in_transaction_session_timeout`.
    public static let idleInTransactionTimeout = "25P03"
}
