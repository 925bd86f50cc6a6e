import BatchGateCore
import Hummingbird

extension HostileAnswer {
    /// The response body to send in place of `value`'s JSON encoding.
    ///
    /// An `oversized` answer is streamed in 1 MiB pieces without a length: the simulator never holds
    /// 64 MiB, the client sees a body that only turns out too large as it reads, and the stream stops as
    /// soon as the client hangs up.
    func responseBody(for value: JSONValue) -> ResponseBody {
        if let bytes = body(for: value) { return ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)) }
        return ResponseBody { writer in
            try await writer.write(ByteBuffer(string: #"{"padding":""#))
            for _ in 0..<(Self.oversizedBytes / Self.oversizedPiece.readableBytes) {
                try await writer.write(Self.oversizedPiece)
            }
            try await writer.write(ByteBuffer(string: #""}"#))
            try await writer.finish(nil)
        }
    }

    private static let oversizedPiece = ByteBuffer(repeating: UInt8(ascii: "x"), count: 1 << 20)
}
