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
    /// The `alg` a token's header must name: by `kid` for JWKS keys; nil kid for tokens without one.
    let algorithms: [String?: Set<String>]
    let audience: String?
    let issuer: String?

    /// What `serve` was configured with.
    public struct Configuration: Sendable {
        /// HS256 shared secret.
        public var jwtSecret: String?
        /// The text of a JWKS document with RS256/ES256 public keys.
        public var jwks: String?
        public var policy: AccessPolicy
        /// When set, a token's `aud` (a string, or an array of them) must contain it.
        public var audience: String?
        /// When set, a token's `iss` must equal it.
        public var issuer: String?

        public init(
            jwtSecret: String? = nil, jwks: String? = nil, policy: AccessPolicy = AccessPolicy(), audience: String? = nil, issuer: String? = nil
        ) {
            self.jwtSecret = jwtSecret
            self.jwks = jwks
            self.policy = policy
            self.audience = audience
            self.issuer = issuer
        }

        /// True when some key is configured, i.e. tokens are required.
        public var isEnabled: Bool { !(jwtSecret ?? "").isEmpty || !(jwks ?? "").isEmpty }
    }

    /// Nil when no key is configured: then nothing is checked.
    public static func make(_ configuration: Configuration) async throws -> Authenticator? {
        guard configuration.isEnabled else { return nil }
        let keys = JWTKeyCollection()
        var algorithms: [String?: Set<String>] = [:]
        if let secret = configuration.jwtSecret, !secret.isEmpty {
            algorithms[nil, default: []].insert("HS256")
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
            if case .array(let list)? = (try? JSONValue(parsing: jwks))?["keys"] {
                for key in list {
                    let alg = key["alg"]?.stringValue ?? (key["kty"]?.stringValue == "RSA" ? "RS256" : "ES256")
                    algorithms[key["kid"]?.stringValue, default: []].insert(alg)
                    // jwt-kit verifies a token without a kid with its default key, the first one added.
                    if key["kid"] == nil || algorithms[nil] == nil { algorithms[nil, default: []].insert(alg) }
                }
            }
        }
        return Authenticator(
            keys: keys, policy: configuration.policy, algorithms: algorithms, audience: configuration.audience, issuer: configuration.issuer)
    }

    init(keys: JWTKeyCollection, policy: AccessPolicy, algorithms: [String?: Set<String>], audience: String?, issuer: String?) {
        self.keys = keys
        self.policy = policy
        self.algorithms = algorithms
        self.audience = audience
        self.issuer = issuer
    }

    /// The token's header, checked before its signature: its `alg` must be the algorithm of the
    /// key that verifies it (no `none`, no HS256 token verified with an RSA key's bytes, no
    /// algorithm the configuration did not name).
    func checkHeader(_ token: String) throws {
        guard let segment = token.split(separator: ".", omittingEmptySubsequences: false).first,
            let data = Self.base64URLDecoded(String(segment)),
            let header = try? JSONValue(parsing: String(decoding: data, as: UTF8.self)),
            let alg = header["alg"]?.stringValue
        else {
            throw Refusal(.unauthorized, "invalid token: not a well-formed JWT (its header names no alg)")
        }
        let kid = header["kid"]?.stringValue
        let allowed = algorithms[kid] ?? (kid == nil ? [] : algorithms[nil] ?? [])
        guard allowed.contains(alg) else {
            let expected = allowed.isEmpty ? "no key this server knows" : allowed.sorted().joined(separator: " or ")
            throw Refusal(.unauthorized, "invalid token: its header says alg \(alg), but its key takes \(expected)")
        }
    }

    static func base64URLDecoded(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }

    /// `aud` and `iss`, when the configuration asks for them.
    func checkAudienceAndIssuer(_ claims: JSONValue) throws {
        if let audience {
            let audiences: [String]
            switch claims["aud"] {
            case .string(let single)?: audiences = [single]
            case .array(let list)?: audiences = list.compactMap(\.stringValue)
            default: audiences = []
            }
            guard audiences.contains(audience) else {
                throw Refusal(.unauthorized, "invalid token: its audience (aud) is not \(audience)")
            }
        }
        if let issuer, claims["iss"]?.stringValue != issuer {
            throw Refusal(.unauthorized, "invalid token: its issuer (iss) is not \(issuer)")
        }
    }

    /// The verified claims of a token; 401 with the reason when it is missing, bad or expired.
    public func claims(token: String?) async throws -> JSONValue {
        guard let token, !token.isEmpty else {
            throw Refusal(.unauthorized, "a token is required: send Authorization: Bearer <jwt>, or ?access_token=<jwt>")
        }
        try checkHeader(token)
        let claims: JSONValue
        do {
            claims = try await keys.verify(token, as: TokenClaims.self).json
        } catch let error as TimeClaimError {
            throw Refusal(.unauthorized, "invalid token: \(error.description)")
        } catch let error as JWTError {
            throw Refusal(.unauthorized, "invalid token: \(Self.reason(error))")
        } catch {
            // A decoder's own words carry type names and addresses: the client is told what is wrong, no more.
            throw Refusal(.unauthorized, "invalid token: not a well-formed JWT (three base64url parts: a JSON header, JSON claims, a signature)")
        }
        try checkAudienceAndIssuer(claims)
        return claims
    }

    /// When a token's claims stop being valid (`exp`), for closing streams that outlive it.
    public static func expiry(of claims: JSONValue?) -> Date? {
        guard case .number(let exp)? = claims?["exp"], let seconds = Double(exp) else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    /// The row scope for `table` under these claims; 403 when the token may not read it.
    public func scope(for table: TableName, claims: JSONValue) throws -> RowFilter {
        do {
            return try policy.scope(for: table, claims: claims)
        } catch let denied as AccessDenied {
            throw Refusal(.forbidden, denied.description)
        }
    }

    static func reason(_ error: JWTError) -> String {
        switch error.errorType {
        case .claimVerificationFailure: return "expired or not yet valid (\(error.reason ?? "claim check failed"))"
        case .signatureVerificationFailed: return "signature does not verify"
        case .malformedToken: return "not a well-formed JWT"
        case .noKeyProvided, .unknownKID: return "signed with a key this server does not know"
        default: return "not a well-formed or verifiable JWT"
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

    /// `exp` and `nbf` are NumericDates (RFC 7519 §2): any other type (a string, even one that
    /// reads as a number) is refused rather than ignored.
    func verify(using algorithm: some JWTAlgorithm) async throws {
        for name in ["exp", "nbf"] {
            guard let value = json[name] else { continue }
            guard case .number(let text) = value, let seconds = Double(text), seconds.isFinite else {
                throw TimeClaimError(description: "\(name) must be a number of seconds since 1970 (a NumericDate), not a \(value.typeName)")
            }
            if name == "exp" {
                try ExpirationClaim(value: Date(timeIntervalSince1970: seconds)).verifyNotExpired()
            } else {
                try NotBeforeClaim(value: Date(timeIntervalSince1970: seconds)).verifyNotBefore()
            }
        }
    }
}

struct TimeClaimError: Error, CustomStringConvertible {
    var description: String
}
