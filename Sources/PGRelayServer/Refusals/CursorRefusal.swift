import HTTPTypes
import Hummingbird
import NIOCore
import PGRelayCore
import PGRelayPostgres

/// A cursor no transport can serve, with what to resume from: older than what cleanup kept
/// (410, `oldest_id` and the `since` to resume with) or after the newest id the log has numbered
/// (409, `newest_id` and the `since` to resume with), or of a history the database lost (409,
/// the same members and the boundary's: `lost_after`, `resumes_after`, `history`, `reason`, and
/// `"reload": true`). Pages and SSE answer with the status and the body; a socket's `error`
/// carries the same members; an open SSE stream whose cursor a lost history took ends with
/// `event: reset` and this body.
enum CursorRefusal: Error, CustomStringConvertible {
    case gone(LogGone)
    case ahead(CursorAhead)
    case lost(HistoryLost)

    init?(_ error: any Error) {
        switch error {
        case let gone as LogGone: self = .gone(gone)
        case let ahead as CursorAhead: self = .ahead(ahead)
        case let lost as HistoryLost: self = .lost(lost)
        case let refusal as CursorRefusal: self = refusal
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .gone(let gone): gone.description
        case .ahead(let ahead): ahead.description
        case .lost(let lost): lost.description
        }
    }

    var status: HTTPResponse.Status {
        switch self {
        case .gone: .gone
        case .ahead, .lost: .conflict
        }
    }

    /// `{"error", "oldest_id", "since"}` or `{"error", "newest_id", "since"}`: `since` is where to resume.
    var body: JSONValue {
        switch self {
        case .gone(let gone):
            .object([
                ("error", .string(gone.description)), ("oldest_id", .number(String(gone.retainedAfter + 1))),
                ("since", .number(String(gone.retainedAfter))),
            ])
        case .ahead(let ahead):
            .object([("error", .string(ahead.description)), ("newest_id", .number(String(ahead.newest))), ("since", .number(String(ahead.newest)))])
        case .lost(let lost):
            .object(
                [("error", .string(lost.description)), ("newest_id", .number(String(lost.newest))), ("since", .number(String(lost.newest)))]
                    + lost.boundary.jsonMembers + [("reload", .bool(true))])
        }
    }

    var response: Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body.jsonText)))
    }
}
