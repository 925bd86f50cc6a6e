import BatchGateCore

/// The wire shapes of the document-tagging service, decoded tolerantly.
///
/// Tolerated variations (the vendor page and the supplement): numbers may come as JSON numbers or as
/// numeric strings (`catchup.state` is read from a Redis hash, so every value there is a string; the
/// counts of `completed`/`cancelled` are strings on the already-finished path and integers on the live
/// path); per-document progress messages may carry `"type": "progress"` or no `type` at all; `error`
/// may be a string or `{"message"}`; ids may be strings or numbers; unknown fields are ignored.
enum TaggerWire {
    /// `POST /api/batch/start` body.
    struct StartRequest: Encodable {
        var documents: [Document]
        var config: JSONValue?
        var jobID: String?

        struct Document: Encodable {
            var title: String
            var filePath: String
            var fileSourceType: String
            var description: String?

            enum CodingKeys: String, CodingKey {
                case title, filePath = "file_path", fileSourceType = "file_source_type", description
            }
        }

        enum CodingKeys: String, CodingKey { case documents, config, jobID = "job_id" }
    }

    /// `POST /api/batch/start` answer: `{"job_id", "total_documents", "message"}`.
    struct StartResponse: Decodable {
        var jobID: String?
        var totalDocuments: Int?
        var message: String?

        enum CodingKeys: String, CodingKey { case jobID = "job_id", totalDocuments = "total_documents", message }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            jobID = try c.lenientString(.jobID)
            totalDocuments = try c.lenientInt(.totalDocuments)
            message = try? c.decodeIfPresent(String.self, forKey: .message)
        }
    }

    /// The job state of `GET /api/batch/jobs/{id}/status` and of `catchup.state`.
    struct JobState: Decodable, Hashable {
        var jobID: String?
        var status: String?
        /// 0–1.
        var progress: Double?
        /// Successfully processed documents.
        var processedCount: Int?
        var failedCount: Int?
        var total: Int?
        var resultsCount: Int?

        enum CodingKeys: String, CodingKey {
            case jobID = "job_id", status, progress, processedCount = "processed_count", failedCount = "failed_count", total
            case resultsCount = "results_count"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            jobID = try c.lenientString(.jobID)
            status = try c.lenientString(.status)
            progress = try c.lenientDouble(.progress)
            processedCount = try c.lenientInt(.processedCount)
            failedCount = try c.lenientInt(.failedCount)
            total = try c.lenientInt(.total)
            resultsCount = try c.lenientInt(.resultsCount)
        }
    }

    /// One document's result: an entry of `catchup.results`, or the body of a per-document progress message.
    struct Row: Decodable, Hashable {
        var rowID: Int?
        var rowNumber: Int?
        var title: String?
        var status: String?
        var progress: Double?
        var tags: [String]?
        var error: String?
        var errorType: String?
        var retryAfterMS: Int?
        var retryCount: Int?
        var modelName: String?
        var metadata: JSONValue?

        enum CodingKeys: String, CodingKey {
            case rowID = "row_id", rowNumber = "row_number", title, status, progress, tags, error, errorType = "error_type"
            case retryAfterMS = "retry_after_ms", retryCount = "retry_count", modelName = "model_name", metadata
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            rowID = try c.lenientInt(.rowID)
            rowNumber = try c.lenientInt(.rowNumber)
            title = try c.lenientString(.title)
            status = try c.lenientString(.status)
            progress = try c.lenientDouble(.progress)
            tags = try? c.decodeIfPresent([String].self, forKey: .tags)
            error = try c.lenientMessage(.error)
            errorType = try c.lenientString(.errorType)
            retryAfterMS = try c.lenientInt(.retryAfterMS)
            retryCount = try c.lenientInt(.retryCount)
            modelName = try c.lenientString(.modelName)
            metadata = try c.decodeIfPresent(JSONValue.self, forKey: .metadata)
        }
    }

    /// Any WebSocket message: the fields of every message type, each optional.
    struct Message: Decodable {
        var type: String?
        var jobID: String?
        var state: JobState?
        var results: [Row]?
        /// The message itself read as a row (per-document progress messages are rows).
        var row: Row
        var processedCount: Int?
        var failedCount: Int?
        var message: String?
        var error: String?
        /// Keepalive's job status.
        var status: String?

        enum CodingKeys: String, CodingKey {
            case type, jobID = "job_id", state, results, processedCount = "processed_count", failedCount = "failed_count"
            case message, error, status, rowID = "row_id"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            type = try c.lenientString(.type)
            jobID = try c.lenientString(.jobID)
            state = try c.decodeIfPresent(JobState.self, forKey: .state)
            results = try c.decodeIfPresent([Row].self, forKey: .results)
            processedCount = try c.lenientInt(.processedCount)
            failedCount = try c.lenientInt(.failedCount)
            message = try c.lenientMessage(.message)
            error = try c.lenientMessage(.error)
            status = try c.lenientString(.status)
            row = try Row(from: decoder)
        }
    }
}
