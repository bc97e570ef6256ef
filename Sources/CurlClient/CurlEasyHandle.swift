import CCurl
import CCurlShims
import KilnErrors

#if canImport(Glibc)
    import Glibc
#endif

/// One libcurl easy handle, with one typed setter per option kind; every failure is a thrown ``CurlError``.
struct CurlEasyHandle {
    let handle: UnsafeMutableRawPointer

    func set(_ option: CURLoption, long value: Int) throws {
        try check(CCurlShims_easy_setopt_long(handle, option, value), option)
    }
    func set(_ option: CURLoption, string value: String) throws {
        try check(CCurlShims_easy_setopt_string(handle, option, value), option)
    }
    func set(_ option: CURLoption, pointer value: UnsafeMutableRawPointer?) throws {
        try check(CCurlShims_easy_setopt_pointer(handle, option, value), option)
    }

    private func check(_ status: CURLcode, _ option: CURLoption) throws {
        guard status == CURLE_OK else {
            throw CurlError(.setup, "libcurl refused option \(option.rawValue)", cause: String(cString: curl_easy_strerror(status)))
        }
    }

    /// Applies everything of `request` except the callbacks.
    func configure(_ request: HTTPRequest, headers: UnsafeMutablePointer<curl_slist>?) throws {
        try set(CURLOPT_URL, string: request.url)
        try set(CURLOPT_NOSIGNAL, long: 1)  // threads: no SIGALRM-based DNS timeouts
        try set(CURLOPT_TIMEOUT, long: request.timeoutSeconds)
        try set(CURLOPT_CONNECTTIMEOUT, long: request.connectTimeoutSeconds)
        try set(CURLOPT_HTTP_VERSION, long: CURL_HTTP_VERSION_1_1)
        try set(CURLOPT_FOLLOWLOCATION, long: 0)
        try check(CCurlShims_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headers), CURLOPT_HTTPHEADER)
        switch request.method {
        case .get: try set(CURLOPT_HTTPGET, long: 1)
        case .head: try set(CURLOPT_NOBODY, long: 1)
        default: try set(CURLOPT_CUSTOMREQUEST, string: request.method.rawValue)
        }
        if request.bodyFilePath != nil {
            // The file is attached by the caller (`attachBodyFile`), which owns the FILE*.
        } else if let body = request.body {
            try set(CURLOPT_POSTFIELDSIZE_LARGE_SHIM, offset: body.count)
            try body.withUnsafeBytes { raw in
                // COPYPOSTFIELDS copies, so the body may go away after this call.
                try check(
                    CCurlShims_easy_setopt_pointer(
                        handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1))),
                    CURLOPT_COPYPOSTFIELDS)
            }
        } else if request.method == .post || request.method == .put {
            try set(CURLOPT_POSTFIELDSIZE_LARGE_SHIM, offset: 0)
            try set(CURLOPT_POSTFIELDS, string: "")
        }
        if let pem = request.pinnedCertificatePEM {
            try pem.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                try check(CCurlShims_easy_setopt_blob(handle, CURLOPT_CAINFO_BLOB, base, raw.count), CURLOPT_CAINFO_BLOB)
            }
            try set(CURLOPT_CAPATH, pointer: nil)  // the pinned certificate is the only anchor
            try set(CURLOPT_SSL_VERIFYPEER, long: 1)
            try set(CURLOPT_SSL_VERIFYHOST, long: 2)
        }
        if let socket = request.unixSocketPath { try set(CURLOPT_UNIX_SOCKET_PATH, string: socket) }
    }

    /// Streams the request body from `file` (libcurl's default read function is `fread` on READDATA).
    func attachBodyFile(_ file: UnsafeMutablePointer<FILE>, size: Int) throws {
        try set(CURLOPT_UPLOAD, long: 1)
        try set(CURLOPT_READDATA, pointer: UnsafeMutableRawPointer(file))
        try set(CURLOPT_INFILESIZE_LARGE, offset: size)
    }

    private func set(_ option: CURLoption, offset: Int) throws {
        try check(CCurlShims_easy_setopt_offset(handle, option, offset), option)
    }
}

/// `CURLOPT_POSTFIELDSIZE_LARGE` under a name that reads as what it sets.
let CURLOPT_POSTFIELDSIZE_LARGE_SHIM = CURLOPT_POSTFIELDSIZE_LARGE
