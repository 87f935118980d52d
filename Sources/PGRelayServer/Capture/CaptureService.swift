import PGRelayPostgres
import ServiceLifecycle

/// Runs the relay's ``WALCapturer`` (on its own thread) for as long as the relay runs: it idles
/// while no table is captured from the WAL, and stands by while another relay captures.
struct CaptureService: Service {
    let capturer: WALCapturer

    func run() async throws {
        let stop = StopFlag()
        capturer.start(stop: stop)
        try? await gracefulShutdown()
        stop.set()
    }
}
