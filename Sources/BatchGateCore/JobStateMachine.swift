/// The part of a job that vendor observations change.
public struct JobState: Sendable, Hashable, Codable {
    public var lifecycle: LifecycleStatus
    public var providerStatus: String?
    public var progress: BatchProgress
    public var phases: [BatchPhase]
    public var error: BatchError?
    public var completedAt: Timestamp?

    public init(
        lifecycle: LifecycleStatus = .pending,
        providerStatus: String? = nil,
        progress: BatchProgress = BatchProgress(),
        phases: [BatchPhase] = [],
        error: BatchError? = nil,
        completedAt: Timestamp? = nil
    ) {
        self.lifecycle = lifecycle
        self.providerStatus = providerStatus
        self.progress = progress
        self.phases = phases
        self.error = error
        self.completedAt = completedAt
    }
}

/// The pure rules of CONTRACT §1: forward-only transitions, terminal is final, counters never go down,
/// `percent` is non-decreasing and reaches 100 only when terminal.
public enum JobStateMachine {
    /// Folds one observation into `state`. Late, duplicate or out-of-order observations never move the
    /// state backwards; an observation about a terminal job changes nothing.
    public static func apply(_ observation: ProviderObservation, to state: JobState, at now: Timestamp) -> JobState {
        guard !state.lifecycle.isTerminal else { return state }
        var next = state
        let isBehind = observation.lifecycle.rank < state.lifecycle.rank
        if state.lifecycle.canTransition(to: observation.lifecycle) {
            next.lifecycle = observation.lifecycle
        }
        if !isBehind {
            next.providerStatus = observation.providerStatus
        }

        next.progress = fold(observation, into: state.progress, terminal: next.lifecycle.isTerminal)

        next.phases = mergePhases(state.phases, observation.phases)
        if next.lifecycle.isTerminal {
            next.completedAt = now
            if next.lifecycle != .completed {
                next.error = observation.error ?? state.error ?? defaultError(for: next.lifecycle, providerStatus: observation.providerStatus)
            }
        }
        return next
    }

    /// The most items a job's total may claim when the job itself does not know its size.
    public static let maxItems = 1_000_000

    /// Folds the observation's counts into `progress`. Vendor numbers are untrusted: each count is clamped
    /// to what the job can hold (0…total, with the job's own item count as total when it has one), so
    /// `succeeded + failed ≤ total` always holds, no counter goes down and nothing can overflow.
    static func fold(_ observation: ProviderObservation, into current: BatchProgress, terminal: Bool) -> BatchProgress {
        var progress = current
        // A job that does not know its size takes the vendor's, grown to cover the counts, within `maxItems`.
        let claimed = min(max(observation.succeeded, 0), maxItems) + min(max(observation.failed, 0), maxItems)
        let total = current.total > 0 ? current.total : min(max(observation.total ?? 0, claimed, 0), maxItems)
        let succeeded = max(min(current.succeeded, total), min(max(observation.succeeded, 0), total - min(current.failed, total)))
        let failed = max(min(current.failed, total - succeeded), min(max(observation.failed, 0), total - succeeded))
        progress.total = total
        progress.succeeded = succeeded
        progress.failed = failed
        progress.pending = total - succeeded - failed
        if terminal {
            progress.percent = 100
        } else {
            let fromCounts = total > 0 ? (succeeded + failed) * 100 / total : 0
            let hinted = min(max(observation.percentHint ?? 0, 0), 100)
            progress.percent = min(99, max(min(max(current.percent, 0), 99), fromCounts, hinted))
        }
        return progress
    }

    /// Moves a non-terminal job straight to a terminal status for a gateway-side reason (submit
    /// rejected, cancel confirmed locally). A terminal job is returned unchanged.
    public static func finish(_ state: JobState, as status: LifecycleStatus, error: BatchError?, at now: Timestamp) -> JobState {
        guard status.isTerminal, state.lifecycle.canTransition(to: status) else { return state }
        var next = state
        next.lifecycle = status
        next.error = status == .completed ? nil : error
        next.completedAt = now
        next.progress.percent = 100
        return next
    }

    /// Per phase name: the one further along wins; at equal rank, counts only grow.
    static func mergePhases(_ current: [BatchPhase], _ incoming: [BatchPhase]) -> [BatchPhase] {
        guard !incoming.isEmpty else { return current }
        var merged = current
        for phase in incoming {
            guard let index = merged.firstIndex(where: { $0.name == phase.name }) else {
                merged.append(phase)
                continue
            }
            let old = merged[index]
            if phase.stateRank > old.stateRank {
                merged[index] = phase
            } else if phase.stateRank == old.stateRank {
                var combined = old
                if old.stateRank == 2 && phase.state != old.state {
                    continue  // two different final states: the first one stands
                }
                for (key, value) in phase.counts { combined.counts[key] = max(old.counts[key] ?? 0, value) }
                combined.startedAt = old.startedAt ?? phase.startedAt
                combined.completedAt = old.completedAt ?? phase.completedAt
                merged[index] = combined
            }
        }
        return merged
    }

    static func defaultError(for status: LifecycleStatus, providerStatus: String) -> BatchError? {
        switch status {
        case .failed: BatchError(code: "provider_failed", message: "The provider reported the batch as \(providerStatus).")
        case .expired: BatchError(code: "provider_expired", message: "The provider gave up on the batch for lack of time.")
        case .cancelled: BatchError(code: "cancelled", message: "The batch was cancelled.")
        default: nil
        }
    }
}
