import CurlClient
import Foundation
import KilnErrors

/// A small client of the Docker Engine API (1.41) over its unix socket, through libcurl. Every call has a
/// deadline and a bound on its answer, and fails with a typed ``DockerEngineError``; the `docker` CLI is never run.
public struct DockerEngineClient: Sendable {
    public let socketPath: String
    static let base = "http://docker/v1.41"

    public init(socketPath: String = "/var/run/docker.sock") { self.socketPath = socketPath }

    /// The engine's version: the cheapest call that proves the socket answers.
    public func version() async throws -> EngineVersion {
        try decode(EngineVersion.self, from: try await call(.get, "/version", timeout: 10))
    }

    public func imageExists(_ reference: String) async throws -> Bool {
        do {
            _ = try await call(.get, "/images/\(Self.encoded(reference))/json", timeout: 30)
            return true
        } catch let error as DockerEngineError where error.code == .notFound {
            return false
        }
    }

    /// Imports a root filesystem tar as the image `repository:tag` (`docker import`, no registry involved).
    public func importImage(fromFile tarPath: String, repository: String, tag: String, timeout: Int = 600) async throws {
        let query = "fromSrc=-&repo=\(Self.encoded(repository))&tag=\(Self.encoded(tag))"
        let answer = try await call(.post, "/images/create?\(query)", bodyFile: tarPath, contentType: "application/x-tar", timeout: timeout)
        // The import reports failure inside a 200 stream of JSON lines.
        if let text = String(bytes: answer, encoding: .utf8), text.contains("\"error\"") {
            throw DockerEngineError(.refused, "importing \(repository):\(tag) failed", cause: text)
        }
    }

    public func createContainer(_ config: ContainerConfig) async throws -> String {
        let answer = try await call(.post, "/containers/create", json: try JSONEncoder().encode(config), timeout: 60)
        return try decode(IdentifiedObject.self, from: answer).id
    }

    public func startContainer(_ id: String) async throws {
        _ = try await call(.post, "/containers/\(id)/start", timeout: 60)
    }

    /// Removes a container, running or not, with its anonymous volumes. A container already gone is fine.
    public func removeContainer(_ id: String) async throws {
        do { _ = try await call(.delete, "/containers/\(id)?force=1&v=1", timeout: 60) } catch let error as DockerEngineError
            where error.code == .notFound
        {}
    }

    /// Ids of all containers (running or not) carrying the label `key=value`.
    public func containers(labeled key: String, _ value: String) async throws -> [String] {
        let filter = Self.encoded(#"{"label":["\#(key)=\#(value)"]}"#)
        let answer = try await call(.get, "/containers/json?all=1&filters=\(filter)", timeout: 30)
        return try decode([IdentifiedObject].self, from: answer).map(\.id)
    }

    /// Ids of all images carrying the label `key=value`.
    public func images(labeled key: String, _ value: String) async throws -> [String] {
        let filter = Self.encoded(#"{"label":["\#(key)=\#(value)"]}"#)
        return try decode([IdentifiedObject].self, from: try await call(.get, "/images/json?filters=\(filter)", timeout: 30)).map(\.id)
    }

    /// Removes an image and its tags. An image already gone is fine.
    public func removeImage(_ id: String) async throws {
        do { _ = try await call(.delete, "/images/\(Self.encoded(id))?force=1", timeout: 120) } catch let error as DockerEngineError
            where error.code == .notFound
        {}
    }

    /// Saves a container's filesystem as the image `repository:tag` with the given labels and command.
    public func commit(container: String, repository: String, tag: String, labels: [String: String], command: [String]) async throws {
        let query = "container=\(container)&repo=\(Self.encoded(repository))&tag=\(Self.encoded(tag))"
        let body = try JSONEncoder().encode(CommitConfig(labels: labels, command: command))
        _ = try await call(.post, "/commit?\(query)", json: body, timeout: 600)
    }

    /// Unpacks a tar file (plain or gzip) into `directory` of the container, as root.
    public func putArchive(container: String, directory: String, tarFile: String, copyOwners: Bool, timeout: Int) async throws {
        let query = "path=\(Self.encoded(directory))" + (copyOwners ? "&copyUIDGID=1" : "")
        _ = try await call(.put, "/containers/\(container)/archive?\(query)", bodyFile: tarFile, contentType: "application/x-tar", timeout: timeout)
    }

    /// A tar of `path` in the container (a symlink comes back as the link itself), or nil when nothing is there.
    public func getArchive(container: String, path: String, limit: Int, timeout: Int) async throws -> [UInt8]? {
        do {
            return try await call(.get, "/containers/\(container)/archive?path=\(Self.encoded(path))", limit: limit, timeout: timeout)
        } catch let error as DockerEngineError where error.code == .notFound {
            return nil
        }
    }

    /// The host directories of a running container's filesystem (overlay2's `UpperDir` and `MergedDir`), when the
    /// driver has them, and the host pid of its first process.
    public func filesystem(container: String) async throws -> ContainerFilesystem {
        let answer = try await call(.get, "/containers/\(container)/json", timeout: 30)
        let details = try decode(ContainerDetails.self, from: answer)
        let data = details.graphDriver?.data
        return ContainerFilesystem(
            writableLayer: data?["UpperDir"], root: data?["MergedDir"], initProcess: details.state?.pid.flatMap { $0 > 0 ? $0 : nil })
    }

    /// What the container changed in its filesystem against its image.
    public func changes(container: String) async throws -> [FilesystemChange] {
        let answer = try await call(.get, "/containers/\(container)/changes", timeout: 60)
        return try decode([FilesystemChange]?.self, from: answer) ?? []
    }

    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(bytes)) } catch {
            throw DockerEngineError(.malformed, "the engine's answer is not the expected JSON", underlying: error)
        }
    }
}
