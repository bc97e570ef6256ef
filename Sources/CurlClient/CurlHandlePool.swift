import CCurl
import Synchronization

/// Idle libcurl easy handles by origin. A handle keeps its connection (and TLS session) open after a request, so
/// taking the same origin's handle again skips the TCP connect and TLS handshake: a few milliseconds per call to
/// a scheduler or build server that keeps connections alive.
final class CurlHandlePool: Sendable {
    /// An easy handle owned by whoever took it from the pool.
    struct Handle: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
    }

    /// At most this many idle handles per origin; more are cleaned up when given back.
    let maxIdlePerOrigin: Int
    private let idle = Mutex<[String: [Handle]]>([:])

    init(maxIdlePerOrigin: Int = 8) { self.maxIdlePerOrigin = maxIdlePerOrigin }

    /// An idle handle for `origin`, reset to libcurl's defaults (its open connections are kept), or a new one.
    func take(for origin: String) -> Handle? {
        if let handle = idle.withLock({ $0[origin]?.popLast() }) {
            curl_easy_reset(handle.pointer)
            return handle
        }
        return curl_easy_init().map(Handle.init)
    }

    /// Keeps `handle` for the next request to `origin`, or cleans it up when enough are idle.
    func giveBack(_ handle: Handle, for origin: String) {
        let kept = idle.withLock { pool -> Bool in
            guard pool[origin, default: []].count < maxIdlePerOrigin else { return false }
            pool[origin, default: []].append(handle)
            return true
        }
        if !kept { curl_easy_cleanup(handle.pointer) }
    }

    /// The part of a URL a connection is for: scheme, host and port (and the unix socket, if any).
    static func origin(of url: String, unixSocket: String?) -> String {
        let parts = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        // "scheme:", "", "authority", "path…"
        let origin = parts.count >= 3 ? parts[0] + "//" + parts[2].prefix { $0 != "?" } : Substring(url)
        return String(origin) + (unixSocket.map { " unix:\($0)" } ?? "")
    }
}
