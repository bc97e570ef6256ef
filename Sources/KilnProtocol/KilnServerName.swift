/// The `Server` header of every answer from Kiln's scheduler and build servers. A Kiln peer that sees it keeps
/// the connection for its next request (HTTP keep-alive); sccache's own servers never send it and are called
/// with `Connection: close`, as their clients do.
public enum KilnServerName {
    public static let value = "kiln"
}
