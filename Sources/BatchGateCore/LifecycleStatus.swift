/// The provider-independent status of a job (CONTRACT §1).
///
/// Transitions only move forward: `pending → running → terminal` or `pending → terminal`.
/// A terminal status never changes.
public enum LifecycleStatus: String, Codable, Sendable, CaseIterable, Hashable {
    case pending
    case running
    case completed
    case failed
    case cancelled
    case expired

    /// Whether the status is final.
    public var isTerminal: Bool {
        switch self {
        case .pending, .running: false
        case .completed, .failed, .cancelled, .expired: true
        }
    }

    /// Position in the forward-only order: pending 0, running 1, any terminal 2.
    public var rank: Int {
        switch self {
        case .pending: 0
        case .running: 1
        case .completed, .failed, .cancelled, .expired: 2
        }
    }

    /// Whether a job may move from `self` to `next`. Staying put is not a transition.
    public func canTransition(to next: LifecycleStatus) -> Bool {
        guard !isTerminal, next != self else { return false }
        return next.rank > rank
    }
}
