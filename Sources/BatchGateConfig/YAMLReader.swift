import CLibYAML

/// A problem found while reading YAML text: where, under which key, and what.
struct YAMLProblem: Hashable, Sendable {
    var mark: YAMLMark
    var path: ConfigPath
    var message: String
}

/// Reads one YAML document into a `YAMLNode` tree with libyaml's event parser.
///
/// Aliases are resolved by copying the anchored node; an alias to a node that is still open (a
/// recursive structure) is refused. Duplicate mapping keys, non-scalar keys, merge keys (`<<`),
/// unsupported tags and a second document are refused. Every refusal is collected; a syntax error or a
/// crossed `YAMLLimits` bound (size, depth, expanded nodes or text) ends reading at once.
struct YAMLReader {
    /// The bounds the document is read within.
    var limits = YAMLLimits.standard

    /// Tags a scalar may carry; anything else is refused.
    static let scalarTags: Set<String> = [
        "!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null", "tag:yaml.org,2002:float",
    ]

    /// Parses `bytes` (UTF-8, UTF-16 with BOM). Returns the root node (nil for an empty document) or the
    /// problems found.
    func read(_ bytes: [UInt8]) -> Result<YAMLNode?, YAMLProblems> {
        if bytes.count > limits.maxFileBytes {
            return .failure(
                YAMLProblems([YAMLProblem(mark: .start, path: .root, message: Self.sizeMessage(bytes.count, limit: limits.maxFileBytes))])
            )
        }
        if bytes.isEmpty { return .success(nil) }
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            return .failure(YAMLProblems([YAMLProblem(mark: .start, path: .root, message: "out of memory while starting the YAML parser")]))
        }
        defer { yaml_parser_delete(parser) }
        let event = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)
        defer { event.deallocate() }

        // The parser reads straight from `buffer`, which stays valid until this closure returns.
        return bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder(limits: limits)
            while true {
                guard yaml_parser_parse(parser, event) == 1 else {
                    builder.problems.append(Self.syntaxProblem(parser.pointee, bytes: buffer))
                    return .failure(YAMLProblems(builder.problems))
                }
                let finished = event.pointee.type == YAML_STREAM_END_EVENT
                let keepGoing = builder.handle(event.pointee)
                yaml_event_delete(event)
                if finished || !keepGoing { break }
            }
            if builder.problems.isEmpty { return .success(builder.root) }
            return .failure(YAMLProblems(builder.problems))
        }
    }

    /// Why a text of `size` bytes is refused.
    static func sizeMessage(_ size: Int, limit: Int) -> String {
        "the file is \(ByteCount.format(size)); the limit is \(ByteCount.format(limit))"
    }

    /// libyaml's own description of why parsing stopped, at the mark it gives.
    static func syntaxProblem(_ parser: yaml_parser_t, bytes: UnsafeBufferPointer<UInt8>) -> YAMLProblem {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
        switch parser.error {
        case YAML_MEMORY_ERROR:
            return YAMLProblem(mark: .start, path: .root, message: "out of memory while parsing YAML")
        case YAML_READER_ERROR:
            var message = "cannot read the text: \(problem)"
            if parser.problem_value >= 0 {
                message += " (byte 0x\(String(parser.problem_value, radix: 16)))"
            }
            return YAMLProblem(mark: mark(ofByteOffset: parser.problem_offset, in: bytes), path: .root, message: message)
        default:
            var message = "YAML syntax error: \(problem)"
            if let context = parser.context.map({ String(cString: $0) }) {
                message += " (\(context) at \(YAMLMark(parser.context_mark)))"
            }
            return YAMLProblem(mark: YAMLMark(parser.problem_mark), path: .root, message: message)
        }
    }

    /// The 1-based line and column (in characters) of a byte offset into UTF-8 text.
    static func mark(ofByteOffset offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> YAMLMark {
        var line = 1
        var column = 1
        for byte in bytes.prefix(offset) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return YAMLMark(line: line, column: column)
    }
}

/// The problems that stopped a YAML text from being read, in the order found.
struct YAMLProblems: Error, Hashable, Sendable {
    var problems: [YAMLProblem]

    init(_ problems: [YAMLProblem]) { self.problems = problems }
}

