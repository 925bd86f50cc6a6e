public import BatchGateCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How an Aitronos scrape batch maps onto the gateway's model (CONTRACT §1).
///
/// Aitronos has no batch-level status: only per-job statuses and counts. The gateway derives a batch
/// status word from them and reports that word as `provider_status` (it is derived, not the vendor's).
///
/// Job statuses are classified first:
///
/// | job `status`              | counts as    |
/// |---------------------------|--------------|
/// | `pending`, or missing     | pending      |
/// | `processing`              | processing   |
/// | `completed`               | completed    |
/// | `failed`                  | failed       |
/// | `cancelled`, `canceled`   | cancelled    |
/// | any other string          | processing (never terminal, so an unknown state cannot end a batch early) |
///
/// The tally comes from the `jobs` list when the body has one (jobs missing from a shorter list count
/// as pending; `total = max(total_urls, jobs listed)`); otherwise from the counters `completed`,
/// `failed`, `pending` (top level on progress, under `progress` on create), with
/// `processing = total_urls − completed − failed − pending` (never below zero).
///
/// Then, checked in this order:
///
/// | tally                                                   | `provider_status` | `lifecycle_status` | `error` |
/// |---------------------------------------------------------|-------------------|--------------------|---------|
/// | total is 0 (nothing known yet)                          | `pending`         | `pending`          | null    |
/// | every job terminal, at least one `completed`            | `completed`       | `completed`        | null    |
/// | every job terminal, none `completed`                    | `failed`          | `failed`           | `provider_failed`, counts in the message |
/// | some job `processing`, or some (not all) terminal       | `processing`      | `running`          | null    |
/// | every job `pending`                                     | `pending`         | `pending`          | null    |
///
/// Counts: `total` = the tally's total (`total_urls`), `succeeded` = completed, `failed` = failed +
/// cancelled, `pending` = the rest (left to the state machine). No percent hint and no phases: the
/// vendor has no phases, and the state machine's percent from the counts is exact.
extension AitronosProvider {
    /// An Aitronos batch's jobs counted by state; the input of the derivation table above.
    public struct JobTally: Sendable, Hashable, CustomStringConvertible {
        /// URLs in the batch.
        public var total: Int
        /// Jobs that extracted their page.
        public var completed: Int
        /// Jobs that failed.
        public var failed: Int
        /// Jobs the vendor cancelled.
        public var cancelled: Int
        /// Jobs at work, including those in a status the vendor does not document.
        public var processing: Int
        /// Jobs not started.
        public var pending: Int

        /// Makes a tally; `total` should equal the sum of the other counts.
        public init(total: Int, completed: Int = 0, failed: Int = 0, cancelled: Int = 0, processing: Int = 0, pending: Int = 0) {
            self.total = total
            self.completed = completed
            self.failed = failed
            self.cancelled = cancelled
            self.processing = processing
            self.pending = pending
        }

        /// Jobs that reached an end: completed, failed or cancelled.
        public var terminal: Int { completed + failed + cancelled }

        /// `total=… completed=… failed=… cancelled=… processing=… pending=…`.
        public var description: String {
            "total=\(total) completed=\(completed) failed=\(failed) cancelled=\(cancelled) processing=\(processing) pending=\(pending)"
        }
    }

    /// How one job status counts (the first table above).
    public enum JobClass: String, Sendable, Hashable {
        /// Not started (`pending`, or no status).
        case pending
        /// At work (`processing`, or an undocumented status).
        case processing
        /// Finished with data.
        case completed
        /// Finished without data.
        case failed
        /// Stopped by the vendor; counted as failed.
        case cancelled
    }

    /// Classifies a job's `status` per the first table; matching ignores case and surrounding spaces.
    public static func jobClass(_ status: String?) -> JobClass {
        guard var status = status?[...] else { return .pending }
        while let first = status.first, first.isWhitespace { status = status.dropFirst() }
        while let last = status.last, last.isWhitespace { status = status.dropLast() }
        return switch status.lowercased() {
        case "pending", "": .pending
        case "processing": .processing
        case "completed": .completed
        case "failed": .failed
        case "cancelled", "canceled": .cancelled
        default: .processing
        }
    }

    /// The tally of a job list; `totalURLs` raises the total when the list is shorter (the rest are pending).
    public static func tally(jobStatuses: [String?], totalURLs: Int?) -> JobTally {
        var tally = JobTally(total: max(totalURLs ?? 0, jobStatuses.count))
        for status in jobStatuses {
            switch jobClass(status) {
            case .pending: tally.pending += 1
            case .processing: tally.processing += 1
            case .completed: tally.completed += 1
            case .failed: tally.failed += 1
            case .cancelled: tally.cancelled += 1
            }
        }
        tally.pending += tally.total - jobStatuses.count
        return tally
    }

