import Foundation
import Testing

/// Helpers of the operations tests: `status --json` read and checked against CONTRACT.md, waits
/// on the database, and a logfmt reader.
enum Operations {
    /// The fields CONTRACT.md promises for every job in `status --json`.
    static let contractKeys: Set<String> = [
        "name", "finetune_id", "state", "step", "total_steps", "last_checkpoint_step", "reward_mean", "pid", "updated_at_ms", "last_error",
    ]
    static let states: Set<String> = ["pending", "running", "stopped", "interrupted", "failed", "completed"]

    /// `moontune status --json` for the workspace, parsed; every job is checked against the contract.
    static func status(_ workspace: Workspace, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [[String: Any]] {
        let result = try await workspace.run(["status", "--json"])
        #expect(result.status == 0, "status --json failed: \(result.stderr)", sourceLocation: sourceLocation)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        let document = try #require(object as? [String: Any], "not a JSON object: \(result.stdout)", sourceLocation: sourceLocation)
        let jobs = try #require(document["jobs"] as? [[String: Any]], "no jobs array: \(result.stdout)", sourceLocation: sourceLocation)
        for job in jobs {
            let problems = contractProblems(job)
            #expect(problems.isEmpty, "status --json breaks the contract: \(problems)", sourceLocation: sourceLocation)
        }
        return jobs
    }

    /// The one job named `name` in `status --json`.
    static func status(_ workspace: Workspace, job name: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String: Any] {
        let jobs = try await status(workspace, sourceLocation: sourceLocation)
        return try #require(jobs.first { $0["name"] as? String == name }, "no job \(name) in status --json", sourceLocation: sourceLocation)
    }

    /// What is wrong with one job's entry: a missing contract field, or one of the wrong type.
    static func contractProblems(_ job: [String: Any]) -> [String] {
        var problems = contractKeys.subtracting(job.keys).sorted().map { "missing \($0)" }
        func check(_ key: String, nullable: Bool, _ isRight: (Any) -> Bool) {
            guard let value = job[key] else { return }
            if value is NSNull { if !nullable { problems.append("\(key) is null") }; return }
            if !isRight(value) { problems.append("\(key) has the wrong type: \(value)") }
        }
        let isInt: (Any) -> Bool = { value in
            guard let number = value as? NSNumber else { return false }
            return Double(number.int64Value) == number.doubleValue
        }
        check("name", nullable: false) { $0 is String }
        check("finetune_id", nullable: true) { $0 is String }
        check("state", nullable: false) { states.contains(($0 as? String) ?? "") }
        check("step", nullable: false, isInt)
        check("total_steps", nullable: false, isInt)
        check("last_checkpoint_step", nullable: true, isInt)
        check("reward_mean", nullable: true) { $0 is NSNumber }
        check("pid", nullable: true, isInt)
        check("updated_at_ms", nullable: false, isInt)
        check("last_error", nullable: true) { $0 is String }
        return problems
    }

    /// Polls `status --json` until the job's state is `state`.
    static func waitForState(_ workspace: Workspace, _ name: String, _ state: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = "?"
        while ContinuousClock.now < deadline {
            if FileManager.default.fileExists(atPath: workspace.database.path) {
                last = try await status(workspace, job: name)["state"] as? String ?? "?"
                if last == state { return }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("job \(name) did not reach \(state) within \(timeout) (last: \(last))")
    }

    /// Whether a process with this pid exists (a zombie counts as gone: it holds nothing).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !stat.contains(") Z ")
    }

    /// Parses one logfmt line into its keys and values, or nil when it is not logfmt.
    static func parseLogfmt(_ line: String) -> [String: String]? {
        var fields: [String: String] = [:]
        var rest = Substring(line)
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " }
            guard !rest.isEmpty else { break }
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let key = String(rest[..<equals])
            guard !key.isEmpty, !key.contains(" "), !key.contains("\"") else { return nil }
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if character == "\\" {
                        guard let escaped = rest.first else { return nil }
                        rest = rest.dropFirst()
                        value.append(escaped == "n" ? "\n" : escaped == "r" ? "\r" : escaped)
                    } else if character == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed, rest.isEmpty || rest.first == " " else { return nil }
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                value = String(rest[..<end])
                guard !value.contains("\"") else { return nil }
                rest = rest[end...]
            }
            fields[key] = value
        }
        return fields.isEmpty ? nil : fields
    }
}
