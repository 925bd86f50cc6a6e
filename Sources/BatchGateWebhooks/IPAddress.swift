/// An IPv4 or IPv6 address, parsed without any I/O.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// An IPv4 address as a host-order 32-bit number.
    case v4(UInt32)
    /// An IPv6 address as its 16 bytes in network order.
    case v6([UInt8])

    /// Parses an IPv4 literal in every form URL parsers and `inet_aton` accept: dotted quad,
    /// and the shorthand forms of one to four parts in decimal, octal (`0` prefix) or hex (`0x` prefix),
    /// e.g. `2130706433`, `127.1`, `0x7f.0.0.1`. Nil when the text is not an IPv4 literal.
    public static func parseIPv4(_ text: some StringProtocol) -> IPAddress? {
        var parts = Substring(text).split(separator: ".", omittingEmptySubsequences: false)
        // A single trailing dot is allowed by URL hosts ("127.0.0.1.").
        if parts.count > 1, parts.last?.isEmpty == true { parts.removeLast() }
        guard (1...4).contains(parts.count) else { return nil }
        var numbers: [UInt64] = []
        for part in parts {
            guard let number = parseIPv4Number(part) else { return nil }
            numbers.append(number)
        }
        var value: UInt64 = 0
        for (index, number) in numbers.enumerated() {
            if index < numbers.count - 1 {
                guard number <= 255 else { return nil }
                value |= number << UInt64(8 * (3 - index))
            } else {
                let remainingBytes = 4 - index
                guard number < (UInt64(1) << UInt64(8 * remainingBytes)) else { return nil }
                value |= number
            }
        }
        return .v4(UInt32(value))
    }

    private static func parseIPv4Number(_ part: Substring) -> UInt64? {
        guard !part.isEmpty else { return nil }
        var digits = part
        var radix: UInt64 = 10
        if digits.count >= 2, digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            radix = 16
            if digits.isEmpty { return 0 }
        } else if digits.count >= 2, digits.hasPrefix("0") {
            digits = digits.dropFirst()
            radix = 8
        }
        var value: UInt64 = 0
        for character in digits {
            guard character.isASCII, let digit = character.hexDigitValue, UInt64(digit) < radix else { return nil }
            value = value * radix + UInt64(digit)
            if value > UInt64(UInt32.max) { return nil }
        }
        return value
    }

    /// Parses an IPv6 literal (without brackets), including an embedded dotted IPv4 tail
    /// (`::ffff:10.0.0.1`). Zone ids (`%eth0`) are not accepted. Nil when the text is not IPv6.
    public static func parseIPv6(_ text: some StringProtocol) -> IPAddress? {
        let text = String(text)
        guard !text.isEmpty, text.contains(":"), !text.contains("%") else { return nil }
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        var halves = [text]
        if let gap = text.firstRange(of: "::") {
            let rest = String(text[gap.upperBound...])
            guard rest.firstRange(of: "::") == nil else { return nil }
            halves = [String(text[..<gap.lowerBound]), rest]
            sawDoubleColon = true
        }

        func parseGroups(_ part: String, allowIPv4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            var result: [UInt16] = []
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1, allowIPv4Tail, piece.contains(".") {
                    let octets = piece.split(separator: ".", omittingEmptySubsequences: false)
                    guard octets.count == 4 else { return nil }
                    var bytes: [UInt16] = []
                    for octet in octets {
                        guard (1...3).contains(octet.count), octet.allSatisfy(\.isASCII),
                            let value = UInt16(octet), value <= 255,
                            octet.count == 1 || !octet.hasPrefix("0")
                        else { return nil }
                        bytes.append(value)
                    }
                    result.append(bytes[0] << 8 | bytes[1])
                    result.append(bytes[2] << 8 | bytes[3])
                    continue
                }
                guard (1...4).contains(piece.count), piece.allSatisfy(\.isHexDigit), piece.allSatisfy(\.isASCII),
                    let value = UInt16(piece, radix: 16)
                else { return nil }
                result.append(value)
            }
            return result
        }

        if sawDoubleColon {
            guard let head = parseGroups(halves[0], allowIPv4Tail: false),
                let rest = parseGroups(halves[1], allowIPv4Tail: true),
                head.count + rest.count <= 7
            else { return nil }
            groups = head
            tail = rest
            groups += Array(repeating: 0, count: 8 - head.count - rest.count) + tail
        } else {
            guard let all = parseGroups(text, allowIPv4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for group in groups {
            bytes.append(UInt8(group >> 8))
            bytes.append(UInt8(group & 0xff))
        }
        return .v6(bytes)
    }

    /// Parses either family. Nil when the text is neither.
    public static func parse(_ text: some StringProtocol) -> IPAddress? {
        parseIPv4(text) ?? parseIPv6(text)
    }

    /// Dotted quad for IPv4; RFC 5952 text for IPv6 (lowercase, longest zero run as `::`,
    /// IPv4-mapped addresses as `::ffff:a.b.c.d`).
    public var description: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
        case .v6(let bytes):
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff, let mapped = embeddedIPv4 {
                return "::ffff:\(mapped)"
            }
            var groups: [UInt16] = []
            for index in stride(from: 0, to: 16, by: 2) {
                groups.append(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]))
            }
            var bestStart = -1
            var bestLength = 0
            var index = 0
            while index < 8 {
                if groups[index] == 0 {
                    var end = index
                    while end < 8, groups[end] == 0 { end += 1 }
                    if end - index > bestLength, end - index >= 2 {
                        bestStart = index
                        bestLength = end - index
                    }
                    index = end
                } else {
                    index += 1
                }
            }
            func hex(_ range: Range<Int>) -> String {
                groups[range].map { String($0, radix: 16) }.joined(separator: ":")
            }
            if bestStart < 0 { return hex(0..<8) }
            return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
        }
    }

    /// The IPv4 address an IPv6 address carries, for the forms that reach an IPv4 host:
    /// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`)
    /// and 6to4 (`2002:AABB:CCDD::`). Nil for IPv4 addresses and other IPv6 addresses.
    public var embeddedIPv4: IPAddress? {
        guard case .v6(let b) = self else { return nil }
        func v4(_ offset: Int) -> IPAddress {
            .v4(UInt32(b[offset]) << 24 | UInt32(b[offset + 1]) << 16 | UInt32(b[offset + 2]) << 8 | UInt32(b[offset + 3]))
        }
        let firstTen = b[0..<10].allSatisfy { $0 == 0 }
        if firstTen, b[10] == 0xff, b[11] == 0xff { return v4(12) }
        if firstTen, b[10] == 0, b[11] == 0 {
            // `::` and `::1` are IPv6's own unspecified and loopback, not IPv4-compatible forms.
            let last = b[12..<16]
            if last.allSatisfy({ $0 == 0 }) || (b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] == 1) { return nil }
            return v4(12)
        }
        if b[0] == 0x00, b[1] == 0x64, b[2] == 0xff, b[3] == 0x9b, b[4..<12].allSatisfy({ $0 == 0 }) { return v4(12) }
        if b[0] == 0x20, b[1] == 0x02 { return v4(2) }
        return nil
    }
}

