public import BatchGateCore
import Synchronization

/// A piece of a streamed HTTP response: the head once, then body chunks as they arrive.
public enum HTTPStreamPart: Sendable {
    /// The final status and headers; always the first part.
    case head(status: Int, headers: [(name: String, value: String)])
    /// Body bytes in arrival order, in chunks of any size.
    case body([UInt8])
}

extension CurlHTTPClient {
    /// Sends the request and hands `body` the response as it arrives: a `.head` part, then `.body`
    /// chunks; the stream finishes when the response is complete, or throws the `TransportError`
    /// ``send(_:)`` would.
    ///
    /// `request.timeout` caps the whole exchange, so give a long-lived stream a long one. The transfer
    /// is aborted when `body` returns or throws, or the task is cancelled. `maxResponseBytes` does not
    /// apply; chunks not yet read are buffered, so read promptly.
    public func stream<R: Sendable>(
        _ request: HTTPRequest,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (AsyncThrowingStream<HTTPStreamPart, any Error>) async throws -> R
    ) async throws -> R {
        let prepared = try PreparedRequest(request.carryingTraceContext())
        let (parts, continuation) = AsyncThrowingStream.makeStream(of: HTTPStreamPart.self)
        let sink = StreamSink(continuation)
        let loop = loop
        return try await withThrowingTaskGroup(of: Void.self, isolation: isolation) { group in
            group.addTask {
                let id = loop.makeTransferID()
                let result = await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<TransferResult, Never>) in
                        loop.submit(Submission(id: id, request: prepared, continuation: continuation, sink: sink))
                    }
                } onCancel: {
                    loop.cancel(id)
                }
                sink.finish(result)
            }
            let value = try await body(parts)
            group.cancelAll()
            return value
        }
    }
}

/// Takes a streamed response on the event thread and passes it on as `HTTPStreamPart`s.
final class StreamSink: Sendable {
    private let continuation: AsyncThrowingStream<HTTPStreamPart, any Error>.Continuation
    private let headSent = Atomic<Bool>(false)

    init(_ continuation: AsyncThrowingStream<HTTPStreamPart, any Error>.Continuation) {
        self.continuation = continuation
    }

    /// Passes on body bytes (after the head, the first time); false once nobody reads any more,
    /// which aborts the transfer.
    func receive(status: Int, headers: [(name: String, value: String)], _ bytes: UnsafeRawBufferPointer) -> Bool {
        sendHead(status: status, headers: headers)
        if case .terminated = continuation.yield(.body(Array(bytes))) { return false }
        return true
    }

    /// Ends the stream with the transfer's outcome (the head too, for a response without a body).
    func finish(_ result: TransferResult) {
        switch result {
        case .success(let response):
            sendHead(status: response.status, headers: response.headers)
            continuation.finish()
        case .failure(let error):
            continuation.finish(throwing: error)
        }
    }

    private func sendHead(status: Int, headers: [(name: String, value: String)]) {
        guard !headSent.exchange(true, ordering: .relaxed) else { return }
        continuation.yield(.head(status: status, headers: headers))
    }
}
