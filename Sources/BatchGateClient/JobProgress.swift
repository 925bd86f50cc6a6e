public import BatchGateCore

/// What the command line shows of one batch: its status, counts and how long it has taken.
public struct JobProgress: Sendable, Equatable {
    /// The batch id.
    public var id: String
    /// `lifecycle_status`, or `waiting` before the first event.
    public var lifecycle: String
    /// `progress.percent`, 0–100.
    public var percent: Int
    /// `progress.succeeded`.
    public var succeeded: Int
    /// `progress.failed`.
    public var failed: Int
    /// `progress.total`.
    public var total: Int
    /// Seconds since the batch was created (until it finished, once it has).
    public var elapsedSeconds: Double
    /// Why following the batch stopped before it finished, if it did.
    public var problem: String?

    /// Creates a progress line's state.
    public init(
        id: String,
        lifecycle: String = "waiting",
        percent: Int = 0,
        succeeded: Int = 0,
        failed: Int = 0,
        total: Int = 0,
        elapsedSeconds: Double = 0,
        problem: String? = nil
    ) {
        self.id = id
        self.lifecycle = lifecycle
        self.percent = percent
        self.succeeded = succeeded
        self.failed = failed
        self.total = total
        self.elapsedSeconds = elapsedSeconds
        self.problem = problem
    }

    /// Reads a batch object; `elapsedSeconds` is `now - created_at`, or `completed_at - created_at`
    /// once finished (0 when the times cannot be read).
    public init(batch: JSONValue, now: Timestamp) {
        func count(_ key: String) -> Int {
            if let value = batch["progress"]?[key]?.intValue { return value }
            return 0
        }
        let created = batch["created_at"]?.stringValue.flatMap(Self.parseTimestamp)
        let completed = batch["completed_at"]?.stringValue.flatMap(Self.parseTimestamp)
        var elapsed = 0.0
        if let created { elapsed = max(0, Double((completed ?? now).milliseconds - created.milliseconds) / 1000) }
        self.init(
            id: batch["id"]?.stringValue ?? "?",
            lifecycle: batch["lifecycle_status"]?.stringValue ?? "?",
            percent: count("percent"),
            succeeded: count("succeeded"),
            failed: count("failed"),
            total: count("total"),
            elapsedSeconds: elapsed
        )
    }

    /// Whether the lifecycle status is terminal.
    public var isTerminal: Bool { LifecycleStatus(rawValue: lifecycle)?.isTerminal ?? false }

    /// Whether the batch ended `completed`.
    public var isCompleted: Bool { lifecycle == LifecycleStatus.completed.rawValue }

    /// Reads the contract's time format, `2026-01-15T10:30:00.000Z` (fraction optional, UTC only).
    static func parseTimestamp(_ text: String) -> Timestamp? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard (0x30...0x39).contains(bytes[index]) else { return nil }
                value = value * 10 + Int(bytes[index] - 0x30)
            }
            return value
        }
        guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var millis = 0
        if bytes[19] == UInt8(ascii: ".") {
            let digits = bytes.count - 21
            guard digits >= 1, let fraction = number(20..<(bytes.count - 1)) else { return nil }
            millis = digits >= 3 ? fraction / Int(pow10(digits - 3)) : fraction * Int(pow10(3 - digits))
        } else if bytes.count != 20 {
            return nil
        }
        // Days from civil (Howard Hinnant).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        return Timestamp(milliseconds: seconds * 1000 + Int64(millis))
    }

    private static func pow10(_ exponent: Int) -> Int64 {
        (0..<exponent).reduce(1) { value, _ in value * 10 }
    }
}
