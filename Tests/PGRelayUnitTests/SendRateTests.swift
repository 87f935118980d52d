import Foundation
import Testing

@testable import PGRelayServer

@Suite struct SendRateTests {
    @Test func eachSenderGetsItsShareOfEachSecond() {
        let rate = SendRate(perSecond: 3)
        let second = Date(timeIntervalSince1970: 1_800_000_000)
        let answers = (0..<5).map { _ in rate.admit("a", now: second) }
        #expect(answers == [true, true, true, false, false])
        #expect(rate.admit("b", now: second), "another sender has its own share")
        #expect(rate.admit("a", now: second.addingTimeInterval(0.999)) == false)
        #expect(rate.admit("a", now: second.addingTimeInterval(1)), "a new second, a new share")
    }
}
