import BatchGateCore

/// Readers for vendor JSON fields that arrive in more than one shape (numbers as strings, ids as numbers,
/// errors as strings or objects). Null, missing or blank values read as nil; anything else that does not
/// fit is a `DecodingError` naming the field.
extension KeyedDecodingContainer {
    /// A string, or a number written as a string.
    func lenientString(_ key: Key) throws -> String? {
        guard contains(key), !(try decodeNil(forKey: key)) else { return nil }
        if let text = try? decode(String.self, forKey: key) { return text }
        if let number = try? decode(Int64.self, forKey: key) { return String(number) }
        if let number = try? decode(Double.self, forKey: key) { return String(number) }
        throw DecodingError.typeMismatch(
            String.self,
            DecodingError.Context(codingPath: codingPath + [key], debugDescription: "expected a string")
        )
    }

    /// The largest count, id or token number a vendor may send. Counts are untrusted: one above this (or
    /// below zero) makes the whole answer unreadable instead of reaching arithmetic, where it could overflow.
    static var maxCount: Int64 { 1_000_000_000 }

    /// A count (a whole number from 0 to `maxCount`) given as a JSON number or a numeric string. Anything
    /// else, a negative or absurdly large number included, is a `DecodingError` naming the field.
    func lenientInt(_ key: Key) throws -> Int? {
        guard let value = try lenientInt64(key) else { return nil }
        guard (0...Self.maxCount).contains(value) else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: codingPath + [key],
                    debugDescription: "expected a count from 0 to \(Self.maxCount), got \(value)"
                )
            )
        }
        return Int(value)
    }

    /// A whole number given as a JSON number or a numeric string (64 bits, e.g. millisecond timestamps).
    func lenientInt64(_ key: Key) throws -> Int64? {
        guard contains(key), !(try decodeNil(forKey: key)) else { return nil }
        if let value = try? decode(Int64.self, forKey: key) { return value }
        if let value = try? decode(Double.self, forKey: key), value.rounded() == value, abs(value) < 9.0e15 { return Int64(value) }
        if let text = try? decode(String.self, forKey: key) {
            let trimmed = text.trimmingPrefix(while: \.isWhitespace)
            if trimmed.isEmpty { return nil }
            if let value = Int64(trimmed) { return value }
            if let value = Double(trimmed), value.rounded() == value, abs(value) < 9.0e15 { return Int64(value) }
        }
        throw DecodingError.typeMismatch(
            Int64.self,
            DecodingError.Context(codingPath: codingPath + [key], debugDescription: "expected an integer")
        )
    }

    /// A number given as a JSON number or a numeric string.
    func lenientDouble(_ key: Key) throws -> Double? {
        guard contains(key), !(try decodeNil(forKey: key)) else { return nil }
        if let value = try? decode(Double.self, forKey: key) { return value }
        if let text = try? decode(String.self, forKey: key) {
            let trimmed = text.trimmingPrefix(while: \.isWhitespace)
            if trimmed.isEmpty { return nil }
            if let value = Double(trimmed), value.isFinite { return value }
        }
        throw DecodingError.typeMismatch(
            Double.self,
            DecodingError.Context(codingPath: codingPath + [key], debugDescription: "expected a number")
        )
    }

    /// Text given as a string or as an object with a `message` (or `detail`, or `error`) string.
    func lenientMessage(_ key: Key) throws -> String? {
        guard contains(key), !(try decodeNil(forKey: key)) else { return nil }
        if let text = try? decode(String.self, forKey: key) { return text }
        if let object = try? decode(JSONValue.self, forKey: key) {
            return object["message"]?.stringValue ?? object["detail"]?.stringValue ?? object["error"]?.stringValue
        }
        return nil
    }
}
