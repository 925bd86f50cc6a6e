public import BatchGateCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How an AirOps batch maps onto the gateway's model (CONTRACT §1).
///
/// Lifecycle, from the vendor's `overall` status:
///
/// | AirOps `overall` | failing phase `error.code` | `lifecycle_status` | `error`                                   |
/// |------------------|----------------------------|--------------------|-------------------------------------------|
/// | `pending`        | –                          | `pending`          | null                                      |
/// | `in_progress`    | –                          | `running`          | null                                      |
/// | `completed`      | –                          | `completed`        | null                                      |
/// | `failed`         | `LLM_BATCH_EXPIRED`        | `expired`          | `provider_expired`, vendor message + code |
/// | `failed`         | any other, or none         | `failed`           | `provider_failed`, vendor message + code  |
/// | missing          | –                          | derived (below)    | as for the derived value                  |
/// | unknown string   | –                          | derived (below)    | as for the derived value                  |
///
/// When `overall` is missing or unknown it is derived from the phase states with the vendor's
/// "Overall Status" table, checked in this order: any phase `failed` → `failed`; enriching `completed`
/// or `skipped` → `completed`; every phase `pending` (or absent) → `pending`; otherwise `in_progress`.
/// `provider_status` is `overall` verbatim, or the derived value when the vendor sent none.
///
/// The failing phase is the first of scraping, analyzing, enriching whose state is `failed`; its
/// `error` gives `error.message` and `error.provider_code`.
///
/// Counts and progress:
///
/// | gateway field            | from                                                                        |
/// |--------------------------|-----------------------------------------------------------------------------|
/// | `total`                  | `total_urls`, else `scraping.submitted`                                     |
/// | `succeeded`              | `analyzing.items_complete + enriching.items_enriched`                       |
/// | `failed`                 | `scraping.failed + max(0, scraping.submitted − scraping.valid) + enriching.items_failed` |
/// | `percent` hint           | scraping started: 0–40 by (succeeded + failed) / valid; scraping completed: 40; analyzing completed: 50; enriching started/completed/failed: 50–99 by (enriched + failed) / items_to_enrich; enriching skipped: 99 |
/// | `phases`                 | scraping, analyzing, enriching with their `state`, every integer field as a count (`fields_to_enrich.<field>`, `llm.<usage field>` included) and `started_at`/`completed_at` (ms) as timestamps |
/// | `correlation.llm_batch_id` | `enriching.llm_batch_id`, when present                                    |
///
/// 100 % is left to the state machine, which sets it on any terminal status.
extension AirOpsProvider {
    /// The lifecycle status of an `overall` value; `failingErrorCode` is the failing phase's `error.code`.
    /// Returns nil for a value the vendor does not document.
    public static func lifecycle(overall: String, failingErrorCode: String?) -> LifecycleStatus? {
        switch overall {
        case "pending": .pending
        case "in_progress": .running
        case "completed": .completed
        case "failed": failingErrorCode == "LLM_BATCH_EXPIRED" ? .expired : .failed
        default: nil
        }
    }

    /// The vendor's "Overall Status" rule applied to the three phase states (nil: phase absent).
    public static func derivedOverall(scraping: String?, analyzing: String?, enriching: String?) -> String {
        let states = [scraping, analyzing, enriching]
        if states.contains("failed") { return "failed" }
        if enriching == "completed" || enriching == "skipped" { return "completed" }
        if states.allSatisfy({ $0 == nil || $0 == "pending" }) { return "pending" }
        return "in_progress"
    }

    /// The phase-weighted progress estimate (0–99) described in the table above.
    public static func percentHint(
        scrapingState: String?,
        scrapingProcessed: Int,
        scrapingValid: Int?,
        analyzingState: String?,
        enrichingState: String?,
        enrichingProcessed: Int,
        itemsToEnrich: Int?
    ) -> Int {
        switch enrichingState {
        case "skipped":
            return 99
        case "started", "completed", "failed":
            guard let itemsToEnrich, itemsToEnrich > 0 else { return 50 }
            return 50 + 49 * min(max(enrichingProcessed, 0), itemsToEnrich) / itemsToEnrich
        default:
            break
        }
        if analyzingState == "completed" || analyzingState == "failed" { return 50 }
        switch scrapingState {
        case "completed", "failed":
            return 40
        case "started":
            guard let scrapingValid, scrapingValid > 0 else { return 0 }
            return 40 * min(max(scrapingProcessed, 0), scrapingValid) / scrapingValid
        default:
            return 0
        }
    }

    /// Decodes a create response, a GET response or a webhook body and maps it to an observation.
    /// Throws `.badResponse` naming what could not be read.
    public static func observation(decoding body: [UInt8]) throws(ProviderError) -> ProviderObservation {
        observation(from: try decodeBatch(body, what: "batch"))
    }

    static func decodeBatch(_ body: [UInt8], what: String) throws(ProviderError) -> AirOpsWire.Batch {
        do {
            return try JSONDecoder().decode(AirOpsWire.Batch.self, from: Data(body))
        } catch let error as DecodingError {
            throw ProviderError(.badResponse, "The AirOps \(what) is not readable: \(VendorHTTP.describe(error)).")
        } catch {
            throw ProviderError(.badResponse, "The AirOps \(what) is not readable JSON.")
        }
    }

