import HTTPTypes
import Hummingbird
import PGRelayCore
import PGRelayPostgres

/// A ``Refusal`` at the HTTP edge: its status, and the body Hummingbird gives every error,
/// `{"error": {"message": "..."}}` (Hummingbird's `HTTPResponseError` idiom: a route throws it).
extension Refusal: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch kind {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .tooLarge: .contentTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .tooMany: .tooManyRequests
        case .unavailable: .serviceUnavailable
        case .failed: .internalServerError
        }
    }

    public var headers: HTTPFields { [:] }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try HTTPError(status, message: message).response(from: request, context: context)
    }

    /// `429 Too Many Requests`: an HTTP status line, for answers written before any route runs.
    var statusLine: String { "\(status.code) \(status.reasonPhrase)" }
}

extension Refusal {
    /// A database that could not answer, as every client is told it: 503 and Postgres' words.
    init(database error: PostgresError) {
        self.init(.unavailable, "database: \(error.message)")
    }

    /// Whatever a client's request met, as the refusal it is told: a refusal as it is, a database
    /// failure as ``init(database:)``, a malformed channel name as a bad request, an error
    /// Hummingbird threw by its status; anything else is the relay's fault and says what it was.
    init(_ error: any Error) {
        switch error {
        case let refusal as Refusal:
            self = refusal
        case let postgres as PostgresError:
            self.init(database: postgres)
        case let channel as ChannelError:
            self.init(.badRequest, channel.description)
        case let http as HTTPError:
            self.init(Self.kind(of: http.status), http.body ?? http.status.reasonPhrase)
        default:
            self.init(.failed, "\(error)")
        }
    }

    private static func kind(of status: HTTPResponse.Status) -> Kind {
        switch status.code {
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 413: .tooLarge
        case 415: .unsupportedMediaType
        case 429: .tooMany
        case 503: .unavailable
        case 500...: .failed
        default: .badRequest
        }
    }
}
