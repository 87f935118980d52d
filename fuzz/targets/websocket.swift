// libFuzzer entry point for FuzzChecks.webSocket; built by fuzz/run together with PGRelayCore's sources.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzChecks.webSocket(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
