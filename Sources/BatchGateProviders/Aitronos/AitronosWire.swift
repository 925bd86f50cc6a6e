import BatchGateCore

/// The wire shapes of the Aitronos scrape-batch API, decoded tolerantly.
///
/// Tolerated variations: progress and job bodies come wrapped as `{"success": true, "data": {...}}`
/// (the vendor supplement) or bare (the create response on the vendor's page is bare); batch counts sit
/// at the top level (progress) or under `progress` (create); any count may be null, missing, or a
/// numeric string; ids may be strings or numbers; a job's `error` may be a string or
/// `{"code", "message"}`; unknown fields are ignored.
enum AitronosWire {
    /// One job as listed by the create and progress responses.
    struct JobSummary: Decodable, Sendable {
        var jobID: String?
        var url: String?
        var status: String?
        var itemsExtracted: Int?

        enum CodingKeys: String, CodingKey { case jobID = "job_id", id, url, status, itemsExtracted = "items_extracted" }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            jobID = try c.lenientString(.jobID) ?? c.lenientString(.id)
            url = try? c.decodeIfPresent(String.self, forKey: .url)
            status = try? c.decodeIfPresent(String.self, forKey: .status)
            itemsExtracted = try c.lenientInt(.itemsExtracted)
        }
    }

    /// A batch as the create response (`progress` nested) or the progress response (counts at the
    /// top level) shows it.
    struct BatchView: Decodable, Sendable {
        var batchID: String?
        var totalURLs: Int?
        var jobs: [JobSummary]?
        var completed: Int?
        var failed: Int?
        var pending: Int?
        var totalItemsExtracted: Int?
        var estimatedCompletion: String?

        /// Whether the body says anything about the batch's state (a job list, a total or a counter).
        var hasState: Bool { jobs != nil || totalURLs != nil || completed != nil || failed != nil || pending != nil }

        enum CodingKeys: String, CodingKey {
            case batchID = "batch_id", totalURLs = "total_urls", jobs, progress, completed, failed, pending
            case totalItemsExtracted = "total_items_extracted", estimatedCompletion = "estimated_completion"
        }

        enum ProgressKeys: String, CodingKey {
            case completed, failed, pending, totalItemsExtracted = "total_items_extracted"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            batchID = try c.lenientString(.batchID)
            totalURLs = try c.lenientInt(.totalURLs)
            jobs = try c.decodeIfPresent([JobSummary].self, forKey: .jobs)
            completed = try c.lenientInt(.completed)
            failed = try c.lenientInt(.failed)
            pending = try c.lenientInt(.pending)
            totalItemsExtracted = try c.lenientInt(.totalItemsExtracted)
            estimatedCompletion = try? c.decodeIfPresent(String.self, forKey: .estimatedCompletion)
            if c.contains(.progress), !(try c.decodeNil(forKey: .progress)) {
                let p = try c.nestedContainer(keyedBy: ProgressKeys.self, forKey: .progress)
                completed = try completed ?? p.lenientInt(.completed)
                failed = try failed ?? p.lenientInt(.failed)
                pending = try pending ?? p.lenientInt(.pending)
                totalItemsExtracted = try totalItemsExtracted ?? p.lenientInt(.totalItemsExtracted)
            }
        }
    }

    /// One job in full (`GET /v1/scrape/jobs/{job_id}`).
    struct JobDetail: Decodable, Sendable {
        var jobID: String?
        var url: String?
        var status: String?
        /// The extracted items, kept as given.
        var extractedData: JSONValue?
        /// `{processing_time, engine_used, llm_calls, cache_hit}`, kept as given.
        var metadata: JSONValue?
        var errorCode: String?
        var errorMessage: String?

        enum CodingKeys: String, CodingKey {
            case jobID = "job_id", id, url, status, extractedData = "extracted_data", metadata, error
            case errorMessage = "error_message", errorCode = "error_code", message, detail
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            jobID = try c.lenientString(.jobID) ?? c.lenientString(.id)
            url = try? c.decodeIfPresent(String.self, forKey: .url)
            status = try? c.decodeIfPresent(String.self, forKey: .status)
            extractedData = try c.decodeIfPresent(JSONValue.self, forKey: .extractedData)
            metadata = try c.decodeIfPresent(JSONValue.self, forKey: .metadata)
            switch try c.decodeIfPresent(JSONValue.self, forKey: .error) {
            case .string(let text)?:
                errorMessage = text
            case .object(let fields)?:
                errorCode = fields["code"]?.stringValue ?? fields["type"]?.stringValue
                errorMessage = fields["message"]?.stringValue ?? fields["detail"]?.stringValue
            default:
                break
            }
            errorMessage =
                errorMessage ?? (try? c.decodeIfPresent(String.self, forKey: .errorMessage))
                ?? (try? c.decodeIfPresent(String.self, forKey: .message)) ?? (try? c.decodeIfPresent(String.self, forKey: .detail))
            errorCode = errorCode ?? (try? c.decodeIfPresent(String.self, forKey: .errorCode))
        }
    }

    /// `{"success": true, "data": <T>}`, or `<T>` itself when there is no object-valued `data` member.
    /// `{"success": false, "error": ...}` decodes with no value and the vendor's message.
    struct Enveloped<T: Decodable & Sendable>: Decodable, Sendable {
        /// Nil only when `success` is false.
        var value: T?
        /// The envelope's `success`; nil when the body was bare or did not say.
        var success: Bool?
        /// `error` (a string, or its `message`) or `message`, when the body has one.
        var errorMessage: String?

        enum CodingKeys: String, CodingKey { case success, data, error, message }

        init(from decoder: any Decoder) throws {
            let c = try? decoder.container(keyedBy: CodingKeys.self)
            success = try? c?.decodeIfPresent(Bool.self, forKey: .success)
            switch try? c?.decodeIfPresent(JSONValue.self, forKey: .error) {
            case .string(let text)?: errorMessage = text
            case .object(let fields)?: errorMessage = fields["message"]?.stringValue ?? fields["detail"]?.stringValue
            default: errorMessage = nil
            }
            errorMessage = errorMessage ?? (try? c?.decodeIfPresent(String.self, forKey: .message))
            if success == false {
                value = nil
            } else if let c, c.contains(.data), (try? c.decode([String: JSONValue].self, forKey: .data)) != nil {
                value = try c.decode(T.self, forKey: .data)
            } else {
                value = try T(from: decoder)
            }
        }
    }

    /// The create request body. `options` is omitted when the client gave none.
    struct CreateRequest: Encodable {
        var urls: [String]
        var schema: JSONValue
        var options: JSONValue?

        enum CodingKeys: String, CodingKey { case urls, schema, options }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(urls, forKey: .urls)
            try c.encode(schema, forKey: .schema)
            try c.encodeIfPresent(options, forKey: .options)
        }
    }
}
