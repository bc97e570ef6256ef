import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Raw TCP connections to 127.0.0.1, for tests that hold connections open or stall them halfway.
public enum LoopbackConnection {
    /// A non-blocking TCP connection to 127.0.0.1:`port` that sends `bytes` (maybe none) and then nothing more; nil
    /// when it is not established within 3 s (a server out of descriptors leaves its backlog full).
    public static func open(port: UInt16, sending bytes: [UInt8] = []) throws -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let started = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard started == 0 || (errno == EINPROGRESS && poll(&ready, 1, 3000) == 1),
            getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) == 0, error == 0
        else {
            close(descriptor)
            return nil
        }
        if !bytes.isEmpty { _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        return descriptor
    }
}