extension YAMLMark {
    /// A libyaml mark (0-based) as a 1-based mark.
    init(_ mark: yaml_mark_t) {
        self.init(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }
}

/// Turns the parser's events into a node tree, one event at a time, within `YAMLLimits`.
///
/// Open collections are frames on an explicit stack, mutated in place, so neither depth nor width costs
/// more than constant work per event.
private struct TreeBuilder {
    private struct Frame {
        var isMapping: Bool
        var mark: YAMLMark
        var anchor: String?
        var path: ConfigPath
        var items: [YAMLNode] = []
        var entries: [YAMLEntry] = []
        var pendingKey: (key: String, mark: YAMLMark)?
        /// Where each key of a mapping was first given.
        var keyMarks: [String: YAMLMark] = [:]
        /// `nodeCount` and `textBytes` before this collection started, to measure it when it ends.
        var nodesBefore: Int
        var textBytesBefore: Int
        /// The most levels of collections inside this one (0 when it holds only scalars).
        var innerHeight = 0
    }

    /// An anchored node and what one use of it adds to the document once expanded.
    private struct Anchored {
        var node: YAMLNode
        var nodes: Int
        var textBytes: Int
        /// Levels of collections, this node's own included (0 for a scalar).
        var height: Int
    }

    let limits: YAMLLimits
    var problems: [YAMLProblem] = []
    var root: YAMLNode?
    private var stack: [Frame] = []
    private var anchors: [String: Anchored] = [:]
    private var nodeCount = 0
    private var textBytes = 0
    private var documents = 0

    init(limits: YAMLLimits) { self.limits = limits }

