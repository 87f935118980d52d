import Testing

@testable import PGRelayCore

/// `auto` notify mode's idle rule, step by step (the queries it asks for run in ListenerLoop).
@Suite struct AwakeLeaseTests {
    @Test func aReaderThatFindsChangesHoldsTheLeaseAndRenewsItLate() {
        var lease = AwakeLease(seconds: 2, renewBefore: 1)
        #expect(!lease.pollsBusy)
        #expect(lease.afterRound(foundChanges: false, now: 0) == .nothing)
        #expect(lease.afterRound(foundChanges: true, now: 1) == .renewLease)
        lease.renewed(now: 1.01)
        #expect(lease.phase == .awake(until: 3.01) && lease.pollsBusy)
        // Renewed only when less than renewBefore is left.
        #expect(lease.afterRound(foundChanges: true, now: 1.5) == .nothing)
        #expect(lease.afterRound(foundChanges: true, now: 2.2) == .renewLease)
    }

    @Test func itSleepsOnlyAfterTheLeasePassedAndItsWritersEnded() {
        var lease = AwakeLease(seconds: 2, renewBefore: 1)
        _ = lease.afterRound(foundChanges: true, now: 0)
        lease.renewed(now: 0)
        // Nothing found, but the lease still holds: writers may be relying on it.
        #expect(lease.afterRound(foundChanges: false, now: 1.9) == .nothing)
        #expect(lease.pollsBusy)
        #expect(lease.afterRound(foundChanges: false, now: 2) == .listWriters)
        #expect(lease.phase == .draining && lease.pollsBusy)
        lease.writers(pending: true)
        #expect(lease.afterRound(foundChanges: false, now: 2.1) == .checkWriters)
        lease.writers(pending: true)
        #expect(lease.afterRound(foundChanges: false, now: 60) == .checkWriters)
        #expect(lease.pollsBusy)
        lease.writers(pending: false)
        // One more read after the last writer ended, then asleep.
        #expect(lease.phase == .lastLook && lease.pollsBusy)
        #expect(lease.afterRound(foundChanges: false, now: 60.01) == .nothing)
        #expect(lease.phase == .asleep && !lease.pollsBusy)
    }

    @Test func changesWhileDrainingTakeTheLeaseAgain() {
        var lease = AwakeLease()
        _ = lease.afterRound(foundChanges: true, now: 0)
        lease.renewed(now: 0)
        #expect(lease.afterRound(foundChanges: false, now: 5) == .listWriters)
        lease.writers(pending: false)
        #expect(lease.afterRound(foundChanges: true, now: 5.01) == .renewLease)
        lease.renewed(now: 5.02)
        #expect(lease.phase == .awake(until: 7.02))
    }

    @Test func aReconnectDrainsAgainBeforeSleeping() {
        var lease = AwakeLease()
        lease.reconnected(now: 1)
        #expect(lease.phase == .asleep)
        _ = lease.afterRound(foundChanges: true, now: 0)
        lease.renewed(now: 0)
        _ = lease.afterRound(foundChanges: false, now: 3)
        #expect(lease.phase == .draining)
        lease.reconnected(now: 4)
        #expect(lease.phase == .awake(until: 4))
        #expect(lease.afterRound(foundChanges: false, now: 4) == .listWriters)
    }
}
