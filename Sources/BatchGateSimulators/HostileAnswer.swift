import BatchGateCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a simulator mangles an answer it would otherwise give correctly, to prove that a vendor's worst
/// answers cannot crash the gateway or corrupt a job. Set with the `hostile=<kind>[:<n>]` fault.
public enum HostileAnswer: String, Sendable, Hashable, CaseIterable {
    /// Every number replaced by an absurd one (Int64.max, its negation, 1e308, -1, 2^53 + 1), by position.
    case absurdNumbers = "absurd-numbers"
    /// Numbers become strings, strings become numbers, arrays become objects and objects arrays.
    case wrongTypes = "wrong-types"
    /// The body cut off halfway.
    case truncated
    /// A body of 64 MiB: well past what a gateway should read.
    case oversized
    /// Bytes that are not UTF-8 inside every string.
    case invalidUTF8 = "invalid-utf8"
    /// Not JSON at all.
    case notJSON = "not-json"

    /// The largest body an `oversized` answer sends.
    public static let oversizedBytes = 64 << 20

    /// The bytes to send instead of `value`'s JSON encoding; nil for `oversized`, which is streamed
    /// (`responseBody(for:)`) rather than built in memory.
    func body(for value: JSONValue) -> [UInt8]? {
        switch self {
        case .absurdNumbers:
            var counter = 0
            return Self.encode(Self.absurd(value, &counter))
        case .wrongTypes:
            return Self.encode(Self.swapped(value, top: true))
        case .truncated:
            let bytes = Self.encode(value)
            return Array(bytes.prefix(max(1, bytes.count / 2)))
        case .oversized:
            return nil
        case .invalidUTF8:
            var out: [UInt8] = []
            var inString = false
            var escaped = false
            for byte in Self.encode(value) {
                out.append(byte)
                if inString && !escaped && byte == UInt8(ascii: "\"") {
                    inString = false
                } else if !inString && byte == UInt8(ascii: "\"") {
                    inString = true
                    out.append(contentsOf: [0xFF, 0xC3, 0x28])
                }
                escaped = inString && !escaped && byte == UInt8(ascii: "\\")
            }
            return out
        case .notJSON:
            return Array("<html><body>502 Bad Gateway</body></html>".utf8)
        }
    }

    private static let absurdValues: [JSONValue] = [
        .integer(Int64.max), .integer(Int64.min), .number(1e308), .integer(-1), .integer(9_007_199_254_740_993),
    ]

    private static func absurd(_ value: JSONValue, _ counter: inout Int) -> JSONValue {
        switch value {
        case .integer, .number:
            counter += 1
            return absurdValues[counter % absurdValues.count]
        case .array(let items):
            return .array(items.map { absurd($0, &counter) })
        case .object(let members):
            var out: [String: JSONValue] = [:]
            for key in members.keys.sorted() { out[key] = absurd(members[key] ?? .null, &counter) }
            return .object(out)
        default:
            return value
        }
    }

    private static func swapped(_ value: JSONValue, top: Bool = false) -> JSONValue {
        switch value {
        case .integer, .number: return .string("lots")
        case .string: return .integer(42)
        case .bool(let flag): return .string(flag ? "yes" : "no")
        case .array(let items): return .object(["0": items.first.map { swapped($0) } ?? .null])
        case .object(let members) where top:
            // The top level keeps its shape, so the mangling reaches the fields an adapter reads.
            return .object(members.mapValues { swapped($0) })
        case .object(let members):
            return .array(members.keys.sorted().map { .object([$0: swapped(members[$0] ?? .null)]) })
        case .null: return .object([:])
        }
    }

    private static func encode(_ value: JSONValue) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }
}
