import AsyncHTTPClient
import Foundation
import NIOCore
import PGRelayCore

/// `pgrelay replay --url`: one table's changes from a relay over HTTP, as any client reads them:
/// `/v1/changes` pages from the start (pages below the newest change are immutable, so a cache or
/// CDN in front of the relays answers them), then, with `--follow`, the live SSE stream from the
/// last page's `next_since`. Nothing is missed or printed twice: each step starts after the last
/// id the one before covered, and a dropped stream resumes from the last id it printed.
struct RelayReplay {
    /// The relay's base URL, without a trailing slash.
    let base: String
    let table: TableName
    /// Sent as `Authorization: Bearer`; never printed.
    let token: String?
    let json: Bool
    let limit: Int?

    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    /// Prints the changes after the start; returns how many it printed and the id to continue after.
    func catchUp(from start: ReplayStart) async throws -> (printed: Int, next: Int64) {
        var since: Int64
        switch start {
        case .afterID(let id): since = id
        case .at(let date): since = try await position(at: date)
        }
        var printed = 0
        // The history the pages are read in, from the first page on: complete pages are served
        // (and cached) at URLs that name it, and a page of another history is a redirect.
        var history: String?
        while true {
            let pageSize = min(1000, (limit ?? Int.max) - printed)
            if pageSize <= 0 { break }
            let body = try await get(
                "/v1/changes/\(Self.pathComponent(table.description))?since=\(since)&limit=\(pageSize)" + (history.map { "&history=\($0)" } ?? ""),
                accept: "application/json")
            let page = try JSONValue(parsing: body)
            guard let changes = page["changes"]?.arrayValue, let next = page["next_since"]?.jsonText, let nextID = Int64(next) else {
                throw Refused(description: "the relay's page is not a /v1/changes page: \(body.prefix(200))")
            }
            for change in changes { try print(ChangeEvent(jsonText: change.jsonText)) }
            printed += changes.count
            since = nextID
            history = page["history"]?.stringValue
            if page["has_more"] != .bool(true) { break }
        }
        return (printed, since)
    }

    /// Streams live after `since` until the process is stopped, reconnecting from the last id printed.
    func follow(after since: Int64) async throws -> Never {
        var cursor = since
        var delay = 0.5
        while true {
            do {
                var request = HTTPClientRequest(url: base + "/v1/stream/\(Self.pathComponent(table.description))?since=\(cursor)")
                request.headers.add(name: "Accept", value: "text/event-stream")
                if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
                let response = try await HTTPClient.shared.execute(request, timeout: .hours(24 * 365))
                guard response.status == .ok else { throw Refused(description: try await Self.failure(response)) }
                delay = 0.5
                var lines = SSELines()
                for try await buffer in response.body {
                    for event in lines.feed(String(buffer: buffer)) {
                        if event.name == "error" { throw Refused(description: "the relay ended the stream: \(event.data)") }
                        if event.name == "reset" {
                            throw Refused(description: "the database lost changes printed here (a failover or a restore): \(event.data)")
                        }
                        guard let id = event.id, let change = try? ChangeEvent(jsonText: event.data), id > cursor else { continue }
                        print(change)
                        cursor = id
                    }
                }
                note("the relay closed the stream; resuming after \(cursor)")
            } catch let refused as Refused {
                throw refused
            } catch {
                note("the stream failed (\(error)); resuming after \(cursor) in \(delay) s")
            }
            try await Task.sleep(for: .seconds(delay))
            delay = min(delay * 2, 10)
        }
    }

    private func print(_ change: ChangeEvent) {
        emit(json ? change.canonicalJSONText : change.readableText + "\n")
    }

    /// The id to replay after for changes committed at or after `date`, as the relay finds it.
    private func position(at date: Date) async throws -> Int64 {
        let at = String(format: "@%.6f", date.timeIntervalSince1970)
        let body = try await get("/v1/position?at=\(Self.pathComponent(at))", accept: "application/json")
        guard let since = try JSONValue(parsing: body)["since"]?.jsonText, let id = Int64(since) else {
            throw Refused(description: "the relay's /v1/position answered no id: \(body.prefix(200))")
        }
        return id
    }

    private func get(_ path: String, accept: String) async throws -> String {
        var request = HTTPClientRequest(url: base + path)
        request.headers.add(name: "Accept", value: accept)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        guard response.status == .ok else { throw Refused(description: try await Self.failure(response)) }
        return String(buffer: try await response.body.collect(upTo: 256 << 20))
    }

    /// "the relay answered 401: ..." with the server's own message.
    static func failure(_ response: HTTPClientResponse) async throws -> String {
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        var message = text
        if let body = try? JSONValue(parsing: text) {
            message = body["error"]?["message"]?.stringValue ?? body["error"]?.stringValue ?? text
        }
        return "the relay answered \(response.status.code): \(message)"
    }

    static func pathComponent(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
