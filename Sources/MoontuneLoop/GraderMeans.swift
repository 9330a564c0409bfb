/// Issue 24: a step's mean score per grader, over the rollouts of the groups it trains on.
enum GraderMeans {
    static func of(_ groups: [[String: [Double]]]) -> [String: Double] {
        var sums: [String: (total: Double, count: Int)] = [:]
        for group in groups {
            for (grader, scores) in group {
                sums[grader, default: (0, 0)].total += scores.reduce(0, +)
                sums[grader, default: (0, 0)].count += scores.count
            }
        }
        return sums.compactMapValues { $0.count > 0 ? $0.total / Double($0.count) : nil }
    }
}
