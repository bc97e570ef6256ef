import HTTPTypes
import Hummingbird

/// `Connection: close` on every answer (as upstream's servers send, and what sccache clients ask for), except to a
/// request that asked to keep the connection: a Kiln peer (``KilnServerName``), which sends its next heartbeat,
/// job_state or assign_job over the same connection instead of paying a new TCP (and TLS) set-up each time.
public struct ConnectionHeaderMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if request.headers[.connection]?.lowercased() != "keep-alive" { response.headers[.connection] = "close" }
        return response
    }
}
