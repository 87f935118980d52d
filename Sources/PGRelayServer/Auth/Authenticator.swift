import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import PGRelayCore

/// Verifies bearer tokens (JWT: HS256 with a shared secret, or RS256/ES256 with keys from a
/// JWKS file) and applies the access policy: which tables a role may read, and the row scope.
public final class Authenticator: Sendable {
    let keys: JWTKeyCollection
    let policy: AccessPolicy

    /// What `serve` was configured with.
    public struct Configuration: Sendable {
        /// HS256 shared secret.
        public var jwtSecret: String?
        /// The text of a JWKS document with RS256/ES256 public keys.
        public var jwks: String?
        public var policy: AccessPolicy

        public init(jwtSecret: String? = nil, jwks: String? = nil, policy: AccessPolicy = AccessPolicy()) {
            self.jwtSecret = jwtSecret
            self.jwks = jwks
            self.policy = policy
        }

        /// True when some key is configured, i.e. tokens are required.
        public var isEnabled: Bool { !(jwtSecret ?? "").isEmpty || !(jwks ?? "").isEmpty }
    }

    /// Nil when no key is configured: then nothing is checked.
    public static func make(_ configuration: Configuration) async throws -> Authenticator? {
        guard configuration.isEnabled else { return nil }
        let keys = JWTKeyCollection()
        if let secret = configuration.jwtSecret, !secret.isEmpty {
            // HS256 keys shorter than the hash are weak (RFC 7518 §3.2), and jwt-kit asserts on them.
            guard secret.utf8.count >= 32 else {
                throw ServeConfigurationError(description: "auth.jwt_secret must be at least 32 bytes for HS256 (it has \(secret.utf8.count))")
            }
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        }
        if let jwks = configuration.jwks, !jwks.isEmpty {
            do {
                try await keys.add(jwksJSON: jwks)
            } catch {
                throw ServeConfigurationError(description: "auth.jwks_file is not a usable JWKS document: \(error)")
            }
        }
        return Authenticator(keys: keys, policy: configuration.policy)
    }

    init(keys: JWTKeyCollection, policy: AccessPolicy) {
        self.keys = keys
        self.policy = policy
    }

    /// The verified claims of a token; 401 with the reason when it is missing, bad or expired.
    public func claims(token: String?) async throws -> JSONValue {
        guard let token, !token.isEmpty else {
            throw HTTPError(.unauthorized, message: "a token is required: send Authorization: Bearer <jwt>, or ?access_token=<jwt>")
        }
        do {
            return try await keys.verify(token, as: TokenClaims.self).json
        } catch let error as JWTError {
            throw HTTPError(.unauthorized, message: "invalid token: \(Self.reason(error))")
        } catch {
            throw HTTPError(.unauthorized, message: "invalid token: \(error)")
        }
    }

    /// The row scope for `table` under these claims; 403 when the token may not read it.
    public func scope(for table: TableName, claims: JSONValue) throws -> RowFilter {
        do {
            return try policy.scope(for: table, claims: claims)
        } catch let denied as AccessDenied {
            throw HTTPError(.forbidden, message: denied.description)
        }
    }

    static func reason(_ error: JWTError) -> String {
        switch error.errorType {
        case .claimVerificationFailure: return "expired or not yet valid (\(error.reason ?? "claim check failed"))"
        case .signatureVerificationFailed: return "signature does not verify"
        case .malformedToken: return "not a well-formed JWT"
        case .noKeyProvided, .unknownKID: return "signed with a key this server does not know"
        default: return error.reason ?? "\(error.errorType)"
        }
    }

    /// The token a request carries: `Authorization: Bearer`, else the `access_token` query parameter.
    static func token(in request: Request, query: StreamRequest?) -> String? {
        if let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") {
            return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        return query?.accessToken
    }
}

/// Any JWT payload, kept as JSON for the policy's claims; `exp` and `nbf` are checked.
struct TokenClaims: JWTPayload {
    var json: JSONValue

    init(json: JSONValue) { self.json = json }

    init(from decoder: Decoder) throws { json = try JSONValue(from: decoder) }

    func encode(to encoder: Encoder) throws { try json.encode(to: encoder) }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        if case .number(let exp)? = json["exp"], let seconds = Double(exp) {
            try ExpirationClaim(value: Date(timeIntervalSince1970: seconds)).verifyNotExpired()
        }
        if case .number(let nbf)? = json["nbf"], let seconds = Double(nbf) {
            try NotBeforeClaim(value: Date(timeIntervalSince1970: seconds)).verifyNotBefore()
        }
    }
}
