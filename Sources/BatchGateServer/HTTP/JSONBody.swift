import BatchGateCore
import Foundation

/// Reads a JSON request body into a `JSONValue`, refusing anything a recursive decode should never see.
///
/// Before `JSONDecoder` runs, one pass over the bytes checks that the body is UTF-8, that nesting
/// stays within ``maxDepth`` (so no decode recurses deeper than that), that brackets balance and
/// match, that no object repeats a key (parsers disagree on which copy wins), and that there are no
/// trailing commas. Every refusal says what is wrong and at which byte; a value the decoder cannot
/// represent (a number like `1e400`, a lone UTF-16 surrogate) is refused naming its key path.
enum JSONBody {
    /// The deepest nesting of arrays and objects accepted in a request body.
    static let maxDepth = 64

    /// Decodes `body`, or throws a 400 with `code` naming the problem and, where known, the field.
    static func decode(_ body: [UInt8], code: String = "invalid_request", maxDepth: Int = maxDepth) throws(GatewayError) -> JSONValue {
        guard !body.isEmpty else {
            throw GatewayError(status: 400, code: code, message: "The body is empty; send a JSON object.")
        }
        try check(body, code: code, maxDepth: maxDepth)
        let data = Data(body)
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            if let path = unusableValuePath(data), !path.isEmpty { throw unrepresentable(path, code: code) }
            throw GatewayError(status: 400, code: code, message: "The body is not valid JSON.")
        }
    }

    /// The key path of the first value the decoder cannot represent (`1e400`, `01`, `"\ud800"`), or nil.
    private static func unusableValuePath(_ data: Data) -> [any CodingKey]? {
        do {
            _ = try JSONDecoder().decode(ValueLocator.self, from: data)
            return nil
        } catch let DecodingError.dataCorrupted(context) {
            return context.codingPath
        } catch let DecodingError.typeMismatch(_, context) {
            return context.codingPath
        } catch {
            return nil
        }
    }

    /// Walks a decoded document and fails at the first scalar that is neither null, a boolean, a
    /// 64-bit float nor a string, with that scalar's coding path (the first failure is not hidden by
    /// an enclosing container's attempt to read it as another type).
    private struct ValueLocator: Decodable {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            if var array = try? decoder.unkeyedContainer() {
                while !array.isAtEnd { _ = try array.decode(ValueLocator.self) }
                return
            }
            if let object = try? decoder.container(keyedBy: Key.self) {
                for key in object.allKeys { _ = try object.decode(ValueLocator.self, forKey: key) }
                return
            }
            let value = try decoder.singleValueContainer()
            let usable =
                value.decodeNil() || (try? value.decode(Bool.self)) != nil || (try? value.decode(Double.self)) != nil
                || (try? value.decode(String.self)) != nil
            guard usable else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unusable value"))
            }
        }
    }

    /// Checks encoding and structure without decoding: the pass ``decode(_:code:maxDepth:)`` makes first.
    static func check(_ body: [UInt8], code: String = "invalid_request", maxDepth: Int = maxDepth) throws(GatewayError) {
        if let offset = firstInvalidUTF8(body) {
            throw GatewayError(status: 400, code: code, message: "The body is not valid UTF-8 (at byte \(offset)).")
        }
        if let problem = structureProblem(body, maxDepth: maxDepth) {
            throw GatewayError(status: 400, code: code, message: "The body is not valid JSON: \(problem).")
        }
    }

    /// The byte offset of the first byte that is not part of a well-formed UTF-8 sequence, or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// What is structurally wrong with `bytes` (read as JSON text), or nil when the structure is sound.
    ///
    /// Tracks only strings, brackets, commas and colons; scalars (`tru`, `01`) are left to the decoder.
    /// Strings never contain an unescaped `"` or a byte below 0x20, and multi-byte UTF-8 never contains an
    /// ASCII byte, so scanning bytes is exact. The container stack never exceeds `maxDepth`.
    static func structureProblem(_ bytes: [UInt8], maxDepth: Int) -> String? {
        /// Per open container: whether it is an object, and the keys it has so far (arrays: none).
        var isObject: [Bool] = []
        var keys: [Set<[UInt8]>] = []
        /// In an object: the next string is a key. In an array: a value must follow (after `[` or `,`).
        var expectingKey = false
        var afterComma = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let start = index
                index += 1
                var escaped = false
                while index < bytes.count {
                    let current = bytes[index]
                    if escaped {
                        escaped = false
                    } else if current == UInt8(ascii: "\\") {
                        escaped = true
                    } else if current == UInt8(ascii: "\"") {
                        break
                    } else if current < 0x20 {
                        return "control character 0x\(String(current, radix: 16)) inside the string at byte \(start) (escape it)"
                    }
                    index += 1
                }
                guard index < bytes.count else { return "the string at byte \(start) is never closed" }
                if expectingKey, isObject.last == true {
                    let key = canonicalKey(Array(bytes[start...index]))
                    guard keys[keys.count - 1].insert(key).inserted else {
                        return "the key \(shown(key)) at byte \(start) repeats a key of the same object"
                    }
                    expectingKey = false
                }
                afterComma = false
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                guard isObject.count < maxDepth else {
                    return "nesting deeper than \(maxDepth) levels at byte \(index)"
                }
                let opensObject = byte == UInt8(ascii: "{")
                isObject.append(opensObject)
                keys.append([])
                expectingKey = opensObject
                afterComma = false
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                guard let openObject = isObject.popLast() else {
                    return "unexpected '\(Character(Unicode.Scalar(byte)))' at byte \(index)"
                }
                keys.removeLast()
                let closesObject = byte == UInt8(ascii: "}")
                if openObject != closesObject {
                    return "'\(Character(Unicode.Scalar(byte)))' at byte \(index) closes \(openObject ? "an object" : "an array")"
                }
                if afterComma { return "trailing comma before byte \(index)" }
                expectingKey = false
            case UInt8(ascii: ","):
                if isObject.last == true { expectingKey = true }
                afterComma = true
            default:
                if !isWhitespace(byte) { afterComma = false }
            }
            index += 1
        }
        if !isObject.isEmpty { return "the body ends with \(isObject.count) unclosed array(s) or object(s)" }
        return nil
    }

    /// A key's identity: its raw bytes, or its decoded text when it has escapes (`"a"` and `"\u0061"` are one key).
    private static func canonicalKey(_ quoted: [UInt8]) -> [UInt8] {
        guard quoted.contains(UInt8(ascii: "\\")) else { return Array(quoted.dropFirst().dropLast()) }
        guard let text = try? JSONDecoder().decode(String.self, from: Data(quoted)) else { return quoted }
        return Array(text.utf8)
    }

    private static func shown(_ key: [UInt8]) -> String {
        let text = String(decoding: key.prefix(64), as: UTF8.self)
        return "'\(text)\(key.count > 64 ? "…" : "")'"
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    private static func unrepresentable(_ path: [any CodingKey], code: String) -> GatewayError {
        let field = fieldPath(path)
        return GatewayError(
            status: 400,
            code: code,
            message:
                "\(field) is not a usable JSON value: numbers must fit in a 64-bit float and be written as JSON numbers, strings must be valid Unicode.",
            field: field
        )
    }

    /// `input.urls[3]` for the coding path input → urls → 3.
    static func fieldPath(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return text
    }
}
