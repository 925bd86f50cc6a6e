import CCurl

/// Runs `curl_global_init` exactly once per process, before the first handle is made.
enum CurlGlobal {
    /// Swift initialises a `static let` lazily and thread-safely, which is what libcurl asks of
    /// `curl_global_init`: called once, before any other libcurl call.
    private static let initResult: CURLcode = bg_curl_global_init_default()

    /// Initialises libcurl if needed; returns its message when initialisation failed.
    static func ensureInitialized() -> String? {
        let code = initResult
        guard code != CURLE_OK else { return nil }
        return CurlHandleSupport.text(of: code)
    }
}

enum CurlHandleSupport {
    /// libcurl's short description of an error code.
    static func text(of code: CURLcode) -> String {
        guard let text = curl_easy_strerror(code) else { return "curl error \(code.rawValue)" }
        return String(cString: text)
    }

    /// libcurl's short description of a multi-interface error code.
    static func text(of code: CURLMcode) -> String {
        guard let text = curl_multi_strerror(code) else { return "curl multi error \(code.rawValue)" }
        return String(cString: text)
    }
}

/// One libcurl easy handle (`CURL *`) and the error buffer libcurl writes into.
///
/// Confined to the event thread: it is created, configured, added to and removed from the multi
/// handle there, so it is deliberately not `Sendable`.
final class EasyHandle {
    let raw: UnsafeMutableRawPointer
    /// `CURLOPT_ERRORBUFFER`: libcurl's detailed message for the last failed transfer.
    let errorBuffer: UnsafeMutablePointer<CChar>

    init?() {
        guard let raw = curl_easy_init() else { return nil }
        self.raw = raw
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(raw)
        errorBuffer.deallocate()
    }

    /// Sets a `long` option.
    @discardableResult
    func set(_ option: CURLoption, _ value: Int) -> CURLcode {
        bg_curl_easy_setopt_long(raw, option, value)
    }

    /// Sets a string option; libcurl copies the string (every string option except `POSTFIELDS`).
    @discardableResult
    func set(_ option: CURLoption, string value: String) -> CURLcode {
        bg_curl_easy_setopt_string(raw, option, value)
    }

    /// Sets a pointer option; the caller keeps the pointee alive while the handle uses it.
    @discardableResult
    func set(_ option: CURLoption, pointer value: UnsafeMutableRawPointer?) -> CURLcode {
        bg_curl_easy_setopt_pointer(raw, option, value)
    }

    /// Sets a `curl_off_t` option.
    @discardableResult
    func set(_ option: CURLoption, offset value: Int64) -> CURLcode {
        bg_curl_easy_setopt_off_t(raw, option, curl_off_t(value))
    }

    /// Sets a header list; the list must outlive the transfer.
    @discardableResult
    func set(_ option: CURLoption, list: HeaderList) -> CURLcode {
        bg_curl_easy_setopt_slist(raw, option, list.head)
    }

    /// Sets a write or header callback.
    @discardableResult
    func set(_ option: CURLoption, callback: bg_curl_data_callback) -> CURLcode {
        bg_curl_easy_setopt_data_callback(raw, option, callback)
    }

    /// Sets the pre-request callback.
    @discardableResult
    func set(_ option: CURLoption, prereq: curl_prereq_callback) -> CURLcode {
        bg_curl_easy_setopt_prereq_callback(raw, option, prereq)
    }

    /// Reads a `long` transfer property, or nil when libcurl has none.
    func info(_ info: CURLINFO) -> Int? {
        var value = 0
        return bg_curl_easy_getinfo_long(raw, info, &value) == CURLE_OK ? value : nil
    }

    /// Reads `CURLINFO_PRIVATE`.
    var privatePointer: UnsafeMutableRawPointer? {
        var value: UnsafeMutableRawPointer?
        return bg_curl_easy_getinfo_pointer(raw, CURLINFO_PRIVATE, &value) == CURLE_OK ? value : nil
    }

    /// libcurl's detailed message for the last failure, if it wrote one.
    var errorDetail: String? {
        errorBuffer[0] == 0 ? nil : String(cString: errorBuffer)
    }

    /// Clears every option (keeping caches and connections) so the handle can carry another request.
    func reset() {
        curl_easy_reset(raw)
        errorBuffer[0] = 0
    }
}

/// An owned `curl_slist` of request header lines, freed on deinit.
///
/// Confined to the event thread with the transfer that uses it.
final class HeaderList {
    private(set) var head: UnsafeMutablePointer<curl_slist>?

    init() {}

    deinit { curl_slist_free_all(head) }

    /// Appends one `Name: value` line (libcurl copies it); false when libcurl could not allocate.
    func append(_ line: String) -> Bool {
        guard let newHead = curl_slist_append(head, line) else { return false }
        head = newHead
        return true
    }
}

/// The libcurl multi handle (`CURLM *`) that drives every transfer of one client.
///
/// `@unchecked Sendable` because it wraps a C handle: every call except `wakeup()` is made on the
/// event thread only, and `curl_multi_wakeup` is documented by libcurl as safe to call from any
/// thread. `curl_multi_cleanup` runs in `deinit`, after the event thread has removed every easy
/// handle and exited (the thread holds a strong reference until then).
final class MultiHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer

    init?() {
        guard let raw = curl_multi_init() else { return nil }
        self.raw = raw
    }

    deinit { curl_multi_cleanup(raw) }

    /// Sets a `long` option.
    @discardableResult
    func set(_ option: CURLMoption, _ value: Int) -> CURLMcode {
        bg_curl_multi_setopt_long(raw, option, value)
    }

    /// Makes a running or the next `curl_multi_poll` return at once. Safe from any thread.
    func wakeup() {
        _ = curl_multi_wakeup(raw)
    }
}
