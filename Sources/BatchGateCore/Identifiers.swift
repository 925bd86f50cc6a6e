/// Generates the gateway's identifiers.
public enum Identifier {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// A ULID-style id with a prefix (`bat_01JD…`): 48 bits of milliseconds then 80 random bits in Crockford
    /// base 32, so ids of one prefix sort by creation time.
    public static func make(prefix: String, at time: Timestamp = .now()) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 16)
        let ms = UInt64(max(0, time.milliseconds))
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: ms >> (8 * (5 - index))) }
        for index in 6..<16 { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
        // 128 bits → 26 characters, most significant first.
        var high = UInt64(0)
        var low = UInt64(0)
        for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
        var characters = [UInt8](repeating: 0, count: 26)
        for position in stride(from: 25, through: 0, by: -1) {
            characters[position] = alphabet[Int(low & 31)]
            low = low >> 5 | (high & 31) << 59
            high >>= 5
        }
        return prefix + "_" + String(decoding: characters, as: UTF8.self)
    }

    /// A random token of `byteCount` bytes as lowercase hex.
    public static func secret(byteCount: Int = 24) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(byteCount * 2)
        for _ in 0..<byteCount {
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `text` looks like an id this gateway made with `prefix`: guards lookups against junk.
    public static func isWellFormed(_ text: String, prefix: String) -> Bool {
        let utf8 = Array(text.utf8)
        let head = Array((prefix + "_").utf8)
        guard utf8.count == head.count + 26, utf8.starts(with: head) else { return false }
        return utf8[head.count...].allSatisfy { alphabet.contains($0) }
    }

    /// Compares two strings in time that depends only on their lengths.
    public static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8)
        let b = Array(rhs.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<a.count { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
