import BatchGateCore
import Logging

/// Keeping in step with other replicas on a shared store: what they commit reaches this replica's cache
/// (so `GET` and events streams here show it), and jobs they give up are claimed at once.
extension JobEngine {
    /// Applies one change committed to the store by any replica.
    func follow(_ change: StoreChange) async {
        do {
            switch change {
            case .job(let id, let version):
                // This replica's own commits are cached already; only jobs it shows are read again.
                guard let cached = cache.job(id), cached.version < version else { return }
                try await reload(id)
            case .deliveries(let jobID):
                cache.invalidateRendering(jobID)
            case .leasesReleased:
                leases.wake()
            case .resync:
                // Changes may have been missed: every cached job is read again, and renderings are dropped.
                for id in cache.ids() {
                    cache.invalidateRendering(id)
                    try await reload(id)
                }
            }
        } catch {
            logger.warning("could not follow a store change", metadata: ["change": "\(change)", "error": "\(error)"])
        }
    }
}
