/// Any JSON value, kept as given: vendor payload parts, client metadata, schemas and extracted data.
///
/// Whole numbers that fit in 64 bits are kept exactly as `.integer` (a millisecond timestamp or a
/// vendor's 19-digit id must not be rounded to the nearest `Double`); other numbers are `.number`.
/// `.integer(n)` and `.number(Double(n))` are equal and hash alike, so a value compares the same
/// whichever way it was built.
public enum JSONValue: Sendable, Codable {
    case null
    case bool(Bool)
    /// A number with a fraction or exponent, or a whole number beyond the 64-bit range.
    case number(Double)
    /// A whole number within the 64-bit range, exact.
    case integer(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value):
            if let exact = Self.exactInteger(value) {
                try container.encode(exact)
            } else if value.isFinite {
                try container.encode(value)
            } else {
                // JSON has no NaN or infinity.
                try container.encodeNil()
            }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The string value, or nil.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The elements of an array, or empty for anything else.
    public var arrayValue: [JSONValue] {
        if case .array(let items) = self { return items }
        return []
    }

    /// Whether this is an object.
    public var isObject: Bool {
        if case .object = self { return true }
        return false
    }

    /// Whether this is a number (`.integer` or `.number`).
    public var isNumber: Bool {
        switch self {
        case .integer, .number: true
        default: false
        }
    }

    /// The number as a `Double` (an `.integer` beyond 2^53 rounded), or nil for anything else.
    public var doubleValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }

    /// The number when it is a whole number that fits in 64 bits (`3` and `3.0` alike), else nil.
    /// Never traps, whatever the value.
    public var int64Value: Int64? {
        switch self {
        case .integer(let value): value
        case .number(let value): Self.exactInteger(value)
        default: nil
        }
    }

    /// The number as an `Int` when it is a whole number in range, else nil. Never traps.
    public var intValue: Int? {
        int64Value.flatMap { Int(exactly: $0) }
    }

    /// `value` as an `Int64` when it is whole and exactly representable, else nil (NaN, infinities,
    /// fractions and out-of-range values included).
    static func exactInteger(_ value: Double) -> Int64? {
        guard value.isFinite, value.rounded() == value else { return nil }
        return Int64(exactly: value)
    }
}

extension JSONValue: Hashable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.integer(let a), .number(let b)), (.number(let b), .integer(let a)): exactInteger(b) == a
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value):
            hasher.combine(1)
            hasher.combine(value)
        case .integer(let value):
            hasher.combine(2)
            hasher.combine(value)
        case .number(let value):
            // A whole number hashes as its `.integer` twin, so equal values hash alike.
            if let exact = Self.exactInteger(value) {
                hasher.combine(2)
                hasher.combine(exact)
            } else {
                hasher.combine(3)
                hasher.combine(value)
            }
        case .string(let value):
            hasher.combine(4)
            hasher.combine(value)
        case .array(let value):
            hasher.combine(5)
            hasher.combine(value)
        case .object(let value):
            hasher.combine(6)
            hasher.combine(value)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(Int64(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}
