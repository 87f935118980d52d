import Foundation
import PGRelayCore
import Synchronization

/// A socket's token: its claims and when they expire. A fresh token sent on the socket replaces
/// it (each protocol says whose token may replace whose); at its exp the socket's session acts.
final class SocketToken: Sendable {
    private let state: Mutex<JSONValue?>

    init(_ claims: JSONValue?) { state = Mutex(claims) }

    var claims: JSONValue? { state.withLock { $0 } }

    var expiry: Date? { Authenticator.expiry(of: claims) }

    func replace(_ claims: JSONValue) { state.withLock { $0 = claims } }
}
