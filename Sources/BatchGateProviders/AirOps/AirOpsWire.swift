import BatchGateCore

/// The wire shapes of the Olostep AirOps batch API, decoded tolerantly.
///
/// Tolerated variations: `status` is a plain string (`GET /v1/batches-airops/{id}`, airops-get-batch.txt)
/// or an object `{overall, scraping, analyzing, enriching}` (the create response in the vendor
/// supplement, and every webhook); phases may sit at the top level or under `status`; any count may be
/// null, missing, or a numeric string; unknown fields are ignored.
enum AirOpsWire {
    /// A batch as returned by create, by GET, or carried by a webhook.
    struct Batch: Decodable {
        var id: String?
        var object: String?
        /// `created_at` on GET, `created` on create responses and webhooks.
        var created: Int64?
        /// Webhooks only: when the vendor sent the event.
        var timestamp: Int64?
        var totalURLs: Int?
        var status: StatusField?
        var batchMode: Bool?
        var scraping: ScrapingPhase?
        var analyzing: AnalyzingPhase?
        var enriching: EnrichingPhase?

        enum CodingKeys: String, CodingKey {
            case id, object, created, createdAt = "created_at", timestamp, totalURLs = "total_urls", status
            case batchMode = "batch_mode", scraping, analyzing, enriching
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decodeIfPresent(String.self, forKey: .id)
            object = try? c.decodeIfPresent(String.self, forKey: .object)
            created = try c.lenientInt64(.created) ?? c.lenientInt64(.createdAt)
            timestamp = try c.lenientInt64(.timestamp)
            totalURLs = try c.lenientInt(.totalURLs)
            status = try c.decodeIfPresent(StatusField.self, forKey: .status)
            batchMode = try? c.decodeIfPresent(Bool.self, forKey: .batchMode)
            scraping = try c.decodeIfPresent(ScrapingPhase.self, forKey: .scraping)
            analyzing = try c.decodeIfPresent(AnalyzingPhase.self, forKey: .analyzing)
            enriching = try c.decodeIfPresent(EnrichingPhase.self, forKey: .enriching)
        }

        /// The overall status string, from either shape of `status`.
        var overall: String? {
            switch status {
            case .plain(let value): value
            case .nested(let object): object.overall
            case nil: nil
            }
        }

        /// The scraping phase, preferring the one nested under `status` when both are present.
        var effectiveScraping: ScrapingPhase? { nestedStatus?.scraping ?? scraping }
        /// The analyzing phase, preferring the one nested under `status` when both are present.
        var effectiveAnalyzing: AnalyzingPhase? { nestedStatus?.analyzing ?? analyzing }
        /// The enriching phase, preferring the one nested under `status` when both are present.
        var effectiveEnriching: EnrichingPhase? { nestedStatus?.enriching ?? enriching }

        private var nestedStatus: StatusObject? {
            if case .nested(let object) = status { return object }
            return nil
        }
    }

