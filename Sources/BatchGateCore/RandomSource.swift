import Synchronization

/// Where the gateway's random draws come from (jitter, backoff, weighted routing): the system's generator,
/// or a seeded one so a test can replay exactly what was drawn. Shared across tasks.
public final class RandomSource: RandomNumberGenerator, Sendable {
    /// False: the system's generator, and `state` is unused.
    private let isSeeded: Bool
    private let state: Mutex<UInt64>

    /// The system's cryptographically secure generator.
    public static let system = RandomSource(state: nil)

    /// A generator that draws the same sequence for the same seed (SplitMix64).
    public convenience init(seed: UInt64) {
        self.init(state: seed)
    }

    private init(state: UInt64?) {
        isSeeded = state != nil
        self.state = Mutex(state ?? 0)
    }

    public func next() -> UInt64 {
        guard isSeeded else {
            var system = SystemRandomNumberGenerator()
            return system.next()
        }
        // SplitMix64 (Steele, Lea, Flood 2014): a full-period 64-bit sequence, one addition and a mix per draw.
        var value = state.withLock { state in
            state &+= 0x9E37_79B9_7F4A_7C15
            return state
        }
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }

    /// A uniform draw in `0...1`.
    public func fraction() -> Double {
        var generator = self
        return Double.random(in: 0...1, using: &generator)
    }
}
