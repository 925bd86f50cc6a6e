import BatchGateCore
import CCurl
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The thread that drives every transfer of one client through one libcurl multi handle.
///
/// Other threads never touch libcurl state: they append commands to a locked queue and wake the
/// thread with `curl_multi_wakeup`. The thread owns the easy handles, the table of active transfers
/// and the idle handle pool, all of which live in `run()`.
final class CurlEventLoop: Sendable {
    enum Phase: Sendable {
        case running
        /// Shutdown was requested; the thread fails what is left and exits.
        case stopping
        case stopped
    }

    enum Command: Sendable {
        case submit(Submission)
        case cancel(UInt64)
    }

    private struct Shared {
        var commands: [Command] = []
        /// A wakeup was sent since the thread last drained `commands`; saves redundant wakeups.
        var wakeupPending = false
        var phase: Phase = .running
        /// Taken by the first `shutdown()`, which joins it.
        var thread: pthread_t?
    }

    /// Idle easy handles kept for reuse; more are freed when transfers finish.
    private static let idleHandleLimit = 256
    /// Upper bound on one `curl_multi_poll` wait; libcurl returns sooner for its own timers.
    private static let pollTimeoutMilliseconds: Int32 = 1000

    let configuration: CurlHTTPClient.Configuration
    let logger: Logger
    private let multi: MultiHandle
    private let shared = Mutex(Shared())
    private let nextTransferID = Atomic<UInt64>(1)
    /// Transfers currently owned by the multi handle, refreshed once per loop iteration.
    let activeTransferCount = Atomic<Int>(0)

    init(configuration: CurlHTTPClient.Configuration, logger: Logger) throws(TransportError) {
        if let failure = CurlGlobal.ensureInitialized() {
            throw TransportError(.connection, "libcurl could not be initialised: \(failure)")
        }
        guard let multi = MultiHandle() else {
            throw TransportError(.connection, "libcurl could not create a multi handle")
        }
        let options: [(CURLMoption, Int, String)] = [
            (CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost, "maxConnectionsPerHost"),
            (CURLMOPT_MAX_TOTAL_CONNECTIONS, configuration.maxTotalConnections, "maxTotalConnections"),
            (CURLMOPT_MAXCONNECTS, configuration.maxTotalConnections, "maxTotalConnections"),
            (CURLMOPT_PIPELINING, bg_curlpipe_multiplex, "pipelining"),
        ]
        for (option, value, name) in options {
            let code = multi.set(option, value)
            guard code == CURLM_OK else {
                throw TransportError(
                    .invalidRequest,
                    "libcurl refused configuration \(name)=\(value): \(CurlHandleSupport.text(of: code))"
                )
            }
        }
        self.configuration = configuration
        self.logger = logger
        self.multi = multi
    }

