/// A page's URL (path and query, relative to the relay), with its `since` or `history` set: the
/// `next` of a page and the target of a redirect to the page's history. Every other parameter
/// stays as the client wrote it (in its order, encoded as it was), so that clients following
/// `next` from the same start ask for the same URLs and a cache stores each page once.
struct PageLocation {
    let path: String
    let query: String?

    func with(since: Int64? = nil, history: String) -> String {
        var parts = (query ?? "").split(separator: "&", omittingEmptySubsequences: true).map(String.init)
        parts.removeAll { part in
            let name = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            return name == "history" || (since != nil && name == "since")
        }
        if let since { parts.append("since=\(since)") }
        parts.append("history=\(history)")
        return path + "?" + parts.joined(separator: "&")
    }
}
