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
                // This replica's own commits are cached already. A job it works on or streams to a client is
                // read again at once; any other is forgotten, and read from the store when next asked for.
                guard let cached = cache.job(id), cached.version < version else { return }
                try await refresh(id, version: version)
            case .deliveries(let jobID):
                cache.invalidateRendering(jobID)
            case .leasesReleased:
                leases.wake()
            case .resync:
                // Changes may have been missed: every cached job is read again or forgotten.
                for id in cache.ids() {
                    cache.invalidateRendering(id)
                    try await refresh(id, version: Int.max)
                }
            }
        } catch {
            logger.warning("could not follow a store change", metadata: ["change": "\(change)", "error": "\(error)"])
        }
    }

    /// Reads job `id` again if this replica works on it or streams it to a client; otherwise forgets a
    /// cached version older than `version`.
    private func refresh(_ id: String, version: Int) async throws {
        if leases.lease(id) != nil || cache.changes.subscriberCount(id) > 0 {
            try await reload(id)
        } else {
            cache.evict(id, olderThan: version)
        }
    }
}
