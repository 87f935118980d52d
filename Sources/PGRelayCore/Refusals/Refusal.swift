/// Why pgrelay refused what a client asked, and what to do instead: the one error a domain
/// service (the token check, a channel's rules, a send, a subscription) throws to every
/// transport. Each transport maps it once: to an HTTP status and `{"error": {"message": ...}}`
/// (`Refusal+HTTP.swift`), to a native socket's `error` message and close code, to a Phoenix
/// reply's `reason`. The message is what the client reads: what was wrong and how to fix it.
///
/// ```swift
/// throw Refusal(.tooMany, "more than 10 messages in one second (limits.messages_per_second); send fewer")
/// ```
public struct Refusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of refusal: each is one HTTP status, one close code, wherever it is told.
    public enum Kind: Equatable, Sendable {
        /// The request is malformed or does not fit (400).
        case badRequest
        /// No token, or one that does not verify (401).
        case unauthorized
        /// The token's holder may not do this (403).
        case forbidden
        /// What was named does not exist or is not subscribed (404).
        case notFound
        /// More bytes than a limit allows (413).
        case tooLarge
        /// The body is not of a type this endpoint reads (415).
        case unsupportedMediaType
        /// More than a limit allows, in number or rate (429).
        case tooMany
        /// The database could not answer; trying again later may work (503).
        case unavailable
        /// The relay failed at something it should not have (500); the message says what.
        case failed
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
