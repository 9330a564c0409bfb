import Foundation
import MoondreamAPI
import NIOCore

/// The few calls of MLflow's REST API moontune makes (`/api/2.0/mlflow/...` and the artifact
/// proxy `/api/2.0/mlflow-artifacts/...`), each with a deadline and a cap on the answer.
/// Credentials come from MLflow's own environment variables (`MLFLOW_TRACKING_TOKEN`, or
/// `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`); they go in a header and nowhere else.
package struct MLflowClient: Sendable {
    package struct Metric: Codable, Sendable, Equatable {
        package var key: String
        package var value: Double
        package var timestamp: Int64
        package var step: Int
    }

    package struct KeyValue: Codable, Sendable, Equatable {
        package var key: String
        package var value: String
    }

    package struct RunInfo: Sendable, Equatable {
        package var runID: String
        package var artifactURI: String?
        package var lifecycleStage: String?
    }

    let baseURL: String
    let transport: any HTTPTransport
    let authorization: String?
    let timeout: Duration
    static let maxResponseBytes = 16 << 20

    package init(baseURL: String, environment: [String: String], transport: any HTTPTransport, timeout: Duration = .seconds(30)) {
        self.baseURL = baseURL
        self.transport = transport
        self.timeout = timeout
        if let token = environment["MLFLOW_TRACKING_TOKEN"], !token.isEmpty {
            authorization = "Bearer \(token)"
        } else if let user = environment["MLFLOW_TRACKING_USERNAME"], let password = environment["MLFLOW_TRACKING_PASSWORD"] {
            authorization = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        } else {
            authorization = nil
        }
    }

    // MARK: - Experiments and runs

    /// The experiment's id, created when missing.
    package func experimentID(named name: String) async throws -> String {
        if let id = try await existingExperiment(named: name) { return id }
        do {
            let answer = try await call("POST", "mlflow/experiments/create", json: ["name": name])
            if let id = answer["experiment_id"] as? String { return id }
        } catch let error as MLflowError where error.code == "RESOURCE_ALREADY_EXISTS" {
            // Created meanwhile by someone else.
        }
        guard let id = try await existingExperiment(named: name) else {
            throw TrackingError("MLflow: experiment \"\(name)\" could not be created")
        }
        return id
    }

    private func existingExperiment(named name: String) async throws -> String? {
        do {
            let answer = try await call("GET", "mlflow/experiments/get-by-name?experiment_name=\(Self.query(name))")
            return (answer["experiment"] as? [String: Any])?["experiment_id"] as? String
        } catch let error as MLflowError where error.code == "RESOURCE_DOES_NOT_EXIST" || error.status == 404 {
            return nil
        }
    }

    /// The run tagged `moontune.run_key` = `runKey` in the experiment, if any.
    package func run(experimentID: String, runKey: String) async throws -> RunInfo? {
        let answer = try await call("POST", "mlflow/runs/search", json: [
            "experiment_ids": [experimentID],
            "filter": "tags.`moontune.run_key` = '\(runKey)'",
            "max_results": 1,
        ])
        return ((answer["runs"] as? [[String: Any]]) ?? []).compactMap(Self.runInfo).first
    }

    package func getRun(_ runID: String) async throws -> RunInfo? {
        do {
            return Self.runInfo(try await call("GET", "mlflow/runs/get?run_id=\(Self.query(runID))"))
        } catch let error as MLflowError where error.code == "RESOURCE_DOES_NOT_EXIST" || error.status == 404 {
            return nil
        }
    }

    package func createRun(experimentID: String, name: String, tags: [KeyValue], startTime: Int64) async throws -> RunInfo {
        let answer = try await call("POST", "mlflow/runs/create", json: [
            "experiment_id": experimentID, "run_name": name, "start_time": startTime,
            "tags": tags.map { ["key": $0.key, "value": $0.value] },
        ])
        guard let info = Self.runInfo(answer) else { throw TrackingError("MLflow: runs/create answered without a run id") }
        return info
    }

    /// `RUNNING`, `FINISHED`, `FAILED` or `KILLED`.
    package func setStatus(runID: String, status: String, endTime: Int64?) async throws {
        var body: [String: Any] = ["run_id": runID, "status": status]
        if let endTime { body["end_time"] = endTime }
        _ = try await call("POST", "mlflow/runs/update", json: body)
    }

    /// At most 1,000 metrics, 100 params and 100 tags in one call (the server's limits).
    package func logBatch(runID: String, metrics: [Metric] = [], params: [KeyValue] = [], tags: [KeyValue] = []) async throws {
        _ = try await call("POST", "mlflow/runs/log-batch", json: [
            "run_id": runID,
            "metrics": metrics.map { ["key": $0.key, "value": $0.value, "timestamp": $0.timestamp, "step": $0.step] as [String: Any] },
            "params": params.map { ["key": $0.key, "value": $0.value] },
            "tags": tags.map { ["key": $0.key, "value": $0.value] },
        ])
    }

    /// A point of a metric's history: its step and its time.
    package struct LoggedPoint: Hashable, Sendable {
        package var step: Int
        package var timestamp: Int64
    }

    /// The (step, timestamp) pairs at which the run holds metric `key`. The time tells a point
    /// sent again (the same record, the same time) from a step trained again after a rewind.
    package func loggedPoints(runID: String, key: String) async throws -> Set<LoggedPoint> {
        var points = Set<LoggedPoint>()
        var token: String?
        repeat {
            var path = "mlflow/metrics/get-history?run_id=\(Self.query(runID))&metric_key=\(Self.query(key))&max_results=25000"
            if let token { path += "&page_token=\(Self.query(token))" }
            let answer = try await call("GET", path)
            for metric in (answer["metrics"] as? [[String: Any]]) ?? [] {
                // A metric logged without a step is at step 0; int64 fields may come as strings.
                let step = (metric["step"] as? NSNumber)?.intValue ?? Int(metric["step"] as? String ?? "") ?? 0
                let timestamp = (metric["timestamp"] as? NSNumber)?.int64Value ?? Int64(metric["timestamp"] as? String ?? "") ?? 0
                points.insert(LoggedPoint(step: step, timestamp: timestamp))
            }
            token = (answer["next_page_token"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return points
    }

    /// Uploads a file through the server's artifact proxy, when the run's artifacts are served by
    /// it (`mlflow-artifacts:/...`).
    package func uploadArtifact(run: RunInfo, name: String, contentType: String, bytes: [UInt8]) async throws {
        guard let uri = run.artifactURI, uri.hasPrefix("mlflow-artifacts:") else {
            throw TrackingError("MLflow: the run's artifacts (\(run.artifactURI ?? "no artifact_uri")) are not served by the tracking "
                + "server (start it with --serve-artifacts); \(name) not uploaded")
        }
        var path = String(uri.dropFirst("mlflow-artifacts:".count))
        // `mlflow-artifacts://host:port/path` names a server; the path follows it.
        if path.hasPrefix("//") { path = String(path.dropFirst(2).drop { $0 != "/" }) }
        while path.hasPrefix("/") { path.removeFirst() }
        let encoded = path.split(separator: "/").map { Self.query(String($0)) }.joined(separator: "/")
        _ = try await call("PUT", "mlflow-artifacts/artifacts/\(encoded)/\(Self.query(name))", body: bytes, contentType: contentType)
    }

    // MARK: - Transport

    func call(_ method: String, _ path: String, json: [String: Any]) async throws -> [String: Any] {
        let body = try JSONSerialization.data(withJSONObject: json)
        return try await call(method, path, body: Array(body), contentType: "application/json")
    }

    func call(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String? = nil) async throws -> [String: Any] {
        var headers: [(String, String)] = [("Accept", "application/json")]
        if let contentType { headers.append(("Content-Type", contentType)) }
        if let authorization { headers.append(("Authorization", authorization)) }
        let endpoint = "\(method) /api/2.0/\(path.split(separator: "?").first ?? "")"
        let spec = HTTPRequestSpec(method: method, url: "\(baseURL)/api/2.0/\(path)", headers: headers,
                                   body: body.map { ByteBuffer(bytes: $0) }, timeout: timeout, maxResponseBytes: Self.maxResponseBytes)
        let response: HTTPResponseSpec
        do {
            response = try await transport.execute(spec)
        } catch {
            // Sent or not, nobody knows: what it carried may be there.
            throw TrackingError("MLflow \(endpoint): \(error.detail)", inDoubt: true)
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        guard (200..<300).contains(response.status) else {
            let message = (object?["message"] as? String).map { String($0.prefix(300)) }
                ?? String(decoding: response.body.prefix(200), as: UTF8.self)
            throw MLflowError(endpoint: endpoint, status: response.status, code: object?["error_code"] as? String, message: message)
        }
        return object ?? [:]
    }

    static func runInfo(_ answer: [String: Any]) -> RunInfo? {
        let run = (answer["run"] as? [String: Any]) ?? answer
        guard let info = run["info"] as? [String: Any], let id = (info["run_id"] ?? info["run_uuid"]) as? String else { return nil }
        return RunInfo(runID: id, artifactURI: info["artifact_uri"] as? String, lifecycleStage: info["lifecycle_stage"] as? String)
    }

    static func query(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// An MLflow answer that is not a success: the endpoint, the status and the server's words.
package struct MLflowError: Error, CustomStringConvertible, Sendable {
    package var endpoint: String
    package var status: Int
    package var code: String?
    package var message: String

    package var description: String {
        "MLflow \(endpoint) answered \(status)\(code.map { " \($0)" } ?? ""): \(message)"
    }

    /// A server error may have applied the request before failing.
    package var inDoubt: Bool { status >= 500 || status == 429 }

    /// A refusal that sending again cannot change (a bad token, a wrong path, an experiment name
    /// or a value the server refuses): any 4xx but a timeout (408), "too early" (425) and a rate
    /// limit (429). 5xx, 429 and connection failures are retried.
    package var isPermanent: Bool { (400..<500).contains(status) && ![408, 425, 429].contains(status) }
}
