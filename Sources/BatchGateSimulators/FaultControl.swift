import Hummingbird

/// `PUT /simulator/faults`: replaces a running simulator's faults with the fault text in the body (the
/// syntax of `batchgate simulate --faults`), so a long test can inject faults again and again. Answers
/// 204, or 400 naming the entry at fault.
enum FaultControl {
    static let path = "/simulator/faults"

    static func register<Context: RequestContext, Faults>(
        on router: Router<Context>,
        parse: @escaping @Sendable (String) throws(SimulatorError) -> Faults,
        apply: @escaping @Sendable (Faults) -> Void
    ) {
        router.put(RouterPath(path)) { request, context in
            let body = try await request.body.collect(upTo: 4096)
            let text = String(buffer: body)
            do throws(SimulatorError) {
                apply(try parse(text))
                return Response(status: .noContent)
            } catch {
                return Response(
                    status: .badRequest,
                    headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: "\(error.field.map { "\($0): " } ?? "")\(error.message)\n"))
                )
            }
        }
    }
}
