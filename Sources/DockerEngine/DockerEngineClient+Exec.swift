import CurlClient
import Foundation
import KilnErrors

/// The end of a process run with exec.
public struct ExecResult: Sendable {
    public var exitCode: Int
    public var streams: ExecStreamDemultiplexer.Streams
}

extension DockerEngineClient {
    /// Runs a command in a running container and waits for it: create, start (the answer is the multiplexed
    /// output, read until the process ends), then inspect for the exit code. A ``DockerEngineError/Code/timeout``
    /// leaves the process running; the caller kills it.
    public func exec(container: String, _ config: ExecConfig, timeout: Int, streamLimit: Int) async throws -> ExecResult {
        let created = try await call(.post, "/containers/\(container)/exec", json: try JSONEncoder().encode(config), timeout: 30)
        let id = try decode(IdentifiedObject.self, from: created).id
        let start = Data(#"{"Detach":false,"Tty":false}"#.utf8)
        // Room for both streams at their limit plus frame headers; the demultiplexer cuts each stream to the limit.
        // The engine hands the connection over to the stream and closes it at the end: never a kept one.
        let raw = try await call(
            .post, "/exec/\(id)/start", json: start, limit: 3 * streamLimit + (1 << 20), timeout: timeout, reusesConnection: false)
        let streams = try ExecStreamDemultiplexer.split(raw, limit: streamLimit)
        return ExecResult(exitCode: try await exitCode(ofExec: id), streams: streams)
    }

    /// The exit code of an exec whose output ended: the engine records it just after the stream closes, so it is
    /// waited for briefly.
    func exitCode(ofExec id: String) async throws -> Int {
        for attempt in 0..<50 {
            let inspection = try decode(ExecInspection.self, from: try await call(.get, "/exec/\(id)/json", timeout: 30))
            if !inspection.running, let code = inspection.exitCode { return code }
            try await Task.sleep(for: .milliseconds(attempt < 10 ? 2 : 20))
        }
        throw DockerEngineError(.malformed, "exec \(id) still runs after its output ended")
    }

    /// One call to the engine. Non-2xx answers are thrown as ``DockerEngineError`` with the engine's message.
    func call(
        _ method: HTTPRequest.Method, _ path: String, json: Data? = nil, bodyFile: String? = nil, contentType: String? = nil,
        limit: Int = 16 << 20, timeout: Int, reusesConnection: Bool = true
    ) async throws -> [UInt8] {
        var headers: [(String, String)] = []
        if json != nil { headers.append(("Content-Type", "application/json")) }
        if let contentType { headers.append(("Content-Type", contentType)) }
        var request = HTTPRequest(
            method: method, url: Self.base + path, headers: headers, body: json.map { [UInt8]($0) },
            timeoutSeconds: max(timeout, 1), connectTimeoutSeconds: 5, maxResponseBytes: limit, unixSocketPath: socketPath,
            bodyFilePath: bodyFile)
        request.reusesConnection = reusesConnection
        let response: HTTPResponse
        do { response = try await CurlTransport().perform(request) } catch let error as CurlError {
            switch error.code {
            case .connect:
                throw DockerEngineError(
                    .unreachable, "cannot reach the Docker engine at \(socketPath): start dockerd, or set docker_socket", underlying: error)
            case .timeout: throw DockerEngineError(.timeout, "\(method.rawValue) \(path) took longer than \(timeout) s")
            case .tooLarge: throw DockerEngineError(.tooLarge, "\(method.rawValue) \(path) answered more than \(limit) bytes")
            default: throw DockerEngineError(.unreachable, "\(method.rawValue) \(path) failed", underlying: error)
            }
        }
        guard (200..<300).contains(response.status) else {
            let message = (try? JSONDecoder().decode(EngineMessage.self, from: Data(response.body)))?.message
            let text = message ?? String(decoding: response.body.prefix(500), as: UTF8.self)
            throw DockerEngineError(response.status == 404 ? .notFound : .refused, "\(method.rawValue) \(path): HTTP \(response.status)", cause: text)
        }
        return response.body
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    static func encoded(_ text: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        return text.utf8.map { unreserved.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
    }
}
