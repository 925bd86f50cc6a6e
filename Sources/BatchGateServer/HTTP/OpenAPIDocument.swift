import BatchGateCore
import Foundation

/// The OpenAPI 3.1 description of the HTTP API, served at `GET /openapi.yaml`. `OpenAPITests` checks that
/// every route of the router is in it and validates real answers against it with an independent validator.
enum OpenAPIDocument {
    static let yaml: String = source.replacingOccurrences(of: "version: VERSION", with: "version: \(BatchGateVersion.current)")

    private static let source = #"""
        openapi: 3.1.0
        info:
          title: BatchGate
          version: VERSION
          summary: One API, one status model and one webhook stream for several asynchronous batch vendors.
          description: |
            Every `/v1/batches` route needs `Authorization: Bearer <api key>`; a batch is visible only to the tenant whose
            key created it (another tenant gets 404). Every answer carries `X-Request-Id`. Times are RFC 3339 UTC with
            milliseconds. Errors are `{"error": {"code", "message", "field"?}}`.
        servers:
          - url: /
        tags:
          - name: batches
          - name: vendors
          - name: operations
          - name: operator page
        components:
          securitySchemes:
            apiKey:
              type: http
              scheme: bearer
              description: A tenant's API key from `auth.api_keys`.
            uiSession:
              type: apiKey
              in: cookie
              name: batchgate_session
              description: The operator page's session, set by signing in with a tenant's API key.
          parameters:
            BatchID:
              name: id
              in: path
              required: true
              schema: {type: string, pattern: "^bat_[0-9A-Z]{26}$"}
            Limit:
              name: limit
              in: query
              schema: {type: integer, minimum: 1, maximum: 100, default: 20}
            RequestID:
              name: X-Request-Id
              in: header
              description: Kept when it is 1–128 letters, digits, `-`, `_`, `.`, `:`; otherwise a new `req_…` id is used.
              schema: {type: string, maxLength: 128}
            TraceParent:
              name: traceparent
              in: header
              description: |
                W3C trace context. With tracing on (`telemetry:` in `providers.yaml`) the request's span continues this
                trace, and so does the work for a batch it creates; ignored when tracing is off or the value is not valid.
              schema: {type: string, maxLength: 55}
          headers:
            RequestID:
              description: The request's id (the client's, or a new `req_…` one); every log line of the request carries it.
              schema: {type: string}
          responses:
            Page:
              description: An HTML page of the operator page.
              content:
                text/html: {schema: {type: string}}
            SignInFirst:
              description: No session; to the sign-in form.
              headers:
                Location: {schema: {const: /ui/sign-in}}
            Error:
              description: An error.
              headers:
                X-Request-Id: {$ref: "#/components/headers/RequestID"}
              content:
                application/json:
                  schema: {$ref: "#/components/schemas/Error"}
          schemas:
            Error:
              type: object
              required: [error]
              properties:
                error:
                  type: object
                  required: [code, message]
                  properties:
                    code: {type: string, examples: [not_found, invalid_request, unauthorized, not_cancellable]}
                    message: {type: string}
                    field: {type: string, description: The request part at fault.}
            Timestamp: {type: string, format: date-time}
            LifecycleStatus:
              type: string
              enum: [pending, running, completed, failed, cancelled, expired]
            Progress:
              type: object
              required: [total, succeeded, failed, pending, percent]
              properties:
                total: {type: integer, minimum: 0}
                succeeded: {type: integer, minimum: 0}
                failed: {type: integer, minimum: 0}
                pending: {type: integer, minimum: 0}
                percent: {type: integer, minimum: 0, maximum: 100}
            Phase:
              type: object
              required: [name, state, counts]
              properties:
                name: {type: string}
                state: {type: string}
                counts: {type: object, additionalProperties: {type: integer}}
                started_at: {oneOf: [{$ref: "#/components/schemas/Timestamp"}, {type: "null"}]}
                completed_at: {oneOf: [{$ref: "#/components/schemas/Timestamp"}, {type: "null"}]}
            BatchError:
              type: object
              required: [code, message]
              properties:
                code: {type: string}
                message: {type: string}
                provider_code: {type: [string, "null"]}
            ControlRequest:
              type: object
              required: [action, requested_at]
              properties:
                action: {type: string, enum: [cancel, pause, resume]}
                requested_at: {$ref: "#/components/schemas/Timestamp"}
            Chunk:
              type: object
              required: [offset, count, lifecycle_status, progress]
              properties:
                provider_batch_id: {type: [string, "null"]}
                offset: {type: integer}
                count: {type: integer}
                lifecycle_status: {$ref: "#/components/schemas/LifecycleStatus"}
                provider_status: {type: [string, "null"]}
                progress: {$ref: "#/components/schemas/Progress"}
            HistoryEntry:
              type: object
              required: [provider, lifecycle_status, reason]
              properties:
                provider: {type: string}
                provider_batch_id: {type: [string, "null"]}
                lifecycle_status: {$ref: "#/components/schemas/LifecycleStatus"}
                reason: {type: string}
                at: {$ref: "#/components/schemas/Timestamp"}
            DeliverySummary:
              type: object
              required: [total_attempts, delivered_events, delivered_event_types, pending_retries]
              properties:
                total_attempts: {type: integer}
                delivered_events: {type: integer}
                delivered_event_types: {type: array, items: {type: string}}
                pending_retries: {type: integer}
                next_retry_at: {type: [string, "null"], format: date-time}
                last_attempt_at: {type: [string, "null"], format: date-time}
                last_attempt_status: {type: [string, "null"]}
                last_response_status: {type: [integer, "null"]}
                last_delivered_at: {type: [string, "null"], format: date-time}
                last_failure_at: {type: [string, "null"], format: date-time}
                last_error_message: {type: [string, "null"]}
            DeliveryAttempt:
              type: object
              required: [id, delivery_key, event_type, status, attempt_number, max_attempts, tried_at]
              properties:
                id: {type: string, pattern: "^dla_"}
                delivery_key: {type: string}
                event_type: {type: string}
                status: {type: string, enum: [delivered, scheduled_retry, failed_permanently]}
                attempt_number: {type: integer, minimum: 1}
                max_attempts: {type: integer}
                tried_at: {$ref: "#/components/schemas/Timestamp"}
                delivered_at: {type: [string, "null"], format: date-time}
                next_retry_at: {type: [string, "null"], format: date-time}
                response_status: {type: [integer, "null"]}
                error_message: {type: [string, "null"]}
                response_body_preview: {type: [string, "null"]}
                latency_ms: {type: integer}
            WebhookView:
              type: object
              required: [url, events, has_secret, delivery, attempts]
              properties:
                url: {type: string}
                events: {type: array, items: {$ref: "#/components/schemas/WebhookEventType"}}
                has_secret: {type: boolean}
                stopped: {type: boolean, description: A 410 from the receiver switched the subscription off.}
                delivery: {$ref: "#/components/schemas/DeliverySummary"}
                attempts: {type: array, maxItems: 10, items: {$ref: "#/components/schemas/DeliveryAttempt"}}
            WebhookEventType:
              type: string
              enum: [batch.created, batch.progress, batch.completed, batch.failed, batch.cancelled, batch.expired]
            Batch:
              type: object
              required: [id, object, kind, route, provider, provider_kind, lifecycle_status, progress, phases, created_at, updated_at,
                         polling_url, results_url, events_url, correlation, history, metadata]
              properties:
                id: {type: string, pattern: "^bat_"}
                object: {const: batch}
                kind: {type: string, enum: [url_batch, document_tagging]}
                route: {type: string}
                provider: {type: string}
                provider_kind: {type: string}
                provider_batch_id: {type: [string, "null"]}
                lifecycle_status: {$ref: "#/components/schemas/LifecycleStatus"}
                provider_status: {type: [string, "null"], description: The vendor's own status, verbatim.}
                progress: {$ref: "#/components/schemas/Progress"}
                phases: {type: array, items: {$ref: "#/components/schemas/Phase"}}
                error: {oneOf: [{$ref: "#/components/schemas/BatchError"}, {type: "null"}]}
                created_at: {$ref: "#/components/schemas/Timestamp"}
                updated_at: {$ref: "#/components/schemas/Timestamp"}
                completed_at: {type: [string, "null"], format: date-time}
                control_requested: {oneOf: [{$ref: "#/components/schemas/ControlRequest"}, {type: "null"}]}
                polling_url: {type: string}
                cancel_url: {type: [string, "null"], description: Set only while the batch runs and its provider can cancel.}
                results_url: {type: string}
                events_url: {type: string}
                webhook: {oneOf: [{$ref: "#/components/schemas/WebhookView"}, {type: "null"}]}
                correlation: {type: object, additionalProperties: {type: string}}
                chunks: {type: array, items: {$ref: "#/components/schemas/Chunk"}}
                history: {type: array, items: {$ref: "#/components/schemas/HistoryEntry"}}
                metadata: {type: object}
            BatchList:
              type: object
              required: [object, data, has_more, next_after]
              properties:
                object: {const: list}
                data: {type: array, items: {$ref: "#/components/schemas/Batch"}}
                has_more: {type: boolean}
                next_after: {type: [string, "null"]}
            ResultRow:
              type: object
              required: [index, key, status]
              properties:
                index: {type: integer, minimum: 0}
                key: {type: string, description: The item's URL, custom id or document title.}
                status: {type: string, enum: [succeeded, failed, pending]}
                data: {description: The vendor's data for this row's own input item.}
                error:
                  oneOf:
                    - type: "null"
                    - type: object
                      required: [code, message]
                      properties:
                        code: {type: string}
                        message: {type: string}
            ResultsPage:
              type: object
              required: [object, data, has_more, next_after]
              properties:
                object: {const: list}
                data: {type: array, items: {$ref: "#/components/schemas/ResultRow"}}
                has_more: {type: boolean}
                next_after: {type: [integer, "null"]}
            DeliveriesPage:
              type: object
              required: [object, data, has_more, next_after]
              properties:
                object: {const: list}
                data: {type: array, items: {$ref: "#/components/schemas/DeliveryAttempt"}}
                has_more: {type: boolean}
                next_after: {type: [string, "null"]}
            UrlBatchInput:
              type: object
              required: [urls]
              properties:
                urls: {type: array, minItems: 1, items: {type: string, format: uri}}
                custom_ids: {type: array, items: {type: string}}
                schema: {type: object, description: A JSON schema of the data to extract (Aitronos).}
                options: {type: object}
                brands: {type: array, items: {type: string}}
                country: {type: string}
            DocumentTaggingInput:
              type: object
              required: [documents]
              properties:
                documents:
                  type: array
                  minItems: 1
                  items:
                    type: object
                    required: [title, file_path, file_source_type]
                    properties:
                      title: {type: string}
                      file_path: {type: string}
                      file_source_type: {type: string}
                      description: {type: string}
                config: {type: object}
            CreateRequest:
              type: object
              required: [route, input]
              properties:
                route: {type: string, description: A route of providers.yaml.}
                input: {oneOf: [{$ref: "#/components/schemas/UrlBatchInput"}, {$ref: "#/components/schemas/DocumentTaggingInput"}]}
                webhook:
                  type: object
                  required: [url]
                  properties:
                    url: {type: string, description: https (or loopback when allowed).}
                    secret: {type: string, pattern: "^whsec_", description: A Standard Webhooks secret.}
                    events: {type: array, items: {$ref: "#/components/schemas/WebhookEventType"}}
                metadata: {type: object}
            WebhookEvent:
              type: object
              required: [id, type, created_at, delivery, data]
              properties:
                id: {type: string, pattern: "^evt_"}
                type: {$ref: "#/components/schemas/WebhookEventType"}
                created_at: {$ref: "#/components/schemas/Timestamp"}
                delivery:
                  type: object
                  required: [key, attempt, max_attempts]
                  properties:
                    key: {type: string, description: "One per event of a batch, e.g. batch.completed or batch.progress:40."}
                    attempt: {type: integer}
                    max_attempts: {type: integer}
                data: {$ref: "#/components/schemas/Batch"}
        security:
          - apiKey: []
        paths:
          /healthz:
            get:
              tags: [operations]
              summary: The process is up.
              security: []
              responses:
                "200":
                  description: Up.
                  content:
                    application/json:
                      schema: {type: object, required: [status], properties: {status: {const: ok}}}
          /readyz:
            get:
              tags: [operations]
              summary: The store answers.
              security: []
              responses:
                "200":
                  description: Ready.
                  content:
                    application/json:
                      schema: {type: object, required: [status], properties: {status: {const: ready}}}
                "503": {$ref: "#/components/responses/Error"}
          /metrics:
            get:
              tags: [operations]
              summary: Prometheus metrics (the families are listed in the README).
              security: []
              responses:
                "200":
                  description: The Prometheus text format.
                  content:
                    text/plain: {schema: {type: string}}
          /openapi.yaml:
            get:
              tags: [operations]
              summary: This document.
              security: []
              responses:
                "200":
                  description: OpenAPI 3.1.
                  content:
                    application/yaml: {schema: {type: string}}
          /v1/batches:
            post:
              tags: [batches]
              summary: Create a batch.
              parameters:
                - $ref: "#/components/parameters/RequestID"
                - $ref: "#/components/parameters/TraceParent"
                - name: Idempotency-Key
                  in: header
                  description: The same key and body return the same batch (with `Idempotent-Replayed`); another body is refused (422).
                  schema: {type: string, minLength: 1, maxLength: 255}
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: "#/components/schemas/CreateRequest"}
              responses:
                "201":
                  description: The batch, stored before this answer.
                  headers:
                    Location: {description: The polling URL., schema: {type: string}}
                    Idempotent-Replayed: {description: "`true` when an earlier request with the same key created it.", schema: {type: string}}
                    X-Request-Id: {$ref: "#/components/headers/RequestID"}
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Batch"}
                "400": {$ref: "#/components/responses/Error"}
                "401": {$ref: "#/components/responses/Error"}
                "413": {$ref: "#/components/responses/Error"}
                "415": {$ref: "#/components/responses/Error"}
                "422": {$ref: "#/components/responses/Error"}
                "503": {$ref: "#/components/responses/Error"}
            get:
              tags: [batches]
              summary: The tenant's batches, newest first.
              parameters:
                - $ref: "#/components/parameters/RequestID"
                - $ref: "#/components/parameters/TraceParent"
                - {name: lifecycle_status, in: query, schema: {$ref: "#/components/schemas/LifecycleStatus"}}
                - {name: provider, in: query, schema: {type: string}}
                - {name: route, in: query, schema: {type: string}}
                - $ref: "#/components/parameters/Limit"
                - {name: after, in: query, description: A batch id from `next_after`., schema: {type: string}}
              responses:
                "200":
                  description: A page.
                  headers:
                    X-Request-Id: {$ref: "#/components/headers/RequestID"}
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/BatchList"}
                "400": {$ref: "#/components/responses/Error"}
                "401": {$ref: "#/components/responses/Error"}
          /v1/batches/{id}:
            get:
              tags: [batches]
              summary: The batch (its polling URL).
              parameters: [{$ref: "#/components/parameters/BatchID"}, {$ref: "#/components/parameters/RequestID"}, {$ref: "#/components/parameters/TraceParent"}]
              responses:
                "200":
                  description: The batch as it is now.
                  headers:
                    X-Request-Id: {$ref: "#/components/headers/RequestID"}
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Batch"}
                "401": {$ref: "#/components/responses/Error"}
                "404": {$ref: "#/components/responses/Error"}
          /v1/batches/{id}/cancel:
            post:
              tags: [batches]
              summary: Cancel (its cancel URL).
              parameters: [{$ref: "#/components/parameters/BatchID"}, {$ref: "#/components/parameters/RequestID"}, {$ref: "#/components/parameters/TraceParent"}]
              responses:
                "202":
                  description: The cancel was sent to the vendor; the batch ends `cancelled` once it confirms.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Batch"}
                "401": {$ref: "#/components/responses/Error"}
                "404": {$ref: "#/components/responses/Error"}
                "409": {$ref: "#/components/responses/Error"}
                "503": {$ref: "#/components/responses/Error"}
          /v1/batches/{id}/pause:
            post:
              tags: [batches]
              summary: Pause, for providers that can.
              parameters: [{$ref: "#/components/parameters/BatchID"}, {$ref: "#/components/parameters/RequestID"}, {$ref: "#/components/parameters/TraceParent"}]
              responses:
                "202":
                  description: Paused (or asked); `lifecycle_status` stays `running`.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Batch"}
                "401": {$ref: "#/components/responses/Error"}
                "404": {$ref: "#/components/responses/Error"}
                "409": {$ref: "#/components/responses/Error"}
                "503": {$ref: "#/components/responses/Error"}
          /v1/batches/{id}/resume:
            post:
              tags: [batches]
              summary: Resume a paused batch.
              parameters: [{$ref: "#/components/parameters/BatchID"}, {$ref: "#/components/parameters/RequestID"}, {$ref: "#/components/parameters/TraceParent"}]
              responses:
                "202":
                  description: Resumed (or asked).
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Batch"}
                "401": {$ref: "#/components/responses/Error"}
                "404": {$ref: "#/components/responses/Error"}
                "409": {$ref: "#/components/responses/Error"}
                "503": {$ref: "#/components/responses/Error"}
          /v1/batches/{id}/migrate:
            post:
              tags: [batches]
              summary: Move the batch to another provider of the same kind, keeping its id.
              parameters: [{$ref: "#/components/parameters/BatchID"}, {$ref: "#/components/parameters/RequestID"}, {$ref: "#/components/parameters/TraceParent"}]
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {type: object, required: [provider], properties: {provider: {type: string}}}
              responses:
                "200":
                  description: Moved; the new provider does every item again.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Batch"}
                "400": {$ref: "#/components/responses/Error"}
                "401": {$ref: "#/components/responses/Error"}
                "404": {$ref: "#/components/responses/Error"}
                "409": {$ref: "#/components/responses/Error"}
                "422": {$ref: "#/components/responses/Error"}
          /v1/batches/{id}/results:
            get:
              tags: [batches]
              summary: Per-item results, in item order.
              parameters:
                - $ref: "#/components/parameters/BatchID"
                - $ref: "#/components/parameters/RequestID"
                - $ref: "#/components/parameters/TraceParent"
                - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 100}}
                - {name: after, in: query, description: An item index from `next_after`., schema: {type: integer, minimum: 0}}
              responses:
                "200":
                  description: A page; once the batch is terminal no row is `pending`.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/ResultsPage"}
                "400": {$ref: "#/components/responses/Error"}
                "401": {$ref: "#/components/responses/Error"}
                "404": {$ref: "#/components/responses/Error"}
          /v1/batches/{id}/deliveries:
            get:
              tags: [batches]
              summary: Every client webhook delivery attempt, newest first.
              parameters:
                - $ref: "#/components/parameters/BatchID"
                - $ref: "#/components/parameters/RequestID"
                - $ref: "#/components/parameters/TraceParent"
                - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500, default: 50}}
                - {name: after, in: query, description: An attempt id from `next_after`., schema: {type: string}}
              responses:
                "200":
                  description: A page.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/DeliveriesPage"}
                "400": {$ref: "#/components/responses/Error"}
                "401": {$ref: "#/components/responses/Error"}
                "404": {$ref: "#/components/responses/Error"}
          /v1/batches/{id}/events:
            get:
              tags: [batches]
              summary: Server-Sent Events, one `batch` event per change of the batch object.
              description: >
                `id:` is the batch's version and `data:` the batch object, never two equal in a row; the stream ends after a
                terminal one. `Last-Event-ID` resumes after that version.
              parameters:
                - $ref: "#/components/parameters/BatchID"
                - $ref: "#/components/parameters/RequestID"
                - $ref: "#/components/parameters/TraceParent"
                - {name: Last-Event-ID, in: header, schema: {type: string}}
              responses:
                "200":
                  description: The stream.
                  content:
                    text/event-stream:
                      schema: {type: string, description: "`event: batch`, `id: <version>`, `data: <the batch object>` per change."}
                "401": {$ref: "#/components/responses/Error"}
                "404": {$ref: "#/components/responses/Error"}
          /v1/providers/{provider}/webhooks/{token}:
            post:
              tags: [vendors]
              summary: A vendor's webhook about one batch (AirOps).
              description: The per-batch token authenticates the vendor; an unknown or bad token is refused and nothing is stored.
              security: []
              parameters:
                - {name: provider, in: path, required: true, schema: {type: string}}
                - {name: token, in: path, required: true, schema: {type: string}}
              requestBody:
                required: true
                content:
                  application/json: {schema: {type: object}}
              responses:
                "200":
                  description: Stored before this answer.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [received, outcome]
                        properties:
                          received: {const: true}
                          outcome: {type: string, enum: [applied, recorded, duplicate]}
                "400": {$ref: "#/components/responses/Error"}
                "401": {$ref: "#/components/responses/Error"}
                "413": {$ref: "#/components/responses/Error"}
          /ui:
            get:
              tags: [operator page]
              summary: The jobs page (HTML), filterable and paged; rows update live.
              description: Signed out, a 303 to the sign-in form. Pages are HTML for people, not an API.
              security: [{uiSession: []}]
              parameters:
                - {name: lifecycle_status, in: query, schema: {type: string}}
                - {name: provider, in: query, schema: {type: string}}
                - {name: route, in: query, schema: {type: string}}
                - {name: after, in: query, schema: {type: string}}
              responses:
                "200": {$ref: "#/components/responses/Page"}
                "303": {$ref: "#/components/responses/SignInFirst"}
                "400": {$ref: "#/components/responses/Page"}
          /ui/sign-in:
            get:
              tags: [operator page]
              summary: The sign-in form; sets the form's CSRF cookie.
              security: []
              responses:
                "200": {$ref: "#/components/responses/Page"}
            post:
              tags: [operator page]
              summary: Signs in with a tenant's API key; sets the session cookie (HttpOnly, SameSite=Strict).
              security: []
              requestBody:
                required: true
                content:
                  application/x-www-form-urlencoded:
                    schema:
                      type: object
                      required: [api_key, csrf]
                      properties: {api_key: {type: string}, csrf: {type: string}}
              responses:
                "303": {description: Signed in; to the jobs page., headers: {Location: {schema: {type: string}}}}
                "401": {$ref: "#/components/responses/Page"}
                "403": {$ref: "#/components/responses/Page"}
          /ui/sign-out:
            post:
              tags: [operator page]
              summary: Ends the session.
              security: [{uiSession: []}]
              requestBody:
                required: true
                content:
                  application/x-www-form-urlencoded:
                    schema: {type: object, required: [csrf], properties: {csrf: {type: string}}}
              responses:
                "303": {$ref: "#/components/responses/SignInFirst"}
                "403": {$ref: "#/components/responses/Page"}
          /ui/batches/{id}:
            get:
              tags: [operator page]
              summary: One job (HTML), with its results paged, vendor events and webhook delivery health.
              security: [{uiSession: []}]
              parameters:
                - {name: id, in: path, required: true, schema: {type: string}}
                - {name: results_after, in: query, schema: {type: integer, minimum: 0}}
                - {name: done, in: query, schema: {type: string}}
              responses:
                "200": {$ref: "#/components/responses/Page"}
                "303": {$ref: "#/components/responses/SignInFirst"}
                "404": {$ref: "#/components/responses/Page"}
          /ui/batches/{id}/{action}:
            post:
              tags: [operator page]
              summary: Cancel, pause, resume or migrate a job from its page.
              description: Without `confirm=yes`, answers the confirmation page; with it, acts by the API's rules.
              security: [{uiSession: []}]
              parameters:
                - {name: id, in: path, required: true, schema: {type: string}}
                - {name: action, in: path, required: true, schema: {type: string, enum: [cancel, pause, resume, migrate]}}
              requestBody:
                required: true
                content:
                  application/x-www-form-urlencoded:
                    schema:
                      type: object
                      required: [csrf]
                      properties: {csrf: {type: string}, confirm: {const: "yes"}, provider: {type: string}}
              responses:
                "200": {$ref: "#/components/responses/Page"}
                "303": {description: Done; to the job page., headers: {Location: {schema: {type: string}}}}
                "403": {$ref: "#/components/responses/Page"}
                "404": {$ref: "#/components/responses/Page"}
                "409": {$ref: "#/components/responses/Page"}
          /ui/vendors:
            get:
              tags: [operator page]
              summary: Per provider, the tenant's active jobs and this replica's vendor figures; the tenant's outbox.
              security: [{uiSession: []}]
              responses:
                "200": {$ref: "#/components/responses/Page"}
                "303": {$ref: "#/components/responses/SignInFirst"}
          /ui/live:
            get:
              tags: [operator page]
              summary: Live rows for the page's script (Server-Sent Events).
              description: >
                One `row` event (`{"id", "version", "lifecycle_status", "provider_status", "progress"}`) per change of each
                listed job of the session's tenant, the current state first; `end` once every listed job is finished.
              security: [{uiSession: []}]
              parameters:
                - {name: ids, in: query, required: true, schema: {type: string}, description: "1–100 batch ids, comma-separated."}
              responses:
                "200":
                  description: The event stream.
                  content:
                    text/event-stream: {schema: {type: string}}
                "400": {$ref: "#/components/responses/Page"}
                "401": {$ref: "#/components/responses/Page"}
                "404": {$ref: "#/components/responses/Page"}
          /ui/assets/app.css:
            get:
              tags: [operator page]
              summary: The page's stylesheet.
              security: []
              responses:
                "200": {description: CSS., content: {text/css: {schema: {type: string}}}}
          /ui/assets/app.js:
            get:
              tags: [operator page]
              summary: The page's script (live rows).
              security: []
              responses:
                "200": {description: JavaScript., content: {text/javascript: {schema: {type: string}}}}
          /ui/assets/icon.svg:
            get:
              tags: [operator page]
              summary: The page's icon.
              security: []
              responses:
                "200": {description: SVG., content: {image/svg+xml: {schema: {type: string}}}}
        webhooks:
          batchEvent:
            post:
              summary: A batch event sent to the batch's webhook URL.
              description: >
                Signed per Standard Webhooks: `webhook-signature` is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with
                the subscription's `whsec_` secret. Answer 2xx to acknowledge; 410 stops the subscription; anything else is
                retried with backoff.
              security: []
              parameters:
                - {name: webhook-id, in: header, required: true, schema: {type: string}}
                - {name: webhook-timestamp, in: header, required: true, schema: {type: string}}
                - {name: webhook-signature, in: header, required: true, schema: {type: string}}
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: "#/components/schemas/WebhookEvent"}
              responses:
                "2XX": {description: Delivered.}
                "410": {description: Stop sending to this subscription.}
        """#
}
