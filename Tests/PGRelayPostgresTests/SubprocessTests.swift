import Foundation
import PGRelayPostgres
import Testing

@Suite struct SubprocessTests {
    /// A child inherits only stdin, stdout and stderr: a socket of ours left open in it would keep
    /// the connection from ending when we close it (NIO accepts without close-on-exec).
    @Test func aChildInheritsNoDescriptorButTheStandardThree() throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(socketFD > 2)
        defer { close(socketFD) }
        let output = try Subprocess.run("/bin/sh", ["-c", "ls /proc/$$/fd"])
        let inherited = output.stdout.split(whereSeparator: \.isNewline).compactMap { Int32($0) }
        #expect(output.status == 0)
        #expect(!inherited.contains(socketFD), "the child holds our socket \(socketFD): \(inherited)")
        #expect(inherited.filter { $0 > 2 }.count <= 1, "only the shell's own may be open beyond 0-2: \(inherited)")
    }
}