    /// Handles one event; false when reading must stop.
    mutating func handle(_ event: yaml_event_t) -> Bool {
        let mark = YAMLMark(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                problems.append(YAMLProblem(mark: mark, path: .root, message: "the file holds more than one YAML document; only one is allowed"))
                return false
            }
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            guard count(nodes: 1, textBytes: data.length, at: mark, alias: nil) else { return false }
            let text = data.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: data.length), as: UTF8.self) } ?? ""
            let tag = Self.string(data.tag)
            if let tag, !YAMLReader.scalarTags.contains(tag) {
                problems.append(YAMLProblem(mark: mark, path: currentPath, message: "unsupported tag \(tag)"))
            }
            let node = YAMLNode(content: .scalar(YAMLScalar(text, style: Self.style(data.style), tag: tag)), mark: mark)
            let anchor = Self.string(data.anchor)
            if let anchor { anchors[anchor] = Anchored(node: node, nodes: 1, textBytes: data.length, height: 0) }
            place(node, height: 0)
        case YAML_SEQUENCE_START_EVENT:
            let data = event.data.sequence_start
            if let tag = Self.string(data.tag), tag != "tag:yaml.org,2002:seq" {
                problems.append(YAMLProblem(mark: mark, path: currentPath, message: "unsupported tag \(tag)"))
            }
            return open(isMapping: false, anchor: Self.string(data.anchor), at: mark)
        case YAML_MAPPING_START_EVENT:
            let data = event.data.mapping_start
            if let tag = Self.string(data.tag), tag != "tag:yaml.org,2002:map" {
                problems.append(YAMLProblem(mark: mark, path: currentPath, message: "unsupported tag \(tag)"))
            }
            return open(isMapping: true, anchor: Self.string(data.anchor), at: mark)
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return true }
            let node =
                frame.isMapping
                ? YAMLNode(content: .mapping(frame.entries), mark: frame.mark)
                : YAMLNode(content: .sequence(frame.items), mark: frame.mark)
            let height = frame.innerHeight + 1
            if let anchor = frame.anchor {
                anchors[anchor] = Anchored(
                    node: node,
                    nodes: nodeCount - frame.nodesBefore,
                    textBytes: textBytes - frame.textBytesBefore,
                    height: height
                )
            }
            place(node, height: height)
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let anchored = anchors[name] else {
                let message =
                    openAnchors.contains(name)
                    ? "alias *\(name) refers to a node that contains it; recursive structures are not allowed"
                    : "alias *\(name) refers to no anchor defined before it"
                problems.append(YAMLProblem(mark: mark, path: currentPath, message: message))
                return true
            }
            if stack.count + anchored.height > limits.maxDepth {
                problems.append(
                    YAMLProblem(
                        mark: mark,
                        path: currentPath,
                        message:
                            "alias *\(name) nests mappings and sequences \(stack.count + anchored.height) levels deep here; the limit is \(limits.maxDepth)"
                    )
                )
                return false
            }
            guard count(nodes: anchored.nodes, textBytes: anchored.textBytes, at: mark, alias: name) else { return false }
            var copy = anchored.node
            copy.mark = mark
            place(copy, height: anchored.height)
        default:
            break
        }
        return true
    }

    /// Adds a node's expanded size to the document's; false (with a problem at `mark`) past a limit.
    private mutating func count(nodes: Int, textBytes bytes: Int, at mark: YAMLMark, alias: String?) -> Bool {
        let nodesLimit = limits.maxExpandedNodes
        let textLimit = ByteCount.format(limits.maxExpandedTextBytes)
        var message: String?
        if nodeCount + nodes > nodesLimit {
            message =
                alias.map {
                    "alias *\($0) repeats \(nodes) nodes, which takes the document past the limit of \(nodesLimit) nodes once aliases are expanded"
                }
                ?? "the document holds more than \(nodesLimit) nodes; the limit is \(nodesLimit)"
        } else if textBytes + bytes > limits.maxExpandedTextBytes {
            message =
                alias.map {
                    "alias *\($0) repeats \(ByteCount.format(bytes)) of text, which takes the document past the limit of \(textLimit) of text once aliases are expanded"
                }
                ?? "the document holds more than \(textLimit) of text; the limit is \(textLimit)"
        }
        if let message {
            problems.append(YAMLProblem(mark: mark, path: currentPath, message: message))
            return false
        }
        nodeCount += nodes
        textBytes += bytes
        return true
    }

    /// Opens a collection; false (with a problem) when it would be nested deeper than the limit.
    private mutating func open(isMapping: Bool, anchor: String?, at mark: YAMLMark) -> Bool {
        let path = currentPath
        if stack.count + 1 > limits.maxDepth {
            problems.append(
                YAMLProblem(
                    mark: mark,
                    path: path,
                    message: "mappings and sequences are nested more than \(limits.maxDepth) levels deep here; the limit is \(limits.maxDepth)"
                )
            )
            return false
        }
        let before = (nodes: nodeCount, text: textBytes)
        guard count(nodes: 1, textBytes: 0, at: mark, alias: nil) else { return false }
        stack.append(Frame(isMapping: isMapping, mark: mark, anchor: anchor, path: path, nodesBefore: before.nodes, textBytesBefore: before.text))
        return true
    }

    /// The path of the node that comes next.
    private var currentPath: ConfigPath {
        guard let frame = stack.last else { return .root }
        if !frame.isMapping { return frame.path.appending(index: frame.items.count) }
        return frame.pendingKey.map { frame.path.appending($0.key) } ?? frame.path
    }

    private var openAnchors: Set<String> { Set(stack.compactMap(\.anchor)) }

    /// Places a finished node (`height` levels of collections tall) in its parent, or makes it the root.
    private mutating func place(_ node: YAMLNode, height: Int) {
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        stack[top].innerHeight = max(stack[top].innerHeight, height)
        guard stack[top].isMapping else {
            stack[top].items.append(node)
            return
        }
        if let pendingKey = stack[top].pendingKey {
            stack[top].entries.append(YAMLEntry(key: pendingKey.key, keyMark: pendingKey.mark, value: node))
            stack[top].pendingKey = nil
        } else {
            stack[top].pendingKey = (keyText(node, in: top), node.mark)
        }
    }

    /// The text of a mapping key, recording a problem for a non-scalar, merge or duplicate key.
    private mutating func keyText(_ node: YAMLNode, in frameIndex: Int) -> String {
        let mappingPath = stack[frameIndex].path
        guard case .scalar(let scalar) = node.content else {
            problems.append(
                YAMLProblem(mark: node.mark, path: mappingPath, message: "a mapping key must be a scalar, not a \(node.content.kindName)")
            )
            return "?"
        }
        if scalar.text == "<<" && scalar.style == .plain {
            problems.append(YAMLProblem(mark: node.mark, path: mappingPath, message: "merge keys (<<) are not supported; write the keys out"))
        } else if let first = stack[frameIndex].keyMarks[scalar.text] {
            problems.append(
                YAMLProblem(
                    mark: node.mark,
                    path: mappingPath.appending(scalar.text),
                    message: "duplicate key \(ConfigDecoder.quoted(scalar.text)) (first given at \(first))"
                )
            )
        } else {
            stack[frameIndex].keyMarks[scalar.text] = node.mark
        }
        return scalar.text
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    private static func style(_ style: yaml_scalar_style_t) -> YAMLScalarStyle {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: .literal
        case YAML_FOLDED_SCALAR_STYLE: .folded
        default: .plain
        }
    }
}

extension YAMLNode.Content {
    /// `scalar`, `sequence` or `mapping`.
    var kindName: String {
        switch self {
        case .scalar: "scalar"
        case .sequence: "sequence"
        case .mapping: "mapping"
        }
    }
}
