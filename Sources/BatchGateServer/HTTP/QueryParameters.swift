import BatchGateCore
import Foundation
import Hummingbird

/// The query string of one request, checked against the parameters its route takes.
///
/// An unknown parameter (a typo such as `lifecycle=` would otherwise silently filter nothing) and a
/// parameter given twice are refused with a 400 naming it; values are read with the typed accessors,
/// whose refusals name the parameter in `field`. Integers are plain decimal digits, at most 18 of them,
/// so no accepted value is anywhere near overflowing.
struct QueryParameters {
    private var values: [String: String] = [:]

    /// Reads the request's query; `allowed` lists every parameter the route takes.
    init(_ request: Request, allowed: Set<String>) throws(GatewayError) {
        try self.init(request.uri.queryParameters, allowed: allowed)
    }

    /// Reads name–value pairs as split from a query string (values already percent-decoded).
    init(_ pairs: some Sequence<(key: Substring, value: Substring)>, allowed: Set<String>) throws(GatewayError) {
        for (rawKey, value) in pairs {
            let name = String(rawKey).removingPercentEncoding ?? String(rawKey)
            if name.isEmpty && value.isEmpty { continue }
            guard allowed.contains(name) else {
                let takes =
                    allowed.isEmpty ? "this route takes no query parameters" : "this route takes \(allowed.sorted().joined(separator: ", "))"
                throw .invalid(Self.shown(name), "Unknown query parameter '\(Self.shown(name))'; \(takes).")
            }
            guard values[name] == nil else { throw .invalid(name, "The query parameter \(name) is given more than once.") }
            values[name] = String(value)
        }
    }

    /// The value of `name`, or nil when absent.
    subscript(name: String) -> String? { values[name] }

    /// `name` as a non-negative integer within `range`, or nil when absent.
    func integer(_ name: String, in range: ClosedRange<Int>, meaning: String) throws(GatewayError) -> Int? {
        guard let text = values[name] else { return nil }
        guard !text.isEmpty, text.count <= 18, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let value = Int(text), range.contains(value)
        else {
            throw .invalid(name, "\(name) must be \(meaning), not '\(Self.shown(text))'.")
        }
        return value
    }

    /// `limit`: an integer from 1 to `maximum`, `defaultValue` when absent.
    func limit(default defaultValue: Int, max maximum: Int) throws(GatewayError) -> Int {
        try integer("limit", in: 1...maximum, meaning: "an integer from 1 to \(maximum)") ?? defaultValue
    }

    /// `name` as one of `choices`, or nil when absent; the refusal lists the choices.
    func choice(_ name: String, of choices: some Collection<String>) throws(GatewayError) -> String? {
        guard let text = values[name] else { return nil }
        guard choices.contains(text) else {
            throw .invalid(name, "Unknown \(name) '\(Self.shown(text))'; one of \(choices.sorted().joined(separator: ", ")).")
        }
        return text
    }

    /// A client's text as quoted in an error: at most 64 characters, control characters dropped.
    static func shown(_ text: String) -> String {
        let printable = text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }
        let head = String(String.UnicodeScalarView(printable.prefix(64)))
        return printable.count > 64 ? head + "…" : head
    }
}
