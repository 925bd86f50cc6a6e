import BatchGateCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The checks every URL-scraping adapter makes before its own: the job kind, at least one absolute
/// http(s) URL, and one non-empty `custom_id` per URL when any are given.
enum URLBatchChecks {
    /// The url_batch input, or a 400 naming the failing field.
    static func check(_ input: JobInput, vendor: String) throws(GatewayError) -> URLBatchInput {
        guard case .urlBatch(let batch) = input else {
            throw GatewayError.invalid("input", "The \(vendor) provider takes url_batch jobs only, not \(input.kind.rawValue).")
        }
        guard !batch.urls.isEmpty else {
            throw GatewayError.invalid("input.urls", "At least one URL is required.")
        }
        for (index, url) in batch.urls.enumerated() {
            if let problem = urlProblem(url) {
                throw GatewayError.invalid("input.urls[\(index)]", problem)
            }
        }
        if let customIDs = batch.customIDs {
            guard customIDs.count == batch.urls.count else {
                throw GatewayError.invalid(
                    "input.custom_ids",
                    "custom_ids has \(customIDs.count) entries but urls has \(batch.urls.count); give one per URL."
                )
            }
            for (index, customID) in customIDs.enumerated() where customID.isEmpty {
                throw GatewayError.invalid("input.custom_ids[\(index)]", "A custom_id must not be empty.")
            }
        }
        return batch
    }

    /// Why `text` is not an absolute http(s) URL with a host, or nil when it is.
    static func urlProblem(_ text: String) -> String? {
        if text.isEmpty { return "The URL is empty." }
        if text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
            return "The URL contains whitespace or control characters."
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return "Not an absolute URL."
        }
        guard scheme == "http" || scheme == "https" else {
            return "Only http and https URLs can be scraped, not \(scheme)."
        }
        guard let host = components.host, !host.isEmpty else { return "The URL has no host." }
        return nil
    }
}
