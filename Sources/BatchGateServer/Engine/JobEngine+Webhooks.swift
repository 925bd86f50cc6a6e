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

        let record = ProviderEventRecord(
            jobID: id,
            provider: providerName,
            providerBatchID: event.providerBatchID,
            eventType: event.eventType,
            dedupeKey: event.dedupeKey,
            receivedAt: now(),
            payload: body
        )
        // Folded into the freshest version; a version conflict (a poll committed meanwhile) reads again.
        for _ in 0..<Self.maxConflicts {
            let (outcome, current, needsConfirmation) = try await locks.withLock(id) {
                let job = try await currentJob(id) ?? stored
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
                let outcome = try await commitOnce(
                    updated,
                    from: job,
                    attempts: [],
                    event: record,
                    touched: updated.state != job.state
                )
                return (outcome, current, needsConfirmation)
            }
            switch outcome {
            case .duplicate:
                return .duplicate
            case .conflict:
                continue
            case .stored:
                if needsConfirmation { scheduler.runSoon(id) }
                return current ? .applied : .recorded
            }
        }
        throw GatewayError(status: 503, code: "busy", message: "The job kept changing meanwhile; retry the delivery.")
    }
}
