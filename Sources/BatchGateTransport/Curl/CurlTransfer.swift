import BatchGateCore
import CCurl

typealias TransferResult = Result<HTTPResponse, TransportError>

/// A request handed from a caller to the event thread.
struct Submission: Sendable {
    var id: UInt64
    var request: PreparedRequest
    var continuation: CheckedContinuation<TransferResult, Never>
    /// Set for a streamed request: takes the body as it arrives instead of collecting it.
    var sink: StreamSink? = nil
}

/// One request in flight: the easy handle carrying it, the response collected so far, and the
/// continuation its caller awaits.
///
/// Confined to the event thread. libcurl's callbacks reach it through unretained pointers
/// (`CURLOPT_PRIVATE`, `WRITEDATA`, `HEADERDATA`, `PREREQDATA`); the event loop's table of active
/// transfers holds the one strong reference until the easy handle has left the multi handle, after
/// which libcurl makes no more callbacks.
final class Transfer {
    let id: UInt64
    let easy: EasyHandle
    let continuation: CheckedContinuation<TransferResult, Never>
    let method: String
    let origin: String
    private let maxResponseBytes: Int
    private let addressFilter: (@Sendable (String) -> Bool)?
    private var headerList: HeaderList?
    private let sink: StreamSink?

    private var responseHeaders: [(name: String, value: String)] = []
    private var body: [UInt8] = []
    private var bodyLimitExceeded = false
    private var refusedAddress: String?

    init(submission: Submission, easy: EasyHandle, configuration: CurlHTTPClient.Configuration) {
        id = submission.id
        self.easy = easy
        continuation = submission.continuation
        method = submission.request.method
        origin = submission.request.origin
        maxResponseBytes = configuration.maxResponseBytes
        addressFilter = configuration.allowRemoteAddress
        sink = submission.sink
    }

