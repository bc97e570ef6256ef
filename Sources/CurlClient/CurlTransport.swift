import BlockingPool
import CCurl
import CCurlShims
import KilnErrors
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Outbound HTTP through libcurl. `curl_easy_perform` blocks, so each call runs on the bounded ``BlockingWork``
/// pool and the caller awaits it; Swift's cooperative pool and the servers' event loops are never blocked. A
/// cancelled caller stops its transfer (libcurl's progress callback aborts it) instead of holding a thread
/// until the deadline.
public struct CurlTransport: Sendable {
    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()
    private static let pool = CurlHandlePool()

    public init() { _ = Self.globalInit }

    public func perform(_ request: HTTPRequest) async throws -> HTTPResponse {
        let cancellation = Cancellation()
        return try await withTaskCancellationHandler {
            do {
                return try await BlockingWork.run { try Self.performBlocking(request, cancellation: cancellation) }
            } catch is CancellationError {
                throw CurlError(.cancelled, "\(request.method.rawValue) \(request.url) was cancelled before it started")
            }
        } onCancel: {
            cancellation.requested.store(true, ordering: .relaxed)
        }
    }

    /// Set when the caller is cancelled; libcurl's progress callback then aborts the transfer.
    final class Cancellation: Sendable {
        let requested = Atomic(false)
        init() {}
    }

    /// Runs the request on the calling thread; it stops early once `cancellation` is requested.
    static func performBlocking(_ request: HTTPRequest, cancellation: Cancellation = Cancellation()) throws -> HTTPResponse {
        _ = globalInit
        let origin = CurlHandlePool.origin(of: request.url, unixSocket: request.unixSocketPath)
        let pooled = request.reusesConnection ? pool.take(for: origin) : curl_easy_init().map(CurlHandlePool.Handle.init)
        guard let pooled else { throw CurlError(.setup, "libcurl could not create a handle") }
        let handle = pooled.pointer
        var keepHandle = false
        defer { if keepHandle { pool.giveBack(pooled, for: origin) } else { curl_easy_cleanup(handle) } }
        let easy = CurlEasyHandle(handle: handle)
        let collector = ResponseCollector(limit: request.maxResponseBytes)
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        let connection = request.reusesConnection ? "keep-alive" : "close"
        for (name, value) in request.headers.filter({ $0.0.lowercased() != "connection" }) + [("Expect", ""), ("Connection", connection)] {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        try easy.configure(request, headers: headerList)
        var bodyFile: UnsafeMutablePointer<FILE>?
        defer { if let bodyFile { fclose(bodyFile) } }
        if let path = request.bodyFilePath {
            var info = stat()
            bodyFile = fopen(path, "rb")
            guard let file = bodyFile, fstat(fileno(file), &info) == 0 else {
                throw CurlError(.setup, "cannot read the request body file '\(path)'", cause: String(cString: strerror(errno)))
            }
            try easy.attachBodyFile(file, size: Int(info.st_size))
        }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }
        try easy.set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))

        let status = withExtendedLifetime(collector) { () -> CURLcode in
            let context = Unmanaged.passUnretained(collector).toOpaque()
            _ = try? easy.set(CURLOPT_WRITEDATA, pointer: context)
            _ = try? easy.set(CURLOPT_HEADERDATA, pointer: context)
            CCurlShims_easy_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
                guard let data, let context else { return 0 }
                let collector = Unmanaged<ResponseCollector>.fromOpaque(context).takeUnretainedValue()
                return collector.appendBody(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
            }
            CCurlShims_easy_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
                guard let data, let context else { return 0 }
                let collector = Unmanaged<ResponseCollector>.fromOpaque(context).takeUnretainedValue()
                collector.appendHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))
                return size * count
            }
            return withExtendedLifetime(cancellation) { () -> CURLcode in
                _ = try? easy.set(CURLOPT_XFERINFODATA, pointer: Unmanaged.passUnretained(cancellation).toOpaque())
                _ = try? easy.set(CURLOPT_NOPROGRESS, long: 0)
                // Called about once a second while idle and on every transfer step: a non-zero answer aborts.
                CCurlShims_easy_setopt_xferinfo_callback(handle, CURLOPT_XFERINFOFUNCTION) { context, _, _, _, _ in
                    guard let context else { return 0 }
                    return Unmanaged<Cancellation>.fromOpaque(context).takeUnretainedValue().requested.load(ordering: .relaxed) ? 1 : 0
                }
                return curl_easy_perform(handle)
            }
        }
        if status == CURLE_ABORTED_BY_CALLBACK {
            throw CurlError(.cancelled, "\(request.method.rawValue) \(request.url) was cancelled")
        }
        guard status == CURLE_OK else {
            let detail = String(cString: curl_easy_strerror(status)) + ": " + String(cString: errorBuffer)
            throw CurlError(
                collector.overflowed ? .tooLarge : Self.code(for: status), "\(request.method.rawValue) \(request.url) failed", cause: detail)
        }
        var code = 0
        CCurlShims_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        var connects = 0
        CCurlShims_easy_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects)
        keepHandle = request.reusesConnection
        return HTTPResponse(status: code, headers: collector.headers, body: collector.body, reusedConnection: connects == 0)
    }

    private static func code(for status: CURLcode) -> CurlError.Code {
        switch status {
        case CURLE_OPERATION_TIMEDOUT: return .timeout
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: return .connect
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM:
            return .tls
        default: return .transfer
        }
    }
}

/// Gathers the answer inside libcurl's callbacks.
final class ResponseCollector {
    let limit: Int
    var body: [UInt8] = []
    var headers: [(String, String)] = []
    var overflowed = false

    init(limit: Int) { self.limit = limit }

    func appendBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= limit else {
            overflowed = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    func appendHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        // "\r\n" is one Character in Swift, so test for newlines rather than for "\r".
        let line = String(String(decoding: bytes, as: UTF8.self).drop { $0 == " " }.prefix { !$0.isNewline })
        if line.hasPrefix("HTTP/") { headers = [] }  // a new status line (after 100-continue or a redirect)
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
        headers.append((name, String(value)))
    }
}
