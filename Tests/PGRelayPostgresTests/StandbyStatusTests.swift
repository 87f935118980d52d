import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// `pgrelay status` on a primary shows its standbys and how far behind they replay.
@Suite struct StandbyStatusTests {
    /// Blocking throughout (clusters, the CLI), so on a worker thread, not the cooperative pool.
    @Test func statusListsTheStandbysAndTheirLag() async throws {
        try await StandbyPair.with { pair in try await Workers.value { try Self.check(pair) } }
    }

    static func check(_ pair: StandbyPair) throws {

        // Streaming once the standby's WAL receiver has connected.
        let deadline = Date().addingTimeInterval(60)
        var standbys: [JSONValue] = []
        while Date() < deadline {
            let output = try BuiltExecutable.run(["status", "--json"], database: pair.primaryConninfo)
            standbys = try JSONValue(parsing: output.stdout)["standbys"]?.arrayValue ?? []
            if standbys.first?["state"] == .string("streaming") { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(standbys.count == 1)
        #expect(standbys.first?["state"] == .string("streaming"), "\(standbys)")
        #expect(standbys.first?["name"] == .string("walreceiver"), "\(standbys)")
        #expect((standbys.first?["replay_behind_bytes"]?.jsonText).flatMap { Int64($0) } != nil, "\(standbys)")
        let text = try BuiltExecutable.run(["status"], database: pair.primaryConninfo).stdout
        #expect(text.contains("STANDBY") && text.contains("walreceiver") && text.contains("streaming"), "\(text)")
        // On the standby itself it reads what the standby has replayed, and lists no standbys.
        let standbyOutput = try BuiltExecutable.run(["status", "--json"], database: pair.standbyConninfo)
        #expect(!standbyOutput.stdout.isEmpty, "\(standbyOutput)")
        let onStandby = try JSONValue(parsing: standbyOutput.stdout.isEmpty ? "null" : standbyOutput.stdout)
        #expect(onStandby["standbys"]?.arrayValue?.isEmpty == true && onStandby["schema_version"] != nil, "\(onStandby)")
    }
}
