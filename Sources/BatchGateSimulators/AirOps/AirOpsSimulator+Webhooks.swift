import BatchGateCore
import Logging
import Synchronization

extension AirOpsSimulator {
    /// Finds due webhook events every `webhookTick` and hands them to one sequential sender per batch,
    /// so a batch's events leave in order unless the out-of-order fault says otherwise. Ends on cancellation.
    func runWebhookScheduler() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            while true {
                let now = Timestamp.now()
                let ready = state.withLock { state in Self.collectDueEvents(&state, now: now) }
                for batchID in ready {
                    group.addTask { await self.drainOutbox(batchID) }
                }
                try await Task.sleep(for: configuration.webhookTick)
            }
        }
    }

    /// Moves every due event into its batch's outbox, applying the webhook faults, and returns the
    /// batches whose outbox needs a sender started.
    static func collectDueEvents(_ state: inout State, now: Timestamp) -> [String] {
        let faults = state.faults
        guard !faults.webhooksPaused else { return [] }
        var ready: [String] = []
        for batchID in state.creationOrder {
            guard var record = state.batches[batchID], let url = record.webhookURL else { continue }
            let events = record.timeline.events
            func enqueue(_ event: AirOpsTimeline.Event) {
                let delivery = Delivery(batchID: batchID, event: event, url: url)
                record.outbox.append(delivery)
                if faults.duplicateWebhooks { record.outbox.append(delivery) }
            }
            while record.nextEvent < events.count, events[record.nextEvent].at <= now {
                let event = events[record.nextEvent]
                record.nextEvent += 1
                if faults.droppedEvents.contains(event.type) {
                    state.sent.append(
                        SentWebhook(
                            batchID: batchID,
                            eventType: event.type,
                            url: url,
                            outcome: .dropped,
                            attempts: 0,
                            lastStatus: nil,
                            body: [],
                            at: now
                        )
                    )
                    continue
                }
                if faults.outOfOrderWebhooks {
                    if let held = record.deferred {
                        enqueue(event)
                        enqueue(held)
                        record.deferred = nil
                    } else if events[record.nextEvent...].contains(where: { !faults.droppedEvents.contains($0.type) }) {
                        record.deferred = event
                    } else {
                        enqueue(event)
                    }
                } else {
                    if let held = record.deferred {
                        enqueue(held)
                        record.deferred = nil
                    }
                    enqueue(event)
                }
            }
            if !faults.outOfOrderWebhooks, let held = record.deferred {
                enqueue(held)
                record.deferred = nil
            }
            if !record.outbox.isEmpty, !record.delivering {
                record.delivering = true
                ready.append(batchID)
            }
            state.batches[batchID] = record
        }
        return ready
    }

    /// Sends a batch's queued events one after the other until its outbox is empty.
    func drainOutbox(_ batchID: String) async {
        while !Task.isCancelled {
            let next: (Delivery, AirOpsTimeline)? = state.withLock { state in
                guard var record = state.batches[batchID] else { return nil }
                guard !record.outbox.isEmpty else {
                    record.delivering = false
                    state.batches[batchID] = record
                    return nil
                }
                let delivery = record.outbox.removeFirst()
                state.batches[batchID] = record
                return (delivery, record.timeline)
            }
            guard let (delivery, timeline) = next else { return }
            await deliver(delivery, timeline: timeline)
        }
    }

    /// One event with retries; the outcome is recorded in `sentWebhooks()`.
    private func deliver(_ delivery: Delivery, timeline: AirOpsTimeline) async {
        let retry = configuration.webhookRetry
        var lastStatus: Int?
        var body: [UInt8] = []
        for attempt in 1...retry.maxAttempts {
            let sentAt = Timestamp.now()
            body = Self.encode(timeline.webhookPayload(delivery.event, sentAt: sentAt))
            let request = HTTPRequest(
                method: "POST",
                url: delivery.url,
                headers: [("Content-Type", "application/json"), ("User-Agent", "Olostep-Webhooks/1.0")],
                body: body,
                timeout: retry.timeout
            )
            do {
                let response = try await webhookTransport.send(request)
                lastStatus = response.status
                if (200..<300).contains(response.status) {
                    record(delivery, .delivered, attempts: attempt, lastStatus: lastStatus, body: body)
                    return
                }
            } catch {
                if error.code == .cancelled || Task.isCancelled { return }
                lastStatus = nil
            }
            logger.debug(
                "AirOps simulator webhook attempt failed",
                metadata: ["event": "\(delivery.event.type)", "attempt": "\(attempt)", "status": "\(lastStatus.map(String.init) ?? "none")"]
            )
            if attempt < retry.maxAttempts {
                do { try await Task.sleep(for: retry.backoff(after: attempt)) } catch { return }
            }
        }
        record(delivery, .failed, attempts: retry.maxAttempts, lastStatus: lastStatus, body: body)
    }

    private func record(_ delivery: Delivery, _ outcome: SentWebhook.Outcome, attempts: Int, lastStatus: Int?, body: [UInt8]) {
        let entry = SentWebhook(
            batchID: delivery.batchID,
            eventType: delivery.event.type,
            url: delivery.url,
            outcome: outcome,
            attempts: attempts,
            lastStatus: lastStatus,
            body: body,
            at: .now()
        )
        state.withLock { $0.sent.append(entry) }
    }
}
