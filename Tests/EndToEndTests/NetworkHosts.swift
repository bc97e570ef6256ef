import Foundation
import KilnTestSupport

/// Separate network hosts on one machine: a network namespace per host, each with one interface (`eth0`, a veth)
/// plugged into a bridge that lives in a namespace of its own, so nothing in the machine's own network changes.
/// Every request between two hosts crosses a real network stack (veth, bridge, the hosts' TCP/IP), as between
/// machines. The namespaces (and with them the veths and the bridge) are deleted when this goes away.
final class NetworkHosts: @unchecked Sendable {
    static let ip = "/usr/sbin/ip"

    /// Why the hosts cannot be made here, or nil.
    static var missingPrerequisite: String? {
        if getuid() != 0 { return "not root: network namespaces need root (CI runs as root)" }
        if !FileManager.default.isExecutableFile(atPath: ip) { return "no \(ip) (apt install iproute2)" }
        return nil
    }

    /// One host: its namespace and its address on the test network.
    struct Host: Sendable {
        let name: String
        let namespace: String
        let address: String

        /// What runs a command inside the host (`ip netns exec` execs it: the PID stays the command's).
        var launcher: [String] { [NetworkHosts.ip, "netns", "exec", namespace] }

        /// `executable arguments` run inside the host.
        func command(_ executable: String, _ arguments: [String]) -> (executable: String, arguments: [String]) {
            (launcher[0], Array(launcher.dropFirst()) + [executable] + arguments)
        }
    }

    let prefix: String
    /// The first three octets of the hosts' /24 (10.213.N).
    let subnet: String
    private let bridgeNamespace: String
    private(set) var hosts: [String: Host] = [:]

    init() throws {
        let tag = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        prefix = "kiln-\(tag)"
        subnet = "10.213.\(Int.random(in: 1...254))"
        bridgeNamespace = "\(prefix)-switch"
        try Self.run(["netns", "add", bridgeNamespace])
        try Self.run(["-n", bridgeNamespace, "link", "add", "br0", "type", "bridge"])
        try Self.run(["-n", bridgeNamespace, "link", "set", "br0", "up"])
    }

    deinit {
        for host in hosts.values { _ = try? Self.run(["netns", "del", host.namespace]) }
        _ = try? Self.run(["netns", "del", bridgeNamespace])
    }

    /// Adds host `name` with the next address, its loopback and `eth0` up.
    @discardableResult
    func add(_ name: String) throws -> Host {
        let number = hosts.count + 1
        let host = Host(name: name, namespace: "\(prefix)-\(name)", address: "\(subnet).\(number)")
        try Self.run(["netns", "add", host.namespace])
        hosts[name] = host
        let port = "p\(number)"
        try Self.run(["-n", bridgeNamespace, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host.namespace])
        try Self.run(["-n", bridgeNamespace, "link", "set", port, "master", "br0", "up"])
        try Self.run(["-n", host.namespace, "addr", "add", "\(host.address)/24", "dev", "eth0"])
        try Self.run(["-n", host.namespace, "link", "set", "eth0", "up"])
        try Self.run(["-n", host.namespace, "link", "set", "lo", "up"])
        return host
    }

    subscript(name: String) -> Host { hosts[name]! }

    private static func run(_ arguments: [String]) throws {
        let result = try runToCompletion(ip, arguments, timeoutSeconds: 30)
        guard result.status == 0 else { throw TestFailure("ip \(arguments.joined(separator: " ")) failed: \(result.output)") }
    }
}
