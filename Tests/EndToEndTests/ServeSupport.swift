import Foundation
import MoontuneStore
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `moontune serve` child process of a test, on 127.0.0.1 and a port of its own choosing.
struct ServeProcess {
    let process: MoontuneProcess.Running
    let baseURL: String

    struct Timeout: Error, CustomStringConvertible { var description: String }

    /// Starts `serve --port 0 ARGS` and waits for its `listening on` line.
    static func start(_ workspace: Workspace, _ arguments: [String] = [], environment: [String: String] = [:],
                      timeout: Duration = .seconds(30)) async throws -> ServeProcess {
        let process = try MoontuneProcess.start(["serve", "--port", "0", "--db", workspace.database.path] + arguments,
                                                in: workspace.directory, environment: environment)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = process.stdoutSoFar.split(separator: "\n").first(where: { $0.hasPrefix("moontune serve listening on ") }) {
                return ServeProcess(process: process, baseURL: String(line.dropFirst("moontune serve listening on ".count)))
            }
            if !process.process.value.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.signal(SIGKILL)
        let result = await process.wait()
        throw Timeout(description: "serve did not start: \(result.stdout) \(result.stderr)")
    }

    /// GET `path`: status and body.
    func get(_ path: String, token: String? = nil) async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: baseURL + path)!)
        request.timeoutInterval = 10
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// `/api/jobs`, parsed: job name → its entry.
    func jobs() async throws -> [String: [String: Any]] {
        let (status, body) = try await get("/api/jobs")
        guard status == 200, let document = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let jobs = document["jobs"] as? [[String: Any]] else { throw Timeout(description: "bad /api/jobs: \(status) \(body)") }
        return Dictionary(uniqueKeysWithValues: jobs.compactMap { job in (job["name"] as? String).map { ($0, job) } })
    }

    /// SIGTERM, then the exit (SIGKILL after `timeout`).
    func terminate(timeout: Duration = .seconds(60)) async -> MoontuneProcess.Result {
        process.signal(SIGTERM)
        return await Self.wait(process, timeout: timeout)
    }

    func kill() async -> MoontuneProcess.Result {
        process.signal(SIGKILL)
        return await process.wait()
    }

    /// Waits for a child, killing it after `timeout`.
    static func wait(_ process: MoontuneProcess.Running, timeout: Duration) async -> MoontuneProcess.Result {
        await withTaskGroup(of: MoontuneProcess.Result?.self) { group in
            group.addTask { await process.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                process.signal(SIGKILL)
                return nil
            }
            var result: MoontuneProcess.Result?
            for await value in group {
                if let value { result = value; group.cancelAll() }
            }
            return result!
        }
    }

    /// Polls `/api/jobs` until `done` holds, every 200 ms, calling `watch` with each snapshot.
    func until(timeout: Duration, _ what: String, watch: ([String: [String: Any]]) -> Void = { _ in },
               _ done: ([String: [String: Any]]) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let jobs = try await jobs()
            watch(jobs)
            if done(jobs) { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Timeout(description: "timed out waiting for \(what): \(try await get("/api/jobs").1)")
    }
}

extension Dictionary where Key == String, Value == [String: Any] {
    func states() -> [String: String] { mapValues { $0["state"] as? String ?? "?" } }
    func count(in state: String) -> Int { values.filter { $0["state"] as? String == state }.count }
    var totalSteps: Int { values.reduce(0) { $0 + ($1["step"] as? Int ?? 0) } }
}

extension Workspace {
    /// Polls the database until the job `name` is recorded in `state` (the job may not exist yet).
    func waitForJob(_ name: String, _ state: JobState, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if FileManager.default.fileExists(atPath: database.path), let job = try? await job(name), job.state == state { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ServeProcess.Timeout(description: "job \(name) never reached \(state.rawValue)")
    }
}
