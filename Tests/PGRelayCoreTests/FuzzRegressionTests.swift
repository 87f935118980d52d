import Foundation
import PGRelayCore
import Testing

/// Every input the fuzz targets found (fuzz/crashers/<target>/) and every seed (fuzz/seeds/<target>/)
/// goes through the same checks as under the fuzzer: a crash that was fixed stays fixed.
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz")

    static let checks: [(target: String, check: @Sendable ([UInt8]) -> Void)] = [
        ("filter", FuzzChecks.filter), ("json", FuzzChecks.json), ("change", FuzzChecks.change), ("websocket", FuzzChecks.webSocket),
    ]

    static func inputs(_ target: String) -> [URL] {
        ["seeds", "crashers"].flatMap { kind -> [URL] in
            let directory = root.appendingPathComponent(kind).appendingPathComponent(target)
            return ((try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? [])
                .filter { !$0.lastPathComponent.hasPrefix(".") }
        }
    }

    @Test(arguments: checks.map(\.target)) func foundInputsStillPass(target: String) throws {
        let files = Self.inputs(target)
        #expect(!files.isEmpty, "no seeds or crashers under \(Self.root.path) for \(target)")
        let check = Self.checks.first { $0.target == target }!.check
        for file in files { check(Array(try Data(contentsOf: file))) }
    }
}
