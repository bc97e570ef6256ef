/// Kiln's `[job_environment]` table: which of the client's environment variables reach the compiler.
///
/// sccache clients send their whole environment (`SCCACHE_*`, `SHLVL`, `OLDPWD`, `TERM`, …), which differs
/// between any two CI runners. Only the variables named here pass into the sandbox, and only they are part of a
/// result's cache key. A name ending in `*` is a prefix.
///
/// ```toml
/// [job_environment]
/// allow_extra = ["MY_TOOL_FLAGS"]   # added to the default list below
/// # allow = [...]                   # replaces the default list
/// path = "/usr/local/bin:/usr/bin:/bin"   # PATH of every job, unless "PATH" is allowed
/// ```
public struct JobEnvironmentConfiguration: Sendable, Hashable {
    /// The variables compilers read: gcc and clang search paths and dependency output, reproducibility, the
    /// locale of diagnostics and their width, and the `CARGO_*`/`OUT_DIR` variables that rustc's `env!` reads.
    public static let defaultAllowlist = [
        "GCC_*", "COMPILER_PATH", "LIBRARY_PATH", "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH",
        "OBJCPLUS_INCLUDE_PATH", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES", "SOURCE_DATE_EPOCH", "CCC_OVERRIDE_OPTIONS",
        "LANG", "LANGUAGE", "LC_*", "COLUMNS", "CARGO_*", "OUT_DIR", "RUSTC_BOOTSTRAP",
    ]
    public static let defaultPath = "/usr/local/bin:/usr/bin:/bin"

    public var allowlist = Self.defaultAllowlist
    public var path = Self.defaultPath

    public init() {}

    init(reading table: inout TOMLTableReader) throws {
        if let allow = try Self.patterns("allow", in: &table) { allowlist = allow }
        allowlist += try Self.patterns("allow_extra", in: &table) ?? []
        if let path = try table.string("path") {
            guard !path.isEmpty else { throw ConfigurationError(.invalidValue, key: table.keyPath("path"), "must not be empty") }
            self.path = path
        }
    }

    private static func patterns(_ key: String, in table: inout TOMLTableReader) throws -> [String]? {
        let patterns = try table.stringArray(key)
        for pattern in patterns ?? [] where pattern.isEmpty || pattern.dropLast().contains("*") || pattern.contains("=") {
            throw ConfigurationError(.invalidValue, key: table.keyPath(key), "'\(pattern)' is not a variable name or a prefix ending in *")
        }
        return patterns
    }
}