extension IPAddress {
    /// The address for messages; an IPv6 form that carries an IPv4 address also names that one.
    var explained: String {
        guard let embedded = embeddedIPv4, !description.hasPrefix("::ffff:") else { return description }
        return "\(description), which embeds \(embedded)"
    }
}

/// Why an address may not receive webhooks.
public enum ForbiddenAddressKind: String, Sendable, Hashable {
    /// 127/8, ::1, `localhost`: allowed only with `allow_insecure_loopback`.
    case loopback
    /// 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, fec0::/10.
    case privateNetwork = "private"
    /// 169.254/16, fe80::/10.
    case linkLocal = "link-local"
    /// 169.254.169.254, fd00:ec2::254, 192.0.0.192 and the metadata host names.
    case cloudMetadata = "cloud metadata"
    /// 0/8 and ::.
    case unspecified
    /// 224/4 and ff00::/8.
    case multicast
    /// 255.255.255.255.
    case broadcast
    /// 240/4, 192.0.0/24, 198.18/15, the documentation networks, 2001:db8::/32, 100::/64.
    case reserved

    /// The phrase used in messages, with its article: "a private address".
    public var phrase: String {
        switch self {
        case .loopback: "a loopback address"
        case .privateNetwork: "a private address"
        case .linkLocal: "a link-local address"
        case .cloudMetadata: "a cloud metadata address"
        case .unspecified: "an unspecified address"
        case .multicast: "a multicast address"
        case .broadcast: "a broadcast address"
        case .reserved: "a reserved (non-public) address"
        }
    }
}

extension IPAddress {
    /// Why this address may not receive webhooks, or nil when it is a public unicast address.
    /// IPv6 forms that embed an IPv4 address are judged by the embedded address.
    public var forbiddenKind: ForbiddenAddressKind? {
        switch self {
        case .v4(let a):
            func inRange(_ base: UInt32, _ prefix: UInt32) -> Bool {
                let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
                return a & mask == base & mask
            }
            if a == 0xA9FE_A9FE || a == 0xC000_00C0 { return .cloudMetadata }  // 169.254.169.254, 192.0.0.192
            if a == 0xFFFF_FFFF { return .broadcast }
            if inRange(0x0000_0000, 8) { return .unspecified }  // 0.0.0.0/8 "this network"
            if inRange(0x7F00_0000, 8) { return .loopback }
            if inRange(0x0A00_0000, 8) || inRange(0xAC10_0000, 12) || inRange(0xC0A8_0000, 16)
                || inRange(0x6440_0000, 10)
            {
                return .privateNetwork
            }
            if inRange(0xA9FE_0000, 16) { return .linkLocal }
            if inRange(0xE000_0000, 4) { return .multicast }
            if inRange(0xF000_0000, 4) || inRange(0xC000_0000, 24) || inRange(0xC612_0000, 15)
                || inRange(0xC000_0200, 24) || inRange(0xC633_6400, 24) || inRange(0xCB00_7100, 24)
            {
                return .reserved  // 240/4, 192.0.0/24, 198.18/15 and the documentation nets
            }
            return nil
        case .v6(let b):
            if let embedded = embeddedIPv4 { return embedded.forbiddenKind }
            if b.allSatisfy({ $0 == 0 }) { return .unspecified }
            if b[0..<15].allSatisfy({ $0 == 0 }), b[15] == 1 { return .loopback }
            if b == [0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54] { return .cloudMetadata }
            if b[0] & 0xfe == 0xfc { return .privateNetwork }  // fc00::/7
            if b[0] == 0xfe, b[1] & 0xc0 == 0x80 { return .linkLocal }  // fe80::/10
            if b[0] == 0xfe, b[1] & 0xc0 == 0xc0 { return .privateNetwork }  // fec0::/10, deprecated site-local
            if b[0] == 0xff { return .multicast }
            if b[0] == 0x20, b[1] == 0x01, b[2] == 0x0d, b[3] == 0xb8 { return .reserved }  // 2001:db8::/32
            if b[0] == 0x01, b[1] == 0x00, b[2..<8].allSatisfy({ $0 == 0 }) { return .reserved }  // 100::/64
            return nil
        }
    }
}
