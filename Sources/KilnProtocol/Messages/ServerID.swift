#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A build server's identity: the socket address it advertises (`public_addr`), Rust's `SocketAddr`.
///
/// bincode: an enum, V4 = tag 0 + 4 octets + u16 port, V6 = tag 1 + 16 octets + u16 port (flowinfo and scope are
/// dropped, protocol §3.1). JSON and text: Rust's `Display`, `127.0.0.1:10501` or `[::1]:10505`.
public struct ServerID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// 4 octets for IPv4, 16 for IPv6.
    public let octets: [UInt8]
    public let port: UInt16

    public init?(octets: [UInt8], port: UInt16) {
        guard octets.count == 4 || octets.count == 16 else { return nil }
        self.octets = octets
        self.port = port
    }

    /// Parses `a.b.c.d:port` or `[v6]:port`; nil if it is not exactly that.
    public init?(_ text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return nil
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), let port = UInt16(portText),
            let octets = Self.parseIP(String(host), allowV6: text.hasPrefix("["))
        else { return nil }
        self.init(octets: octets, port: port)
    }

    /// Parses a bare IP address (no port): dotted IPv4, or IPv6 without brackets.
    public static func parseIP(_ text: String, allowV6: Bool = true) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if allowV6, inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    public var isIPv6: Bool { octets.count == 16 }

    /// The address without the port, as text (`127.0.0.1`, `::1`).
    public var ipText: String {
        var buffer = [CChar](repeating: 0, count: 64)
        let family = isIPv6 ? AF_INET6 : AF_INET
        let ok = octets.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        guard ok else { return octets.map(String.init).joined(separator: ".") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { isIPv6 ? "[\(ipText)]:\(port)" : "\(ipText):\(port)" }

    public static func < (lhs: ServerID, rhs: ServerID) -> Bool {
        if lhs.octets.count != rhs.octets.count { return lhs.octets.count < rhs.octets.count }
        if lhs.octets != rhs.octets { return lhs.octets.lexicographicallyPrecedes(rhs.octets) }
        return lhs.port < rhs.port
    }

    public func encode(to encoder: any Encoder) throws {
        guard encoder.isBincode else {
            var container = encoder.singleValueContainer()
            try container.encode(description)
            return
        }
        var container = encoder.container(keyedBy: WireKey.self)
        try container.encode(UInt32(isIPv6 ? 1 : 0), forKey: "variant")
        try encoder.bincodeFixedBytes(octets)
        try container.encode(port, forKey: "port")
    }

    public init(from decoder: any Decoder) throws {
        guard decoder.isBincode else {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let parsed = ServerID(text) else {
                throw BincodeError(.invalidValue, "'\(text)' is not ip:port")
            }
            self = parsed
            return
        }
        let variant = try decoder.decodeVariant(names: ["V4", "V6"])
        let octets = try decoder.bincodeFixedBytes(variant.index == 0 ? 4 : 16)
        let port = try decoder.container(keyedBy: WireKey.self).decode(UInt16.self, forKey: "port")
        self.octets = octets
        self.port = port
    }
}
