import BatchGateCore
import Foundation

// What the operator page's templates render: plain values read from the same batch object the API
// answers (`BatchRenderer`), so the page and the API never disagree. Every string reaches the HTML
// through Mustache's escaping; none is marked safe.

/// The header of every signed-in page.
struct UIChrome {
    var tenant: String
    var csrf: String
    var jobsPage = false
    var vendorsPage = false
}

/// A progress bar with its counts: green for succeeded, red for failed, the rest pending.
struct UIProgress {
    var total: Int
    var succeeded: Int
    var failed: Int
    var pending: Int
    var percent: Int
    /// Widths in whole percent of the total (CSS classes `w0` … `w100`: no inline style, which the
    /// Content-Security-Policy forbids).
    var okWidth: Int
    var badWidth: Int
    var label: String

    init(_ progress: JSONValue?) {
        total = progress?["total"]?.intValue ?? 0
        succeeded = progress?["succeeded"]?.intValue ?? 0
        failed = progress?["failed"]?.intValue ?? 0
        pending = progress?["pending"]?.intValue ?? 0
        percent = progress?["percent"]?.intValue ?? 0
        okWidth = total > 0 ? min(100, succeeded * 100 / total) : 0
        badWidth = total > 0 ? min(100 - okWidth, failed * 100 / total) : 0
        label = "\(percent) percent: \(succeeded) succeeded, \(failed) failed, \(pending) pending of \(total)"
    }
}

/// One row of the jobs table.
struct UIJobRow {
    var id: String
    var route: String
    var provider: String
    var lifecycle: String
    var providerStatus: String?
    var progress: UIProgress
    var createdAt: String
    var age: String

    init(job: Job, batch: JSONValue, now: Timestamp) {
        id = job.id
        route = job.route
        provider = batch["provider"]?.stringValue ?? job.provider
        lifecycle = batch["lifecycle_status"]?.stringValue ?? job.state.lifecycle.rawValue
        providerStatus = batch["provider_status"]?.stringValue
        progress = UIProgress(batch["progress"])
        createdAt = job.createdAt.rfc3339
        age = UIText.age(from: job.createdAt, to: now)
    }
}

/// A `<select>` option.
struct UIOption {
    var value: String
    var label: String
    var selected: Bool
}

/// A label and a value, for the definition lists of a job page.
struct UIField {
    var name: String
    var value: String
}

enum UIText {
    /// `12 s`, `5 min`, `3 h`, `2 d`.
    static func age(from start: Timestamp, to now: Timestamp) -> String {
        let seconds = max(0, (now.milliseconds - start.milliseconds) / 1000)
        switch seconds {
        case ..<60: return "\(seconds) s"
        case ..<3600: return "\(seconds / 60) min"
        case ..<86400: return "\(seconds / 3600) h"
        default: return "\(seconds / 86400) d"
        }
    }

    /// A JSON value as compact text, cut to `limit` characters.
    static func json(_ value: JSONValue?, limit: Int = 300) -> String {
        guard let value, value != .null else { return "" }
        let text: String
        if case .string(let string) = value {
            text = string
        } else {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            text = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        return cut(text, limit)
    }

    static func cut(_ text: String, _ limit: Int) -> String {
        text.count > limit ? String(text.prefix(limit)) + "…" : text
    }

    /// Bytes as text when they are UTF-8, cut to `limit` characters.
    static func preview(_ bytes: [UInt8], limit: Int = 300) -> String {
        cut(String(decoding: bytes.prefix(limit * 4), as: UTF8.self), limit)
    }
}