    /// The tally of the vendor's counters when no job list is available.
    public static func tally(totalURLs: Int?, completed: Int?, failed: Int?, pending: Int?) -> JobTally {
        let completed = max(completed ?? 0, 0)
        let failed = max(failed ?? 0, 0)
        let pending = max(pending ?? 0, 0)
        let total = max(totalURLs ?? 0, completed + failed + pending)
        return JobTally(
            total: total,
            completed: completed,
            failed: failed,
            processing: total - completed - failed - pending,
            pending: pending
        )
    }

    /// The derived batch status word (`pending`, `processing`, `completed` or `failed`) of the second table.
    public static func derivedStatus(_ tally: JobTally) -> String {
        guard tally.total > 0 else { return "pending" }
        if tally.terminal >= tally.total { return tally.completed > 0 ? "completed" : "failed" }
        if tally.processing > 0 || tally.terminal > 0 { return "processing" }
        return "pending"
    }

    /// The lifecycle status of a derived status word; nil for any other word.
    public static func lifecycle(derivedStatus: String) -> LifecycleStatus? {
        switch derivedStatus {
        case "pending": .pending
        case "processing": .running
        case "completed": .completed
        case "failed": .failed
        default: nil
        }
    }

    /// Decodes a create or progress response (wrapped in `{"success", "data"}` or bare) and maps it to
    /// an observation. Throws `.badResponse` naming what could not be read, or when the body shows
    /// neither jobs nor counts.
    public static func observation(decoding body: [UInt8]) throws(ProviderError) -> ProviderObservation {
        let view = try decodeBatchView(body, what: "batch")
        guard view.hasState else {
            throw ProviderError(.badResponse, "The Aitronos batch has neither `jobs` nor `total_urls` nor counts.")
        }
        return observation(from: view)
    }

    /// The tally a decoded batch shows: from its `jobs` list when present, else from its counters.
    static func tally(of view: AitronosWire.BatchView) -> JobTally {
        if let jobs = view.jobs, !jobs.isEmpty {
            return tally(jobStatuses: jobs.map(\.status), totalURLs: view.totalURLs)
        }
        return tally(totalURLs: view.totalURLs, completed: view.completed, failed: view.failed, pending: view.pending)
    }

    /// The pure mapping of one decoded batch to an observation.
    static func observation(from view: AitronosWire.BatchView) -> ProviderObservation {
        let tally = tally(of: view)
        let status = derivedStatus(tally)
        let lifecycle = lifecycle(derivedStatus: status) ?? .running
        var error: BatchError?
        if lifecycle == .failed {
            error = BatchError(
                code: "provider_failed",
                message: "Aitronos scraped none of the batch's \(tally.total) URLs (\(tally.failed) failed, \(tally.cancelled) cancelled)."
            )
        }
        return ProviderObservation(
            lifecycle: lifecycle,
            providerStatus: status,
            total: tally.total,
            succeeded: tally.completed,
            failed: tally.failed + tally.cancelled,
            error: error
        )
    }

    static func decodeBatchView(_ body: [UInt8], what: String, secret: String = "") throws(ProviderError) -> AitronosWire.BatchView {
        try decodeEnveloped(AitronosWire.BatchView.self, body, what: what, secret: secret)
    }

    /// Decodes `T`, bare or enveloped. An envelope with `success: false` is refused with the vendor's
    /// words, `secret` masked should the vendor echo it.
    static func decodeEnveloped<T: Decodable & Sendable>(
        _ type: T.Type,
        _ body: [UInt8],
        what: String,
        secret: String = ""
    ) throws(ProviderError) -> T {
        let decoded: AitronosWire.Enveloped<T>
        do {
            decoded = try JSONDecoder().decode(AitronosWire.Enveloped<T>.self, from: Data(body))
        } catch let error as DecodingError {
            throw ProviderError(.badResponse, "The Aitronos \(what) is not readable: \(VendorHTTP.describe(error)).")
        } catch {
            throw ProviderError(.badResponse, "The Aitronos \(what) is not readable JSON.")
        }
        guard let value = decoded.value else {
            let detail = VendorHTTP.cleanText(decoded.errorMessage, secret: secret).map { ": \($0)" } ?? "."
            throw ProviderError(.badResponse, "The Aitronos \(what) says `success: false`\(detail)")
        }
        return value
    }
}
