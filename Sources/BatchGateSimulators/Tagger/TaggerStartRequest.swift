import BatchGateCore
import HTTPTypes

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A validated `POST /api/batch/start` body. Every refusal is a 422 whose detail names the field.
struct TaggerStartRequest: Sendable {
    static let sourceTypes = ["url", "s3", "local"]

    var documents: [TaggerJob.Document]
    var settings: TaggerJob.Settings
    var jobID: String?

    init(_ body: [UInt8]) throws(TaggerSimulator.APIError) {
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(body)), json.isObject else {
            throw Self.invalid("body: must be a JSON object")
        }
        guard case .array(let rawDocuments)? = json["documents"] else {
            throw Self.invalid("documents: field required, an array of {title, file_path, file_source_type, description}")
        }
        guard !rawDocuments.isEmpty else { throw Self.invalid("documents: must contain at least one document") }
        documents = []
        for (index, raw) in rawDocuments.enumerated() {
            let at = "documents[\(index)]"
            guard raw.isObject else { throw Self.invalid("\(at): must be an object") }
            let title = try Self.string(raw, "title", at: at, required: true) ?? ""
            guard !title.isEmpty else { throw Self.invalid("\(at).title: must not be empty") }
            let filePath = try Self.string(raw, "file_path", at: at, required: true) ?? ""
            guard !filePath.isEmpty else { throw Self.invalid("\(at).file_path: must not be empty") }
            let sourceType = try Self.string(raw, "file_source_type", at: at, required: true) ?? ""
            guard Self.sourceTypes.contains(sourceType) else {
                throw Self.invalid("\(at).file_source_type: must be one of url, s3, local, not \(sourceType)")
            }
            let description = try Self.string(raw, "description", at: at, required: false)
            documents.append(.init(title: title, filePath: filePath, sourceType: sourceType, description: description))
        }

        settings = TaggerJob.Settings()
        switch json["config"] {
        case nil, .null?:
            break
        case .object?:
            let config = json["config"] ?? .null
            _ = try Self.string(config, "api_key", at: "config", required: false)
            if let model = try Self.string(config, "model_name", at: "config", required: false) {
                guard !model.isEmpty else { throw Self.invalid("config.model_name: must not be empty") }
                settings.modelName = model
            }
            if let pages = try Self.integer(config, "num_pages", in: 1...10) { settings.numPages = pages }
            if let tags = try Self.integer(config, "num_tags", in: 3...15) { settings.numTags = tags }
            switch config["exclusion_words"] {
            case nil, .null?:
                break
            case .array(let words)?:
                for (index, word) in words.enumerated() {
                    guard let word = word.stringValue else { throw Self.invalid("config.exclusion_words[\(index)]: must be a string") }
                    settings.exclusionWords.append(word)
                }
            default:
                throw Self.invalid("config.exclusion_words: must be an array of strings")
            }
        default:
            throw Self.invalid("config: must be an object")
        }

        switch json["column_mapping"] {
        case nil, .null?, .object?: break
        default: throw Self.invalid("column_mapping: must be an object")
        }

        switch json["job_id"] {
        case nil, .null?:
            jobID = nil
        case .string(let id)?:
            let allowed = id.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "-_.".unicodeScalars.contains($0))
            }
            guard (1...128).contains(id.count), allowed else {
                throw Self.invalid("job_id: must be 1–128 characters of letters, digits, '-', '_' or '.'")
            }
            jobID = id
        default:
            throw Self.invalid("job_id: must be a string")
        }
    }

    private static func invalid(_ detail: String) -> TaggerSimulator.APIError {
        TaggerSimulator.APIError(status: .unprocessableContent, detail: detail)
    }

    private static func string(_ object: JSONValue, _ key: String, at: String, required: Bool) throws(TaggerSimulator.APIError) -> String? {
        switch object[key] {
        case .string(let value)?:
            return value
        case nil, .null?:
            guard !required else { throw invalid("\(at).\(key): field required") }
            return nil
        default:
            throw invalid("\(at).\(key): must be a string")
        }
    }

    private static func integer(_ config: JSONValue, _ key: String, in range: ClosedRange<Int>) throws(TaggerSimulator.APIError) -> Int? {
        switch config[key] {
        case nil, .null?:
            return nil
        case let value? where value.isNumber:
            guard let number = value.intValue, range.contains(number) else {
                throw invalid("config.\(key): must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value.doubleValue ?? 0)")
            }
            return number
        default:
            throw invalid("config.\(key): must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
    }
}
