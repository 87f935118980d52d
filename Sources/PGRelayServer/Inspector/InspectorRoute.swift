import HTTPTypes
import Hummingbird
import NIOCore

/// The inspector page at `/`: a live table of changes for an operator, in one self-contained
/// page (``InspectorAssets``: hand-written HTML, CSS and script, served from the binary: no build
/// step, nothing fetched from elsewhere).
///
/// The page holds no data: what it shows it reads from the same endpoints as any client
/// (`/v1/tables`, `/v1/stream/...`, `/v1/position`), with the token typed into it, so with auth
/// on it sees exactly what that token may read. Its Content-Security-Policy allows scripts and
/// styles from this origin only, and no inline script: a hostile value in a row, should it ever
/// reach the DOM as markup, could not run. The page itself only ever sets `textContent`.
struct InspectorRoute {
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    func register(on router: Router<RelayRequestContext>) {
        router.get("/") { _, _ in Self.asset(InspectorAssets.html, type: "text/html; charset=utf-8") }
        router.get("/inspector.css") { _, _ in Self.asset(InspectorAssets.css, type: "text/css; charset=utf-8") }
        router.get("/inspector.js") { _, _ in Self.asset(InspectorAssets.script, type: "text/javascript; charset=utf-8") }
    }

    static func asset(_ text: String, type: String) -> Response {
        let headers: HTTPFields = [
            .contentType: type,
            .cacheControl: "no-cache",
            .contentSecurityPolicy: contentSecurityPolicy,
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            HTTPField.Name("Referrer-Policy")!: "no-referrer",
        ]
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
