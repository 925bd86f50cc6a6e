/// `input` of a `url_batch` job (CONTRACT §3).
public struct URLBatchInput: Sendable, Hashable, Codable {
    public var urls: [String]
    public var customIDs: [String]?
    public var schema: JSONValue?
    public var options: JSONValue?
    public var brands: [String]?
    public var country: String?

    public init(
        urls: [String],
        customIDs: [String]? = nil,
        schema: JSONValue? = nil,
        options: JSONValue? = nil,
        brands: [String]? = nil,
        country: String? = nil
    ) {
        self.urls = urls
        self.customIDs = customIDs
        self.schema = schema
        self.options = options
        self.brands = brands
        self.country = country
    }

    enum CodingKeys: String, CodingKey {
        case urls, customIDs = "custom_ids", schema, options, brands, country
    }

    /// The client's key of item `index`: its custom id when given, else its URL.
    public func key(at index: Int) -> String {
        if let customIDs, index < customIDs.count { return customIDs[index] }
        return urls[index]
    }
}

/// One document of a `document_tagging` job.
public struct TaggingDocument: Sendable, Hashable, Codable {
    public var title: String
    public var filePath: String
    public var fileSourceType: String
    public var description: String?

    public init(title: String, filePath: String, fileSourceType: String, description: String? = nil) {
        self.title = title
        self.filePath = filePath
        self.fileSourceType = fileSourceType
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case title, filePath = "file_path", fileSourceType = "file_source_type", description
    }
}

/// `input` of a `document_tagging` job (CONTRACT §3).
public struct DocumentTaggingInput: Sendable, Hashable, Codable {
    public var documents: [TaggingDocument]
    public var config: JSONValue?

    public init(documents: [TaggingDocument], config: JSONValue? = nil) {
        self.documents = documents
        self.config = config
    }
}

/// A job's stored input: what the gateway resubmits on fallback or migration.
public enum JobInput: Sendable, Hashable, Codable {
    case urlBatch(URLBatchInput)
    case documentTagging(DocumentTaggingInput)

    /// The kind of job this input belongs to.
    public var kind: JobKind {
        switch self {
        case .urlBatch: .urlBatch
        case .documentTagging: .documentTagging
        }
    }

    /// How many items the job has.
    public var itemCount: Int {
        switch self {
        case .urlBatch(let input): input.urls.count
        case .documentTagging(let input): input.documents.count
        }
    }

    /// Items `offset ..< offset + count`, with the rest of the input unchanged.
    public func slice(offset: Int, count: Int) -> JobInput {
        switch self {
        case .urlBatch(var input):
            let range = offset..<min(input.urls.count, offset + count)
            input.urls = Array(input.urls[range])
            input.customIDs = input.customIDs.map { Array($0[range]) }
            return .urlBatch(input)
        case .documentTagging(var input):
            input.documents = Array(input.documents[offset..<min(input.documents.count, offset + count)])
            return .documentTagging(input)
        }
    }

    private enum CodingKeys: String, CodingKey { case kind, input }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(JobKind.self, forKey: .kind) {
        case .urlBatch: self = .urlBatch(try container.decode(URLBatchInput.self, forKey: .input))
        case .documentTagging: self = .documentTagging(try container.decode(DocumentTaggingInput.self, forKey: .input))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .urlBatch(let input): try container.encode(input, forKey: .input)
        case .documentTagging(let input): try container.encode(input, forKey: .input)
        }
    }
}
