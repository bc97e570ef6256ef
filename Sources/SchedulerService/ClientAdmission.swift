/// The scheduler's `client_auth` for callers other than `alloc_job` (the REAPI endpoint): the same tokens,
/// carried as `Authorization: Bearer <token>`.
public struct ClientAdmission: Sendable {
    let authenticator: ClientAuthenticator<ContinuousClock>
    let insecure: Bool

    public enum Verdict: Sendable, Equatable {
        case accepted
        case refused(String)
        case unavailable(String)
    }

    /// `authorization`: the header's value, `Bearer <token>`. Under `DANGEROUSLY_INSECURE` everyone is admitted
    /// (REAPI clients send no token by default).
    public func check(authorization: String?) async -> Verdict {
        if insecure { return .accepted }
        guard let authorization, authorization.hasPrefix("Bearer ") else { return .refused("no bearer token") }
        switch await authenticator.check(String(authorization.dropFirst("Bearer ".count))) {
        case .accepted: return .accepted
        case .refused(let reason): return .refused(reason)
        case .unavailable(let reason): return .unavailable(reason)
        }
    }
}
