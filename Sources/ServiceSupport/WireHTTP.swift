import Foundation
import HTTPTypes
import Hummingbird
import KilnProtocol
import NIOCore

/// Answers in sccache-dist's shapes (protocol §1, §2.9): bincode bodies, JSON for `Accept: application/json`,
/// `ErrJson` bodies for 400 and 500, `WWW-Authenticate` for 401 (`Connection` is ``ConnectionHeaderMiddleware``'s).
public enum WireHTTP {
    public static let octetStream = "application/octet-stream"
    static let jsonType = "application/json; charset=utf-8"

    /// A 200 with `value` in bincode, or in JSON when the request asked for it (curl users).
    public static func ok(_ value: some Encodable, for request: Request) throws -> Response {
        if request.headers[.accept]?.contains("application/json") == true {
            return response(.ok, body: Array(try JSONEncoder().encode(value)), type: jsonType)
        }
        return response(.ok, body: try BincodeEncoder().encode(value), type: octetStream)
    }

    /// Kiln's own JSON documents (status, inventory): keys sorted, so answers compare and diff cleanly.
    public static func sortedJSON(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    /// A 200 with `value` as ``sortedJSON(_:)``.
    public static func okJSON(_ value: some Encodable) throws -> Response {
        response(.ok, body: try sortedJSON(value), type: jsonType)
    }

    /// 400 or 500 with `{"description": …, "cause": null}`: sccache-dist's shape with a short message only. What
    /// went wrong in detail (host paths, library errors) goes to the server's log, never to the client.
    public static func error(_ status: HTTPResponse.Status, _ description: String) -> Response {
        response(status, body: Array(ErrorJSON(description).jsonText.utf8), type: jsonType)
    }

    /// 401 with `WWW-Authenticate: Bearer error="<code>"` and an optional plain-text body.
    public static func unauthorized(_ code: String, body: String = "", json: Bool = false) -> Response {
        var response =
            json
            ? error(.unauthorized, body)
            : Self.response(.unauthorized, body: Array(body.utf8), type: body.isEmpty ? nil : "text/plain; charset=utf-8")
        response.headers[.wwwAuthenticate] = "Bearer error=\"\(code)\""
        return response
    }

    public static func response(_ status: HTTPResponse.Status, body: [UInt8], type: String?) -> Response {
        var headers = HTTPFields()
        if let type { headers[.contentType] = type }
        headers[.contentLength] = String(body.count)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The token of `Authorization: Bearer <token>`; exactly one space, as upstream parses it.
    public static func bearerToken(_ request: Request) -> String? {
        guard let value = request.headers[.authorization], value.hasPrefix("Bearer ") else { return nil }
        return String(value.dropFirst("Bearer ".count))
    }

    /// True when the request says its body is bincode (upstream refuses other content types with a 400).
    public static func hasBinaryContentType(_ request: Request) -> Bool {
        request.headers[.contentType]?.hasPrefix(octetStream) == true
    }

    /// Reads the whole body, up to `limit` bytes; nil when it is larger. The rest of a too-large body is read
    /// and dropped (up to ``maxDiscardedBytes``) so the client is not cut off and sees the answer.
    /// A body can be iterated only once: do not read it again after this.
    public static func collectBody(_ request: inout Request, limit: Int) async throws -> [UInt8]? {
        var collected: [UInt8] = []
        var tooLarge = false
        var discarded = 0
        for try await chunk in request.body {
            if !tooLarge && collected.count + chunk.readableBytes <= limit {
                collected.append(contentsOf: chunk.readableBytesView)
                continue
            }
            tooLarge = true
            discarded += chunk.readableBytes
            if discarded > maxDiscardedBytes { break }
        }
        return tooLarge ? nil : collected
    }

    /// The most bytes of an unwanted body read and dropped before answering.
    public static let maxDiscardedBytes = 256 << 20

    /// Reads and drops a body nobody has started reading (see ``collectBody(_:limit:)``).
    public static func drain(_ request: Request) async {
        var discarded = 0
        do {
            for try await chunk in request.body {
                discarded += chunk.readableBytes
                if discarded > maxDiscardedBytes { return }
            }
        } catch {}
    }

    public static func parseIP(_ text: String) -> [UInt8]? { ServerID.parseIP(text) }

    static let realIPHeader = HTTPField.Name("X-Real-IP")

    /// The `X-Real-IP` header a reverse proxy sets.
    public static func realIP(_ request: Request) -> String? {
        realIPHeader.flatMap { request.headers[$0] }
    }
}

/// Either a value to go on with, or the answer to send instead.
public enum Outcome<Value> {
    case proceed(Value)
    case respond(Response)
}

extension WireHTTP {
    /// Decodes a bincode body, or gives the 400 upstream answers (wrong content type, bad bincode, too large).
    public static func decodeBody<T: Decodable>(_ type: T.Type, _ request: inout Request, limit: Int) async throws -> Outcome<T> {
        guard hasBinaryContentType(request) else {
            return .respond(error(.badRequest, "the request didn't have a binary content type"))
        }
        guard let body = try await collectBody(&request, limit: limit) else {
            return .respond(error(.badRequest, "the bincode body is larger than \(limit) bytes"))
        }
        do {
            return .proceed(try BincodeDecoder().decode(type, from: body))
        } catch {
            return .respond(Self.error(.badRequest, "error while parsing the bincode body"))
        }
    }
}
