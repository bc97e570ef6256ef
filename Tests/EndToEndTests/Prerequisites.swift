import Testing

extension Trait where Self == ConditionTrait {
    /// Runs the test only where `missing` (why it cannot run here) is nil; otherwise the runner reports it as
    /// skipped, with that reason.
    static func requires(_ missing: String?) -> Self { .enabled(if: missing == nil, Comment(rawValue: missing ?? "")) }
}