    /// `status`: a plain string on GET, an object on create responses and webhooks.
    enum StatusField: Decodable {
        case plain(String)
        case nested(StatusObject)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(String.self) {
                self = .plain(value)
            } else {
                self = .nested(try container.decode(StatusObject.self))
            }
        }
    }

    /// The unified status object of create responses and webhooks.
    struct StatusObject: Decodable {
        var overall: String?
        var scraping: ScrapingPhase?
        var analyzing: AnalyzingPhase?
        var enriching: EnrichingPhase?
    }

    /// `{"code", "message"}` of a failed phase or item.
    struct ErrorObject: Decodable {
        var code: String?
        var message: String?

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            code = try? container.decodeIfPresent(String.self, forKey: .code)
            message = try? container.decodeIfPresent(String.self, forKey: .message)
        }

        enum CodingKeys: String, CodingKey { case code, message }
    }

    struct ScrapingPhase: Decodable {
        var state: String?
        var submitted: Int?
        var valid: Int?
        var succeeded: Int?
        var failed: Int?
        var startedAt: Int64?
        var completedAt: Int64?
        var error: ErrorObject?

        enum CodingKeys: String, CodingKey {
            case state, submitted, valid, succeeded, failed, startedAt = "started_at", completedAt = "completed_at", error
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            state = try? c.decodeIfPresent(String.self, forKey: .state)
            submitted = try c.lenientInt(.submitted)
            valid = try c.lenientInt(.valid)
            succeeded = try c.lenientInt(.succeeded)
            failed = try c.lenientInt(.failed)
            startedAt = try c.lenientInt64(.startedAt)
            completedAt = try c.lenientInt64(.completedAt)
            error = try? c.decodeIfPresent(ErrorObject.self, forKey: .error)
        }
    }

    struct AnalyzingPhase: Decodable {
        var state: String?
        var itemsAnalyzed: Int?
        var itemsNeedingEnrichment: Int?
        var itemsComplete: Int?
        /// Per-field counts of missing data; non-integer entries are dropped.
        var fieldsToEnrich: [String: Int]
        var startedAt: Int64?
        var completedAt: Int64?
        /// Not documented for this phase; read in case the vendor sends one.
        var error: ErrorObject?

        enum CodingKeys: String, CodingKey {
            case state, itemsAnalyzed = "items_analyzed", itemsNeedingEnrichment = "items_needing_enrichment"
            case itemsComplete = "items_complete", fieldsToEnrich = "fields_to_enrich"
            case startedAt = "started_at", completedAt = "completed_at", error
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            state = try? c.decodeIfPresent(String.self, forKey: .state)
            itemsAnalyzed = try c.lenientInt(.itemsAnalyzed)
            itemsNeedingEnrichment = try c.lenientInt(.itemsNeedingEnrichment)
            itemsComplete = try c.lenientInt(.itemsComplete)
            var fields: [String: Int] = [:]
            if let raw = try? c.decodeIfPresent([String: JSONValue].self, forKey: .fieldsToEnrich) {
                for (name, value) in raw {
                    if let count = value.flexibleInt { fields[name] = count }
                }
            }
            fieldsToEnrich = fields
            startedAt = try c.lenientInt64(.startedAt)
            completedAt = try c.lenientInt64(.completedAt)
            error = try? c.decodeIfPresent(ErrorObject.self, forKey: .error)
        }
    }

    struct EnrichingPhase: Decodable {
        var state: String?
        var itemsToEnrich: Int?
        var itemsEnriched: Int?
        var itemsFailed: Int?
        var llmBatchID: String?
        var batchMode: Bool?
        var llm: LLM?
        var startedAt: Int64?
        var completedAt: Int64?
        var error: ErrorObject?

        enum CodingKeys: String, CodingKey {
            case state, itemsToEnrich = "items_to_enrich", itemsEnriched = "items_enriched", itemsFailed = "items_failed"
            case llmBatchID = "llm_batch_id", batchMode = "batch_mode", llm
            case startedAt = "started_at", completedAt = "completed_at", error
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            state = try? c.decodeIfPresent(String.self, forKey: .state)
            itemsToEnrich = try c.lenientInt(.itemsToEnrich)
            itemsEnriched = try c.lenientInt(.itemsEnriched)
            itemsFailed = try c.lenientInt(.itemsFailed)
            llmBatchID = try? c.decodeIfPresent(String.self, forKey: .llmBatchID)
            batchMode = try? c.decodeIfPresent(Bool.self, forKey: .batchMode)
            llm = try? c.decodeIfPresent(LLM.self, forKey: .llm)
            startedAt = try c.lenientInt64(.startedAt)
            completedAt = try c.lenientInt64(.completedAt)
            error = try? c.decodeIfPresent(ErrorObject.self, forKey: .error)
        }
    }

    /// `enriching.llm`: provider details and token usage, present once enrichment completes.
    struct LLM: Decodable {
        var promptTokens: Int?
        var completionTokens: Int?
        var totalTokens: Int?
        var completionTimeMS: Int?

        enum CodingKeys: String, CodingKey { case usage, completionTimeMS = "completion_time_ms" }
        enum UsageKeys: String, CodingKey {
            case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            completionTimeMS = try c.lenientInt(.completionTimeMS)
            if let usage = try? c.nestedContainer(keyedBy: UsageKeys.self, forKey: .usage) {
                promptTokens = try usage.lenientInt(.promptTokens)
                completionTokens = try usage.lenientInt(.completionTokens)
                totalTokens = try usage.lenientInt(.totalTokens)
            }
        }
    }

    /// `GET /v1/batches-airops/{id}/items`. Items stay raw JSON: their extracted fields are open-ended.
    struct ItemsPage: Decodable {
        var batchID: String?
        var status: String?
        var items: [JSONValue]

        enum CodingKeys: String, CodingKey { case batchID = "batch_id", status, items }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            batchID = try? c.decodeIfPresent(String.self, forKey: .batchID)
            status = try? c.decodeIfPresent(String.self, forKey: .status)
            items = try c.decodeIfPresent([JSONValue].self, forKey: .items) ?? []
        }
    }

    /// The create request body.
    struct CreateRequest: Encodable {
        struct Item: Encodable {
            var url: String
            var customID: String

            enum CodingKeys: String, CodingKey { case url, customID = "custom_id" }
        }

        var items: [Item]
        var brands: [String]?
        var country: String?
        var webhook: String?
    }
}

extension JSONValue {
    /// The value as an integer when it is an integral number or a numeric string.
    fileprivate var flexibleInt: Int? {
        switch self {
        case .number, .integer: intValue
        case .string(let text): Int(text)
        default: nil
        }
    }
}
