import BatchGateCore

/// Inbound vendor webhooks.
extension JobEngine {
    /// Verifies the per-job token, stores the event durably and folds it into the job.
    ///
    /// An event announcing a terminal state, or one that disagrees with the stored state, is only
    /// taken as a hint: a poll confirms it before the job finishes.
    func receiveWebhook(provider providerName: String, token: String, request: InboundWebhookRequest) async throws -> WebhookReceipt {
        let body = request.body
        let unauthorized = GatewayError(status: 401, code: "invalid_token", message: "Unknown or invalid webhook token.")
        guard let dot = token.firstIndex(of: "."), let provider = providers[providerName] else { throw unauthorized }
        let id = String(token[..<dot])
        let secret = String(token[token.index(after: dot)...])
        guard Identifier.isWellFormed(id, prefix: "bat") else { throw unauthorized }
        guard let stored = try await currentJob(id), Identifier.constantTimeEquals(secret, stored.inboundSecret),
            stored.provider == providerName || stored.history.contains(where: { $0.provider == providerName })
        else { throw unauthorized }

        let event: InboundEvent
        do {
            event = try provider.decodeWebhook(request)
        } catch  where error.code == .rejected {
            // A signature that does not verify: refused like a bad token, and nothing is stored.
            throw GatewayError(status: 401, code: "invalid_signature", message: error.message)
        } catch {
            throw GatewayError(status: 400, code: "invalid_payload", message: error.message)
        }

        return try await locks.withLock(id) {
            let job = cache.job(id) ?? stored
            let record = ProviderEventRecord(
                jobID: id,
                provider: providerName,
                providerBatchID: event.providerBatchID,
                eventType: event.eventType,
                dedupeKey: event.dedupeKey,
                receivedAt: now(),
                payload: body
            )
            var updated = job
            let current =
                job.provider == providerName && job.providerBatchID == event.providerBatchID
                && !job.state.lifecycle.isTerminal
            var needsConfirmation = false
            if current {
                var observation = event.observation
                needsConfirmation = observation.lifecycle.isTerminal || observation.lifecycle.rank < job.state.lifecycle.rank
                if observation.lifecycle.isTerminal {
                    observation.lifecycle = .running
                    observation.providerStatus = job.state.providerStatus ?? observation.providerStatus
                    observation.error = nil
                }
                updated.state = JobStateMachine.apply(observation, to: job.state, at: now())
                updated.correlation.merge(observation.correlation) { _, new in new }
            }
            let nextJob = next(updated, from: job, touched: updated.state != job.state)
            let deliveries = try await deliveries(for: nextJob, previous: job)
            let outcome = try await store.apply(
                JobChange(job: nextJob, event: record, deliveries: deliveries, lease: leases.lease(id))
            )
            switch outcome {
            case .duplicateEvent:
                return .duplicate
            case .conflict, .leaseLost:
                if outcome == .leaseLost { leases.forget(id) }
                try await reload(id)
                throw GatewayError(status: 503, code: "busy", message: "The job changed meanwhile; retry the delivery.")
            case .stored:
                cache.put(nextJob)
                if !deliveries.isEmpty { notifyDeliveriesQueued() }
                if needsConfirmation { scheduler.runSoon(id) }
                return current ? .applied : .recorded
            }
        }
    }
}
