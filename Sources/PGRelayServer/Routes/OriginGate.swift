import HTTPTypes
import Hummingbird
import PGRelayCore

/// Browsers' cross-origin requests, by ``AllowedOrigins``: a request whose `Origin` is the relay's
/// own or absent passes as it is; a configured origin gets CORS (preflight answers and
/// `Access-Control-Allow-Origin`, also on errors so that the page can read why) from Hummingbird's
/// `CORSMiddleware`; any other origin is refused with 403 before a route does any work, so that a
/// page the operator did not allow cannot even hold a stream open.
struct OriginGate<Context: RequestContext>: RouterMiddleware {
    let allowed: AllowedOrigins

    private let cors = CORSMiddleware<Context>(
        allowOrigin: .originBased,
        // What the API's own clients send: tokens in Authorization or Supabase's apikey header,
        // JSON bodies, SSE's Last-Event-ID, supabase-js' X-Client-Info; POST sends and broadcasts,
        // DELETE removes members.
        allowHeaders: [
            .accept, .authorization, .contentType, .lastEventID, HTTPField.Name("apikey")!, HTTPField.Name("x-api-key")!,
            HTTPField.Name("x-client-info")!,
        ],
        allowMethods: [.get, .head, .options, .post, .delete],
        maxAge: .seconds(600)
    )

    init(allowed: AllowedOrigins) { self.allowed = allowed }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        switch allowed.verdict(origin: origin, host: request.head.authority) {
        case .sameOrigin, .notAPage:
            return try await next(request, context)
        case .allowed:
            return try await cors.handle(request, context: context, next: next)
        case .refused:
            throw Refusal(.forbidden, AllowedOrigins.refusal(origin))
        }
    }
}
