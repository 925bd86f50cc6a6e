import BatchGateCore

/// Which client webhook events a change of a job causes (CONTRACT §4), as delivery keys.
enum WebhookEvents {
    /// The events `next` causes, compared with `previous` (nil for a new job), that the job's
    /// subscription wants. `batch.progress` fires once per 10 % bucket reached, only while running.
    static func caused(by next: Job, previous: Job?) -> [(key: String, type: WebhookEventType)] {
        guard let subscription = next.webhook else { return [] }
        var events: [(key: String, type: WebhookEventType)] = []
        if previous == nil {
            events.append(("batch.created", .created))
        }
        let newBucket = next.state.progress.percent / 10 * 10
        let oldBucket = (previous?.state.progress.percent ?? 0) / 10 * 10
        if !next.state.lifecycle.isTerminal, newBucket > oldBucket, newBucket > 0 {
            events.append(("batch.progress:\(newBucket)", .progress))
        }
        if let previous, !previous.state.lifecycle.isTerminal, let terminal = WebhookEventType.terminal(next.state.lifecycle) {
            events.append((terminal.rawValue, terminal))
        } else if previous == nil, let terminal = WebhookEventType.terminal(next.state.lifecycle) {
            events.append((terminal.rawValue, terminal))
        }
        return events.filter { subscription.wants($0.type) }
    }
}