    /// Sets every option for this request on the (freshly reset) easy handle; returns the error
    /// when libcurl refused one.
    func configure(_ request: PreparedRequest, configuration: CurlHTTPClient.Configuration) -> TransportError? {
        let easy = easy
        let this = Unmanaged.passUnretained(self).toOpaque()
        var failure: (option: String, code: CURLcode)?
        func check(_ code: CURLcode, _ option: String) {
            if code != CURLE_OK && failure == nil { failure = (option, code) }
        }

        check(easy.set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(easy.errorBuffer)), "ERRORBUFFER")
        check(easy.set(CURLOPT_URL, string: request.url), "URL")
        check(easy.set(CURLOPT_PROTOCOLS_STR, string: "http,https"), "PROTOCOLS_STR")
        check(easy.set(CURLOPT_FOLLOWLOCATION, 0), "FOLLOWLOCATION")
        check(easy.set(CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        // The empty string switches off the http_proxy/https_proxy environment variables, so the
        // address checked by `allowRemoteAddress` is the server's own.
        check(easy.set(CURLOPT_PROXY, string: ""), "PROXY")
        check(easy.set(CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds), "TIMEOUT_MS")
        check(
            easy.set(CURLOPT_CONNECTTIMEOUT_MS, PreparedRequest.milliseconds(configuration.connectTimeout)),
            "CONNECTTIMEOUT_MS"
        )
        check(easy.set(CURLOPT_TCP_KEEPALIVE, 1), "TCP_KEEPALIVE")
        check(easy.set(CURLOPT_USERAGENT, string: configuration.userAgent), "USERAGENT")
        // Fails early on a too-large Content-Length; the body callback enforces the limit otherwise.
        // Zero would mean "no limit" to libcurl, and a HEAD response announces a body it never sends.
        if maxResponseBytes > 0 && request.method != "HEAD" {
            check(easy.set(CURLOPT_MAXFILESIZE_LARGE, offset: Int64(maxResponseBytes)), "MAXFILESIZE_LARGE")
        }
        check(easy.set(CURLOPT_PRIVATE, pointer: this), "PRIVATE")
        check(easy.set(CURLOPT_WRITEFUNCTION, callback: TransferCallbacks.body), "WRITEFUNCTION")
        check(easy.set(CURLOPT_WRITEDATA, pointer: this), "WRITEDATA")
        check(easy.set(CURLOPT_HEADERFUNCTION, callback: TransferCallbacks.header), "HEADERFUNCTION")
        check(easy.set(CURLOPT_HEADERDATA, pointer: this), "HEADERDATA")
        if addressFilter != nil {
            check(easy.set(CURLOPT_PREREQFUNCTION, prereq: TransferCallbacks.prereq), "PREREQFUNCTION")
            check(easy.set(CURLOPT_PREREQDATA, pointer: this), "PREREQDATA")
        }

        switch (request.method, request.body) {
        case ("GET", nil):
            check(easy.set(CURLOPT_HTTPGET, 1), "HTTPGET")
        case ("HEAD", _):
            check(easy.set(CURLOPT_NOBODY, 1), "NOBODY")
        case (let method, let body?):
            check(easy.set(CURLOPT_POSTFIELDSIZE_LARGE, offset: Int64(body.count)), "POSTFIELDSIZE_LARGE")
            // COPYPOSTFIELDS copies `POSTFIELDSIZE` bytes now, so the array need not outlive the call.
            let code = body.withUnsafeBytes { bytes -> CURLcode in
                if let base = bytes.baseAddress {
                    return easy.set(CURLOPT_COPYPOSTFIELDS, pointer: UnsafeMutableRawPointer(mutating: base))
                }
                return easy.set(CURLOPT_COPYPOSTFIELDS, string: "")
            }
            check(code, "COPYPOSTFIELDS")
            if method != "POST" { check(easy.set(CURLOPT_CUSTOMREQUEST, string: method), "CUSTOMREQUEST") }
        case (let method, nil):
            check(easy.set(CURLOPT_CUSTOMREQUEST, string: method), "CUSTOMREQUEST")
        }

        if !request.headerLines.isEmpty {
            let list = HeaderList()
            for line in request.headerLines where !list.append(line) {
                return TransportError(.connection, "\(method) \(origin): out of memory building request headers")
            }
            headerList = list
            check(easy.set(CURLOPT_HTTPHEADER, list: list), "HTTPHEADER")
        }

        if let failure {
            return TransportError(
                failure.code == CURLE_OUT_OF_MEMORY ? .connection : .invalidRequest,
                "\(method) \(origin): libcurl refused option \(failure.option): "
                    + "\(CurlHandleSupport.text(of: failure.code)) (curl error \(failure.code.rawValue))"
            )
        }
        return nil
    }

    /// Appends response body bytes; false (which aborts the transfer) past `maxResponseBytes`.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if let sink { return sink.receive(status: easy.info(CURLINFO_RESPONSE_CODE) ?? 0, headers: responseHeaders, bytes) }
        guard body.count + bytes.count <= maxResponseBytes else {
            bodyLimitExceeded = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// Takes one raw header line as libcurl delivers it.
    func receiveHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        ResponseHeaderParser.consume(bytes, into: &responseHeaders)
    }

    /// Applies the remote-address filter before a request goes out on a new or reused connection.
    func allowConnection(to address: String) -> Bool {
        guard let addressFilter, !addressFilter(address) else { return true }
        refusedAddress = address
        return false
    }

    /// The outcome once libcurl reports the transfer done with `code`.
    func outcome(_ code: CURLcode) -> TransferResult {
        if code == CURLE_OK {
            let status = easy.info(CURLINFO_RESPONSE_CODE) ?? 0
            return .success(HTTPResponse(status: status, headers: responseHeaders, body: body))
        }
        return .failure(
            CurlErrorMapping.transportError(
                code: code,
                detail: easy.errorDetail,
                method: method,
                origin: origin,
                bodyLimitExceeded: bodyLimitExceeded,
                maxResponseBytes: maxResponseBytes,
                refusedAddress: refusedAddress
            )
        )
    }
}

/// libcurl callbacks. Non-capturing, so they convert to C function pointers.
enum TransferCallbacks {
    static let body: bg_curl_data_callback = { buffer, size, count, userdata in
        let length = size * count
        guard let userdata else { return 0 }
        guard let buffer, length > 0 else { return length }
        let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
        return transfer.receiveBody(UnsafeRawBufferPointer(start: buffer, count: length)) ? length : 0
    }

