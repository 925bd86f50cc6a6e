public import BatchGateCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension AitronosWire {
    /// `GET /v1/scrape/jobs` (SUPPLEMENT): `{"jobs", "total", "limit", "offset"}`, oldest first, bare or enveloped.
    struct JobList: Decodable, Sendable {
        struct Entry: Decodable, Sendable {
            var batchID: String?
            var url: String?
            var createdAt: String?

            enum CodingKeys: String, CodingKey { case batchID = "batch_id", url, createdAt = "created_at" }
        }

        var jobs: [Entry]
        var total: Int?
    }
}

extension AitronosProvider {
    /// The most list pages read while looking for a batch whose create timed out.
    static let maxLookupPages = 20

    /// Looks through the newest jobs for a batch created since `since` with exactly the submission's URLs.
    ///
    /// The documented job list has no batch filter; it is read from its newest end back to `since`
    /// (with 5 s of slack for clock skew). A job without `batch_id` makes the answer `.unknown`: the
    /// batch cannot then be identified, and a resubmit may duplicate it.
    public func findSubmitted(_ submission: Submission, since: Timestamp) async throws(ProviderError) -> SubmitLookup {
        guard case .urlBatch(let input) = submission.input else { return .unknown }
        let wanted = input.urls.sorted()
        let threshold = since.adding(.seconds(-5))
        let first = try await jobList(offset: 0)
        var offset = max(0, (first.total ?? first.jobs.count) - 100)
        var candidates: [String: [String]] = [:]
        var unidentified = false
        for _ in 0..<Self.maxLookupPages {
            let page = offset == 0 ? first : try await jobList(offset: offset)
            var reachedOlder = false
            for job in page.jobs {
                guard let url = job.url, let created = job.createdAt.flatMap(Self.parseTime) else { continue }
                guard created >= threshold else {
                    reachedOlder = true
                    continue
                }
                guard let batchID = job.batchID else {
                    unidentified = true
                    continue
                }
                candidates[batchID, default: []].append(url)
            }
            if reachedOlder || offset == 0 { break }
            offset = max(0, offset - 100)
        }
        if let match = candidates.first(where: { $0.value.sorted() == wanted }) { return .found(match.key) }
        return unidentified ? .unknown : .notFound
    }

    private func jobList(offset: Int) async throws(ProviderError) -> AitronosWire.JobList {
        let response = try await sendForLookup("GET", "/v1/scrape/jobs?limit=100&offset=\(offset)")
        return try Self.decodeEnveloped(AitronosWire.JobList.self, response.body, what: "job list")
    }

    /// RFC 3339 with or without fractional seconds.
    static func parseTime(_ text: String) -> Timestamp? {
        let formats: [Date.ISO8601FormatStyle] = [
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted),
            .iso8601,
        ]
        for format in formats {
            if let date = try? Date(text, strategy: format) {
                return Timestamp(milliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded()))
            }
        }
        return nil
    }
}
