public import BatchGateCore
import Synchronization

#if canImport(Dispatch)
import Dispatch
#endif

/// One fuzz entry point: a name (the corpus folder under `Fuzz/corpus/`) and the code the gateway runs on
/// untrusted bytes of one kind.
///
/// `run` must return normally for every input: a thrown and caught error is the expected answer to bad
/// input, while a trap (overflow, invalid range, force unwrap, failed invariant) is a bug the fuzzer reports.
public struct FuzzEntry: Sendable {
    /// The entry's name, e.g. `airops`; also its corpus folder name.
    public let name: String
    /// What the entry feeds the bytes through, one line.
    public let summary: String
    /// The steps the entry runs, each a decoder the gateway applies to such bytes.
    public let steps: [String]
    /// Runs the gateway's code on one input; returns the steps that accepted it (decoded without error).
    public let run: @Sendable ([UInt8]) async -> Set<String>

    /// Makes an entry.
    public init(name: String, summary: String, steps: [String], run: @escaping @Sendable ([UInt8]) async -> Set<String>) {
        self.name = name
        self.summary = summary
        self.steps = steps
        self.run = run
    }
}

/// The entry points that need only the decoding modules (core, config, providers).
public enum FuzzEntries {
    /// The entries of this module, in `list` order.
    public static let decoders: [FuzzEntry] = [
        AirOpsFuzz.entry, AitronosFuzz.entry, TaggerFuzz.entry, ConfigFuzz.entry,
    ]
}

/// Runs an entry from synchronous code (libFuzzer's callback runs on the process's main thread).
public enum FuzzRuntime {
    /// Runs `entry` on `input`, waits for it and returns the steps that accepted the input. Call only
    /// from a thread outside Swift's cooperative pool (the task it waits for runs on that pool).
    @discardableResult
    public static func runBlocking(_ entry: FuzzEntry, _ input: [UInt8]) -> Set<String> {
        let accepted = Mutex<Set<String>>([])
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            let steps = await entry.run(input)
            accepted.withLock { $0 = steps }
            done.signal()
        }
        done.wait()
        return accepted.withLock { $0 }
    }
}

/// Checks of CONTRACT §1 rules on what the gateway built from an input. A violation traps with a
/// message naming the rule, so the fuzzer reports it like a crash.
public enum FuzzInvariant {
    /// Traps with `rule` unless `condition` holds.
    public static func require(_ condition: Bool, _ rule: @autoclosure () -> String) {
        if !condition { fatalError("BatchGate invariant violated: \(rule())") }
    }

    /// A job state's progress: counters non-negative, `pending = total − succeeded − failed`, percent
    /// 0–100 and 100 exactly when terminal.
    public static func check(_ state: JobState) {
        let progress = state.progress
        require(
            progress.total >= 0 && progress.succeeded >= 0 && progress.failed >= 0 && progress.pending >= 0,
            "progress counters are non-negative (\(progress))"
        )
        let (done, overflowA) = progress.succeeded.addingReportingOverflow(progress.failed)
        let (all, overflowB) = done.addingReportingOverflow(progress.pending)
        require(!overflowA && !overflowB && all == progress.total, "pending = total − succeeded − failed (\(progress))")
        require((0...100).contains(progress.percent), "percent is within 0–100 (\(progress.percent))")
        require(
            state.lifecycle.isTerminal == (progress.percent == 100),
            "percent is 100 exactly when terminal (\(state.lifecycle), \(progress.percent))"
        )
    }

    /// Per-item results of a batch of `count` items: one per item, in input order.
    public static func check(_ results: [ItemResult], count: Int) {
        require(results.count == count, "one result per input item (\(results.count) for \(count))")
        for (position, result) in results.enumerated() {
            require(result.index == position, "result \(position) carries index \(result.index)")
        }
    }
}

/// Folds observations into a job state the way the engine does, checking the state after each.
struct StateFolder {
    private(set) var state = JobState()
    private var clock: Int64 = 1_700_000_000_000

    /// Applies one observation with `JobStateMachine.apply` and checks the result.
    mutating func apply(_ observation: ProviderObservation) {
        clock += 1000
        let before = state
        state = JobStateMachine.apply(observation, to: state, at: Timestamp(milliseconds: clock))
        FuzzInvariant.check(state)
        FuzzInvariant.require(
            state.progress.succeeded >= before.progress.succeeded && state.progress.failed >= before.progress.failed,
            "counters never go down"
        )
        FuzzInvariant.require(state.progress.percent >= before.progress.percent, "percent never goes down")
        FuzzInvariant.require(!before.lifecycle.isTerminal || state == before, "a terminal job does not change")
    }
}

/// Splits an input into the parts of a multi-response exchange at lines holding only `---`.
enum InputParts {
    /// The separator line between parts.
    static let separator = Array("\n---\n".utf8)

    /// The parts, in order; one part when there is no separator.
    static func split(_ input: [UInt8], limit: Int = 16) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var start = 0
        var index = 0
        while index + separator.count <= input.count, parts.count < limit - 1 {
            if input[index..<(index + separator.count)].elementsEqual(separator) {
                parts.append(Array(input[start..<index]))
                index += separator.count
                start = index
            } else {
                index += 1
            }
        }
        parts.append(Array(input[start...]))
        return parts
    }

    /// A stable 32-bit FNV-1a hash, to pick a part for a request deterministically.
    static func hash(_ text: String) -> Int {
        var value: UInt32 = 2_166_136_261
        for byte in text.utf8 {
            value ^= UInt32(byte)
            value = value &* 16_777_619
        }
        return Int(value)
    }
}