    /// Starts the event thread. Called once, right after `init`.
    func start() throws(TransportError) {
        let retained = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread,
            nil,
            { argument in
                CurlEventLoop.threadMain(argument)
                return nil
            },
            retained
        )
        guard result == 0 else {
            Unmanaged<CurlEventLoop>.fromOpaque(retained).release()
            shared.withLock { $0.phase = .stopped }
            throw TransportError(.connection, "could not start the HTTP event thread (pthread_create error \(result))")
        }
        shared.withLock { $0.thread = thread }
    }

    private static func threadMain(_ argument: UnsafeMutableRawPointer?) {
        guard let argument else { return }
        // Balances the `passRetained` in `start()`: the thread keeps the loop alive until it exits.
        let loop = Unmanaged<CurlEventLoop>.fromOpaque(argument).takeRetainedValue()
        loop.run()
    }

    /// A process-unique id for a new transfer.
    func makeTransferID() -> UInt64 {
        nextTransferID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Hands a request to the event thread. Must be called from the task that awaits the result:
    /// a task already cancelled gets `.cancelled` at once, and so does every request after shutdown.
    func submit(_ submission: Submission) {
        enum Outcome { case queued(wake: Bool), cancelled, stopped }
        let outcome = shared.withLock { shared -> Outcome in
            guard shared.phase == .running else { return .stopped }
            // Checked under the lock: a cancellation handler that runs after this point queues its
            // `.cancel` behind this `.submit`, so the event thread always sees them in order.
            if Task.isCancelled { return .cancelled }
            shared.commands.append(.submit(submission))
            if shared.wakeupPending { return .queued(wake: false) }
            shared.wakeupPending = true
            return .queued(wake: true)
        }
        switch outcome {
        case .queued(let wake):
            if wake { multi.wakeup() }
        case .cancelled:
            submission.continuation.resume(returning: .failure(Self.cancelledError(submission.request)))
        case .stopped:
            submission.continuation.resume(returning: .failure(Self.shutDownError(submission.request)))
        }
    }

    /// Asks the event thread to abort a transfer; does nothing when it already finished.
    func cancel(_ id: UInt64) {
        let wake = shared.withLock { shared -> Bool in
            guard shared.phase == .running else { return false }
            shared.commands.append(.cancel(id))
            if shared.wakeupPending { return false }
            shared.wakeupPending = true
            return true
        }
        if wake { multi.wakeup() }
    }

    /// Stops the event thread, failing outstanding transfers with `.cancelled`, and waits for it to
    /// exit. Idempotent; a concurrent second caller returns without waiting.
    func shutdown() {
        let thread = shared.withLock { shared -> pthread_t? in
            if shared.phase == .running { shared.phase = .stopping }
            defer { shared.thread = nil }
            return shared.thread
        }
        guard let thread else { return }
        multi.wakeup()
        if pthread_equal(thread, pthread_self()) != 0 {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }

    // MARK: - The event thread

    private func run() {
        logger.debug("HTTP event thread started")
        var active: [UInt64: Transfer] = [:]
        var idle: [EasyHandle] = []
        var batch: [Command] = []

        func recycle(_ easy: EasyHandle) {
            easy.reset()
            if idle.count < Self.idleHandleLimit { idle.append(easy) }
        }

        func start(_ submission: Submission) {
            guard let easy = idle.popLast() ?? EasyHandle() else {
                submission.continuation.resume(
                    returning: .failure(
                        TransportError(
                            .connection,
                            "\(submission.request.method) \(submission.request.origin): libcurl could not create a handle"
                        )
                    )
                )
                return
            }
            let transfer = Transfer(submission: submission, easy: easy, configuration: configuration)
            if let error = transfer.configure(submission.request, configuration: configuration) {
                recycle(easy)
                submission.continuation.resume(returning: .failure(error))
                return
            }
            let code = curl_multi_add_handle(multi.raw, easy.raw)
            guard code == CURLM_OK else {
                recycle(easy)
                submission.continuation.resume(
                    returning: .failure(
                        TransportError(
                            .connection,
                            "\(transfer.method) \(transfer.origin): libcurl could not start the transfer: "
                                + CurlHandleSupport.text(of: code)
                        )
                    )
                )
                return
            }
            active[submission.id] = transfer
        }

        func abort(_ transfer: Transfer, with error: TransportError) {
            curl_multi_remove_handle(multi.raw, transfer.easy.raw)
            recycle(transfer.easy)
            transfer.continuation.resume(returning: .failure(error))
        }

        func collectFinished() {
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi.raw, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let easyRaw = message.pointee.easy_handle else { continue }
                // The message does not survive curl_multi_remove_handle: read it first.
                let code = message.pointee.data.result
                var privatePointer: UnsafeMutableRawPointer?
                guard bg_curl_easy_getinfo_pointer(easyRaw, CURLINFO_PRIVATE, &privatePointer) == CURLE_OK,
                    let privatePointer
                else {
                    logger.error("finished libcurl transfer has no owner; removing it")
                    curl_multi_remove_handle(multi.raw, easyRaw)
                    continue
                }
                let transfer = Unmanaged<Transfer>.fromOpaque(privatePointer).takeUnretainedValue()
                curl_multi_remove_handle(multi.raw, easyRaw)
                active.removeValue(forKey: transfer.id)
                let outcome = transfer.outcome(code)
                if case .failure(let error) = outcome {
                    logger.debug(
                        "HTTP request failed",
                        metadata: ["http.origin": "\(transfer.origin)", "error.code": "\(error.code.rawValue)"]
                    )
                }
                recycle(transfer.easy)
                transfer.continuation.resume(returning: outcome)
            }
        }

        func stop(failing error: (Transfer) -> TransportError) {
            for transfer in active.values { abort(transfer, with: error(transfer)) }
            active.removeAll()
            idle.removeAll()
            activeTransferCount.store(0, ordering: .relaxed)
            let leftover = shared.withLock { shared -> [Command] in
                shared.phase = .stopped
                defer { shared.commands.removeAll() }
                return shared.commands
            }
            for case .submit(let submission) in leftover {
                submission.continuation.resume(returning: .failure(Self.shutDownError(submission.request)))
            }
        }

        while true {
            let stopping = shared.withLock { shared -> Bool in
                swap(&batch, &shared.commands)
                shared.wakeupPending = false
                return shared.phase != .running
            }
            for command in batch {
                switch command {
                case .submit(let submission):
                    if stopping {
                        submission.continuation.resume(returning: .failure(Self.shutDownError(submission.request)))
                    } else {
                        start(submission)
                    }
                case .cancel(let id):
                    guard let transfer = active.removeValue(forKey: id) else { continue }
                    abort(
                        transfer,
                        with: TransportError(.cancelled, "\(transfer.method) \(transfer.origin): the request was cancelled")
                    )
                }
            }
            batch.removeAll(keepingCapacity: true)
            if stopping {
                stop { TransportError(.cancelled, "\($0.method) \($0.origin): the HTTP client was shut down") }
                break
            }

            var running: Int32 = 0
            let performCode = curl_multi_perform(multi.raw, &running)
            if performCode != CURLM_OK {
                logger.error(
                    "curl_multi_perform failed",
                    metadata: ["error": "\(CurlHandleSupport.text(of: performCode))"]
                )
            }
            collectFinished()
            activeTransferCount.store(active.count, ordering: .relaxed)

            let pollCode = curl_multi_poll(multi.raw, nil, 0, Self.pollTimeoutMilliseconds, nil)
            if pollCode != CURLM_OK {
                let text = CurlHandleSupport.text(of: pollCode)
                logger.critical("curl_multi_poll failed; the HTTP client stops", metadata: ["error": "\(text)"])
                stop { TransportError(.connection, "\($0.method) \($0.origin): the HTTP event loop failed: \(text)") }
                break
            }
        }
        logger.debug("HTTP event thread stopped")
    }

    private static func cancelledError(_ request: PreparedRequest) -> TransportError {
        TransportError(.cancelled, "\(request.method) \(request.origin): the request was cancelled")
    }

    private static func shutDownError(_ request: PreparedRequest) -> TransportError {
        TransportError(.cancelled, "\(request.method) \(request.origin): the HTTP client was shut down")
    }
}
