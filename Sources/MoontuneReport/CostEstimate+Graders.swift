import MoontuneConfig

/// Issue 24: the model graders' calls in validate's cost estimate.
extension CostEstimate {
    /// One judge call per rollout scored, for each model grader.
    static func judgeCalls(_ graders: [GraderConfig], rollouts: Int) -> [String: Int] {
        var calls: [String: Int] = [:]
        for grader in graders where grader.model != nil { calls[grader.name] = rollouts }
        return calls
    }

    /// `  judges     grader "judge": 12,800 chat completions calls (...)`.
    package var judgeLines: [String] {
        judgeCalls.sorted { $0.key < $1.key }.map { name, calls in
            "  judges     grader \"\(name)\": \(Self.count(calls)) chat completions calls (one per rollout scored, training and eval)"
        }
    }
}
