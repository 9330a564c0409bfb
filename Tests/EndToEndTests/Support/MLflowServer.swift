import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real MLflow tracking server (`mlflow server`, installed by `.ci/run`) on 127.0.0.1, with a
/// SQLite backend and served artifacts in its own temporary folder; stopped (its whole process
/// tree, by id) by `stop()`.
struct MLflowServer {
    let port: Int
    let folder: URL
    let process: MoontuneProcess.Running
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// A port nothing listens on now (the kernel's choice for port 0, released at once).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw URLError(.cannotConnectToHost) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw URLError(.cannotConnectToHost) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts the server on `port` and waits (at most `timeout`) until it answers.
    static func start(port: Int, timeout: Duration = .seconds(180)) async throws -> MLflowServer {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mlflow-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("artifacts"), withIntermediateDirectories: true)
        let process = try MoontuneProcess.start(
            ["server", "--backend-store-uri", "sqlite:///\(folder.path)/mlflow.db",
             "--artifacts-destination", folder.appendingPathComponent("artifacts").path,
             "--host", "127.0.0.1", "--port", "\(port)", "--workers", "1"],
            in: folder, environment: ["MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"],
            executable: URL(fileURLWithPath: "/usr/bin/env"), prefix: ["mlflow"])
        let server = MLflowServer(port: port, folder: folder, process: process)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let (status, _) = try? await server.request("GET", "/health"), status == 200 { return server }
            try await Task.sleep(for: .milliseconds(500))
        }
        let output = process.stderrSoFar.suffix(3000)
        await server.stop()
        throw MLflowServerError(message: "mlflow server did not answer within \(timeout):\n\(output)")
    }

    /// Stops the server and every process it started (found through /proc by parent id, and
    /// killed by id: a throwaway server has nothing to save, and uvicorn's graceful stop can take
    /// longer than a test should wait), then removes its folder.
    func stop() async {
        let tree = Self.descendants(of: process.pid)
        for pid in tree.reversed() { kill(pid, SIGKILL) }
        kill(process.pid, SIGKILL)
        _ = await process.wait(timeout: .seconds(20))
        try? FileManager.default.removeItem(at: folder)
    }

    static func descendants(of root: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var parents: [Int32: Int32] = [:]
        for entry in entries {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, let parent = Int32(fields[1]) { parents[pid] = parent }
        }
        var found: [Int32] = []
        var frontier = [root]
        while let next = frontier.popLast() {
            let children = parents.filter { $0.value == next }.map(\.key)
            found += children
            frontier += children
        }
        return found
    }

    /// One REST call; the answer's status and JSON object.
    func request(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> (Int, [String: Any]) {
        let (status, data) = try await raw(method, path, body)
        return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    func raw(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> (Int, Data) {
        guard let url = URL(string: baseURL + path) else { throw URLError(.badURL) }
        var request = URLRequest(url: url, timeoutInterval: 30)
        request.httpMethod = method
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// The runs of an experiment, by name (none when it does not exist).
    func runs(experiment: String) async throws -> [[String: Any]] {
        let (status, answer) = try await request("GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=\(experiment)")
        guard status == 200, let id = (answer["experiment"] as? [String: Any])?["experiment_id"] as? String else { return [] }
        let (_, found) = try await request("POST", "/api/2.0/mlflow/runs/search", ["experiment_ids": [id], "max_results": 100])
        return (found["runs"] as? [[String: Any]]) ?? []
    }

    /// Every step at which the run holds `key`, with repeats.
    func steps(runID: String, key: String) async throws -> [Int] {
        let escaped = key.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? key
        let (_, answer) = try await request("GET", "/api/2.0/mlflow/metrics/get-history?run_id=\(runID)&metric_key=\(escaped)&max_results=25000")
        return ((answer["metrics"] as? [[String: Any]]) ?? []).map { ($0["step"] as? NSNumber)?.intValue ?? Int($0["step"] as? String ?? "") ?? 0 }
    }
}

struct MLflowServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
