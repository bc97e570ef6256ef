import GRPCCore

/// What the scheduler's `client_auth` says of a call's `authorization` metadata.
public enum REAPIAdmission: Sendable {
    case accepted
    /// The token is wrong or missing: `UNAUTHENTICATED`, with the reason.
    case refused(String)
    /// The check could not run (a proxy or JWKS down): `UNAVAILABLE`, so the client may try again.
    case unavailable(String)
}

/// Checks every call's `authorization: Bearer <token>` metadata (Bazel's `--remote_header`, bgd's `--auth-token`)
/// the way `alloc_job` checks sccache's clients, before any handler runs.
struct BearerAuthInterceptor: ServerInterceptor {
    let admit: @Sendable (_ authorization: String?) async -> REAPIAdmission

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let header: String? = request.metadata["authorization"].lazy.compactMap { value -> String? in
            if case .string(let text) = value { return text }
            return nil
        }.first
        switch await admit(header) {
        case .accepted: return try await next(request, context)
        case .refused(let reason):
            throw RPCError(code: .unauthenticated, message: "\(reason); send 'authorization: Bearer <token>' (bazel --remote_header)")
        case .unavailable(let reason): throw RPCError(code: .unavailable, message: reason)
        }
    }
}
