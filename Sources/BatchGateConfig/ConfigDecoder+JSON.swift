import BatchGateCore

/// `.jsonObject` provider options: a YAML mapping converted to a JSON object.
extension ConfigDecoder {
    /// A mapping as a `JSONValue.object`: nested mappings become objects and sequences arrays, in file
    /// order; scalars follow the YAML core schema (`ConfigDecoder.resolve`): plain numbers, booleans and
    /// nulls become those, everything else (quoted, block or `!!str` scalars among them) a string, after
    /// `${VAR}` expansion as for any value. Whole numbers within 64 bits are kept exact (`.integer`).
    /// Every problem inside is reported; nil when there is any.
    mutating func jsonObject(_ node: YAMLNode, _ path: ConfigPath) -> JSONValue? {
        guard case .mapping = node.content else {
            report(node.mark, path, "expected a mapping (a JSON object), got \(kindDescription(node, path))")
            return nil
        }
        return json(node, path)
    }

    /// Recurses once per level of the tree, which `YAMLReader` bounds by `YAMLLimits.maxDepth`.
    private mutating func json(_ node: YAMLNode, _ path: ConfigPath) -> JSONValue? {
        switch node.content {
        case .mapping(let entries):
            var members: [String: JSONValue] = [:]
            members.reserveCapacity(entries.count)
            var valid = true
            for entry in entries {
                if let value = json(entry.value, path.appending(entry.key)) { members[entry.key] = value } else { valid = false }
            }
            return valid ? .object(members) : nil
        case .sequence(let items):
            var elements: [JSONValue] = []
            elements.reserveCapacity(items.count)
            var valid = true
            for (index, item) in items.enumerated() {
                if let value = json(item, path.appending(index: index)) { elements.append(value) } else { valid = false }
            }
            return valid ? .array(elements) : nil
        case .scalar:
            guard let scalar = scalar(node, path, expected: "a JSON value") else { return nil }
            switch scalar.value {
            case .null: return .null
            case .bool(let value): return .bool(value)
            case .int(let value): return .integer(Int64(value))
            case .float(let value):
                guard value.isFinite else {
                    report(
                        node.mark,
                        path,
                        "expected a JSON value, got \(describe(scalar, path)): JSON has no infinity or NaN (quote it to keep it as a string)"
                    )
                    return nil
                }
                return .number(value)
            case .string(let text): return .string(text)
            }
        }
    }
}