    /// The pure mapping of one decoded batch to an observation.
    static func observation(from batch: AirOpsWire.Batch) -> ProviderObservation {
        let scraping = batch.effectiveScraping
        let analyzing = batch.effectiveAnalyzing
        let enriching = batch.effectiveEnriching

        let failing: (phase: String, error: AirOpsWire.ErrorObject?)? =
            if scraping?.state == "failed" { ("scraping", scraping?.error) } else if analyzing?.state == "failed" {
                ("analyzing", analyzing?.error)
            } else if enriching?.state == "failed" { ("enriching", enriching?.error) } else { nil }

        let derived = derivedOverall(scraping: scraping?.state, analyzing: analyzing?.state, enriching: enriching?.state)
        let providerStatus = batch.overall ?? derived
        let failingCode = failing?.error?.code
        let lifecycle =
            lifecycle(overall: providerStatus, failingErrorCode: failingCode)
            ?? lifecycle(overall: derived, failingErrorCode: failingCode) ?? .running

        var error: BatchError?
        if lifecycle == .failed || lifecycle == .expired {
            let code = lifecycle == .expired ? "provider_expired" : "provider_failed"
            let message =
                failing?.error?.message
                ?? failing.map { "AirOps reported the batch as failed in the \($0.phase) phase." }
                ?? "AirOps reported the batch as failed."
            error = BatchError(code: code, message: message, providerCode: failingCode)
        }

        let submitted = scraping?.submitted
        let invalid = max(0, (submitted ?? 0) - (scraping?.valid ?? submitted ?? 0))
        let failed = (scraping?.failed ?? 0) + invalid + (enriching?.itemsFailed ?? 0)
        let succeeded = (analyzing?.itemsComplete ?? 0) + (enriching?.itemsEnriched ?? 0)

        let percent = percentHint(
            scrapingState: scraping?.state,
            scrapingProcessed: (scraping?.succeeded ?? 0) + (scraping?.failed ?? 0),
            scrapingValid: scraping?.valid ?? submitted,
            analyzingState: analyzing?.state,
            enrichingState: enriching?.state,
            enrichingProcessed: (enriching?.itemsEnriched ?? 0) + (enriching?.itemsFailed ?? 0),
            itemsToEnrich: enriching?.itemsToEnrich
        )

        var correlation: [String: String] = [:]
        if let llmBatchID = enriching?.llmBatchID, !llmBatchID.isEmpty { correlation["llm_batch_id"] = llmBatchID }

        return ProviderObservation(
            lifecycle: lifecycle,
            providerStatus: providerStatus,
            total: batch.totalURLs ?? submitted,
            succeeded: succeeded,
            failed: failed,
            percentHint: percent,
            phases: phases(scraping: scraping, analyzing: analyzing, enriching: enriching),
            error: error,
            correlation: correlation
        )
    }

    static func phases(
        scraping: AirOpsWire.ScrapingPhase?,
        analyzing: AirOpsWire.AnalyzingPhase?,
        enriching: AirOpsWire.EnrichingPhase?
    ) -> [BatchPhase] {
        var phases: [BatchPhase] = []
        if let scraping {
            phases.append(
                phase(
                    "scraping",
                    scraping.state,
                    scraping.startedAt,
                    scraping.completedAt,
                    [
                        ("submitted", scraping.submitted), ("valid", scraping.valid),
                        ("succeeded", scraping.succeeded), ("failed", scraping.failed),
                    ]
                )
            )
        }
        if let analyzing {
            var counts: [(String, Int?)] = [
                ("items_analyzed", analyzing.itemsAnalyzed), ("items_needing_enrichment", analyzing.itemsNeedingEnrichment),
                ("items_complete", analyzing.itemsComplete),
            ]
            for (field, count) in analyzing.fieldsToEnrich.sorted(by: { $0.key < $1.key }) {
                counts.append(("fields_to_enrich.\(field)", count))
            }
            phases.append(phase("analyzing", analyzing.state, analyzing.startedAt, analyzing.completedAt, counts))
        }
        if let enriching {
            phases.append(
                phase(
                    "enriching",
                    enriching.state,
                    enriching.startedAt,
                    enriching.completedAt,
                    [
                        ("items_to_enrich", enriching.itemsToEnrich), ("items_enriched", enriching.itemsEnriched),
                        ("items_failed", enriching.itemsFailed),
                        ("llm.prompt_tokens", enriching.llm?.promptTokens),
                        ("llm.completion_tokens", enriching.llm?.completionTokens),
                        ("llm.total_tokens", enriching.llm?.totalTokens),
                        ("llm.completion_time_ms", enriching.llm?.completionTimeMS),
                    ]
                )
            )
        }
        return phases
    }

    private static func phase(
        _ name: String,
        _ state: String?,
        _ startedAt: Int64?,
        _ completedAt: Int64?,
        _ counts: [(String, Int?)]
    ) -> BatchPhase {
        var values: [String: Int] = [:]
        for case (let key, let value?) in counts { values[key] = value }
        return BatchPhase(
            name: name,
            state: state ?? "pending",
            counts: values,
            startedAt: startedAt.map(Timestamp.init(milliseconds:)),
            completedAt: completedAt.map(Timestamp.init(milliseconds:))
        )
    }
}
