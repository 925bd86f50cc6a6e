/// Draws one progress line per batch for `batchgate watch`. Pure: state in, text out.
///
/// In `.plain` mode (stdout is not a terminal) every update yields one line, e.g.
/// `bat_… running 40% 20/0/50 12.3s`, and ``finalLines()`` one `final` line per batch. In `.terminal`
/// mode ``redraw()`` returns the whole board, preceded by the ANSI cursor moves that overwrite the
/// previous drawing in place.
public struct ProgressBoard: Sendable {
    /// How the board is shown.
    public enum Mode: Sendable, Equatable {
        /// One line per received update, for pipes and logs.
        case plain
        /// Bars redrawn in place with ANSI escapes; `barWidth` cells per bar.
        case terminal(barWidth: Int)
    }

    /// The mode the board draws in.
    public let mode: Mode
    /// Every batch, in the order given.
    public private(set) var jobs: [JobProgress]
    private var drawnLines = 0

    /// A board for `ids`, all `waiting`.
    public init(ids: [String], mode: Mode) {
        self.mode = mode
        self.jobs = ids.map { JobProgress(id: $0) }
    }

    /// Records `progress` for its batch; returns the plain line describing it.
    @discardableResult
    public mutating func update(_ progress: JobProgress) -> String {
        if let index = jobs.firstIndex(where: { $0.id == progress.id }) {
            jobs[index] = progress
        } else {
            jobs.append(progress)
        }
        return Self.plainLine(progress)
    }

    /// Whether every batch ended `completed`.
    public var allCompleted: Bool { jobs.allSatisfy(\.isCompleted) }

    /// The whole board for a terminal: cursor up over the previous drawing, then each line cleared and
    /// drawn again.
    public mutating func redraw() -> String {
        var out = drawnLines > 0 ? "\u{1B}[\(drawnLines)A" : ""
        for job in jobs {
            out += "\r\u{1B}[2K" + Self.barLine(job, width: barWidth) + "\n"
        }
        drawnLines = jobs.count
        return out
    }

    /// One `final` line per batch, for plain mode.
    public func finalLines() -> [String] {
        jobs.map { "final " + Self.plainLine($0) }
    }

    private var barWidth: Int {
        if case .terminal(let width) = mode { return max(width, 1) }
        return 20
    }

    /// `bat_… running 40% 20/0/50 12.3s`, plus the problem if following the batch stopped early.
    public static func plainLine(_ job: JobProgress) -> String {
        var line = "\(job.id) \(job.lifecycle) \(job.percent)% \(job.succeeded)/\(job.failed)/\(job.total) \(seconds(job.elapsedSeconds))"
        if let problem = job.problem { line += " (\(problem))" }
        return line
    }

    /// `bat_… [########------------]  40% 20/0/50 running 12.3s`.
    public static func barLine(_ job: JobProgress, width: Int) -> String {
        let clamped = min(max(job.percent, 0), 100)
        let filled = clamped * width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let percent = String(clamped)
        let padded = String(repeating: " ", count: 3 - percent.count) + percent
        var line = "\(job.id) [\(bar)] \(padded)% \(job.succeeded)/\(job.failed)/\(job.total) \(job.lifecycle) \(seconds(job.elapsedSeconds))"
        if let problem = job.problem { line += " (\(problem))" }
        return line
    }

    /// Seconds with one decimal, e.g. `12.3s`.
    static func seconds(_ value: Double) -> String {
        let tenths = Int((max(value, 0) * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)s"
    }
}
