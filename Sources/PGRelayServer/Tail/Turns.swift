/// Lets other tasks run during a long loop on the cooperative pool (one thread per core, shared
/// by every socket): after every ~2 ms of work, one `Task.yield()`. Encoding a page of 1,000
/// changes, or filtering it for one subscriber, otherwise held a thread for as long as it took,
/// and every other socket's replies waited behind it.
struct Turns {
    /// How many steps pass between looks at the clock: 1 when each step is long (encoding rows
    /// that may be large), more when steps are short and reading the clock would cost.
    let checkEvery: Int
    private var steps = 0
    private var since = ContinuousClock.now

    init(checkEvery: Int = 1) { self.checkEvery = checkEvery }

    /// Counts one step of work; yields when ~2 ms passed since the last turn.
    mutating func step() async {
        steps += 1
        guard steps % checkEvery == 0, ContinuousClock.now - since > .milliseconds(2) else { return }
        await Task.yield()
        since = ContinuousClock.now
    }
}