    static let header: bg_curl_data_callback = { buffer, size, count, userdata in
        let length = size * count
        guard let userdata, let buffer else { return length }
        let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
        transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: buffer, count: length))
        return length
    }

    static let prereq: curl_prereq_callback = { clientp, primaryIP, _, _, _ in
        guard let clientp else { return bg_curl_prereq_abort }
        let transfer = Unmanaged<Transfer>.fromOpaque(clientp).takeUnretainedValue()
        let address = primaryIP.map { String(cString: $0) } ?? ""
        return transfer.allowConnection(to: address) ? bg_curl_prereq_ok : bg_curl_prereq_abort
    }
}

/// Turns libcurl's raw header lines into name/value pairs.
enum ResponseHeaderParser {
    /// Adds one raw line to `headers`. A status line (`HTTP/...`) starts a new header block, so only
    /// the final response's headers remain after interim (1xx) responses; folded continuation lines
    /// join the previous value; the blank line ending a block and malformed lines are skipped.
    static func consume(_ line: UnsafeRawBufferPointer, into headers: inout [(name: String, value: String)]) {
        var end = line.count
        while end > 0, line[end - 1] == 0x0A || line[end - 1] == 0x0D { end -= 1 }
        guard end > 0 else { return }
        let bytes = UnsafeRawBufferPointer(rebasing: line[0..<end])

        if bytes.count >= 5, bytes[0] == 0x48, bytes[1] == 0x54, bytes[2] == 0x54, bytes[3] == 0x50, bytes[4] == 0x2F {
            headers.removeAll(keepingCapacity: true)
            return
        }
        if bytes[0] == 0x20 || bytes[0] == 0x09 {
            guard !headers.isEmpty else { return }
            let continuation = trimmed(bytes[...])
            guard !continuation.isEmpty else { return }
            let text = String(decoding: continuation, as: UTF8.self)
            let previous = headers[headers.count - 1].value
            headers[headers.count - 1].value = previous.isEmpty ? text : previous + " " + text
            return
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return }
        let name = String(decoding: bytes[..<colon], as: UTF8.self)
        let value = String(decoding: trimmed(bytes[(colon + 1)...]), as: UTF8.self)
        headers.append((name: name, value: value))
    }

    private static func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice = slice.dropLast() }
        return slice
    }
}

/// Maps libcurl's result codes to `TransportError`.
enum CurlErrorMapping {
    /// The error for a failed transfer. The message names the method, the origin (no credentials,
    /// path or query) and libcurl's explanation; it never contains header values.
    static func transportError(
        code: CURLcode,
        detail: String?,
        method: String,
        origin: String,
        bodyLimitExceeded: Bool,
        maxResponseBytes: Int,
        refusedAddress: String?
    ) -> TransportError {
        let prefix = "\(method) \(origin)"
        if let refusedAddress {
            return TransportError(.connection, "\(prefix): remote address \(refusedAddress) is not allowed")
        }
        if bodyLimitExceeded || code == CURLE_FILESIZE_EXCEEDED {
            return TransportError(.connection, "\(prefix): response body exceeds the limit of \(maxResponseBytes) bytes")
        }
        let explanation = (detail?.isEmpty == false ? detail : nil) ?? CurlHandleSupport.text(of: code)
        let message = "\(prefix): \(explanation) (curl error \(code.rawValue))"
        return TransportError(errorCode(for: code), message)
    }

    /// The error category of a libcurl result code other than `CURLE_OK`.
    static func errorCode(for code: CURLcode) -> TransportError.Code {
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT:
            return .invalidRequest
        default:
            // Refused, reset, closed mid-response (PARTIAL_FILE, GOT_NOTHING, RECV_ERROR,
            // SEND_ERROR), DNS, TLS and every other failure to get a response.
            return .connection
        }
    }
}
