/// The bounds a configuration file is read within. A file past any of them is refused with the position
/// where the bound was crossed, after reading only as far as that point.
///
/// Depth, node count and text size are checked on libyaml's events, before the node they belong to is
/// built, and alias expansion is measured by what the alias would add once expanded (a "billion laughs"
/// file is refused at the first alias that would take the document past a bound). libyaml's recursive
/// document loader is never used, and every recursive step of the gateway's own (comparing, copying or
/// converting nodes) runs on a tree no deeper than `maxDepth`.
public struct YAMLLimits: Sendable, Hashable {
    /// The most bytes a configuration file may hold; a larger file is refused unread. Default 1 MiB.
    public var maxFileBytes: Int
    /// The most mappings and sequences nested inside one another, aliases expanded. Default 64.
    public var maxDepth: Int
    /// The most nodes (scalars, mapping keys included, sequences and mappings) the document may hold once
    /// every alias is expanded. Default 100,000.
    public var maxExpandedNodes: Int
    /// The most bytes of scalar text the document may hold once every alias is expanded. Default 8 MiB.
    public var maxExpandedTextBytes: Int
    /// The most bytes `${VAR}` references may bring into the file's values, all values together (an
    /// aliased value counts once per use). Default 1 MiB.
    public var maxEnvironmentBytes: Int

    /// The limits `batchgate serve` and `batchgate validate` use.
    public static let standard = YAMLLimits()

    /// Limits with the defaults above unless given.
    public init(
        maxFileBytes: Int = 1 << 20,
        maxDepth: Int = 64,
        maxExpandedNodes: Int = 100_000,
        maxExpandedTextBytes: Int = 8 << 20,
        maxEnvironmentBytes: Int = 1 << 20
    ) {
        self.maxFileBytes = maxFileBytes
        self.maxDepth = maxDepth
        self.maxExpandedNodes = maxExpandedNodes
        self.maxExpandedTextBytes = maxExpandedTextBytes
        self.maxEnvironmentBytes = maxEnvironmentBytes
    }
}

/// Byte counts as messages show them: `1048576 bytes (1 MiB)`.
enum ByteCount {
    /// The exact count, followed by the binary unit that writes it exactly (KiB, MiB, GiB), if any.
    static func format(_ bytes: Int) -> String {
        for (unit, size) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes >= size && bytes % size == 0 {
            return "\(bytes) bytes (\(bytes / size) \(unit))"
        }
        return bytes == 1 ? "1 byte" : "\(bytes) bytes"
    }
}
