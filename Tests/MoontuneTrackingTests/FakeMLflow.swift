import Foundation
import MoondreamAPI
import NIOCore
import Synchronization

/// An MLflow tracking server in memory, behind the client's transport seam. Unlike the real
/// server's SQL store it keeps every metric it is sent, repeats included, so that a client that
/// sends a point twice is seen doing it. `loseNextAnswer` applies the next log-batch and then
/// fails as a lost answer would.
final class FakeMLflow: HTTPTransport {
    struct Metric: Equatable { var key: String; var step: Int; var value: Double; var timestamp: Int64 = 0 }
    struct Run { var name: String; var tags: [String: String]; var status: String; var experimentID: String }
    struct State {
        var experiments: [String: String] = [:]
        var runs: [String: Run] = [:]
        var metrics: [String: [Metric]] = [:]
        var params: [String: [String: String]] = [:]
        var artifacts: [String: [UInt8]] = [:]
        var loseNextAnswer = false
        /// Answers every log-batch that carries metrics with this status and error code (403
        /// PERMISSION_DENIED, say), applying nothing.
        var refuseMetrics: (status: Int, code: String)?
        /// Answers this many log-batch calls that carry metrics with 503 first, applying nothing.
        var unavailableLeft = 0
        /// Log-batch calls that carried metrics, answered or refused.
        var metricBatches = 0
        /// The Authorization header of every request, in order (nil: none).
        var authorizations: [String?] = []
    }
    let state = Mutex(State())

    func execute(_ request: HTTPRequestSpec) async throws(TransportError) -> HTTPResponseSpec {
        let url = URLComponents(string: request.url)
        let path = url?.path.components(separatedBy: "/api/2.0/").last ?? ""
        let query = Dictionary((url?.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { a, _ in a })
        let bytes = request.body.map { Array($0.readableBytesView) } ?? []
        let body = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
        var lose = false
        let authorization = request.headers.first { $0.0.lowercased() == "authorization" }?.1
        let answer: (Int, [String: Any]) = state.withLock { state in
            state.authorizations.append(authorization)
            switch path {
            case "mlflow/experiments/get-by-name":
                guard let id = state.experiments[query["experiment_name"] ?? ""] else {
                    return (404, ["error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no experiment"])
                }
                return (200, ["experiment": ["experiment_id": id]])
            case "mlflow/experiments/create":
                let id = "\(state.experiments.count + 1)"
                state.experiments[body["name"] as? String ?? ""] = id
                return (200, ["experiment_id": id])
            case "mlflow/runs/create":
                let id = "run\(state.runs.count + 1)"
                let tags = Dictionary(((body["tags"] as? [[String: String]]) ?? []).map { ($0["key"] ?? "", $0["value"] ?? "") },
                                      uniquingKeysWith: { a, _ in a })
                state.runs[id] = Run(name: body["run_name"] as? String ?? "", tags: tags, status: "RUNNING",
                                     experimentID: body["experiment_id"] as? String ?? "")
                return (200, Self.run(id, state.runs[id]!))
            case "mlflow/runs/get":
                guard let run = state.runs[query["run_id"] ?? ""] else { return (404, ["error_code": "RESOURCE_DOES_NOT_EXIST", "message": "x"]) }
                return (200, Self.run(query["run_id"] ?? "", run))
            case "mlflow/runs/search":
                let filter = body["filter"] as? String ?? ""
                let found = state.runs.filter { id, run in
                    run.tags["moontune.run_key"].map { filter.contains("'\($0)'") } ?? false
                }
                return (200, ["runs": found.map { Self.run($0.key, $0.value)["run"]! }])
            case "mlflow/runs/update":
                state.runs[body["run_id"] as? String ?? ""]?.status = body["status"] as? String ?? ""
                return (200, [:])
            case "mlflow/runs/log-batch":
                let id = body["run_id"] as? String ?? ""
                if !((body["metrics"] as? [Any]) ?? []).isEmpty {
                    state.metricBatches += 1
                    if let refusal = state.refuseMetrics {
                        return (refusal.status, ["error_code": refusal.code, "message": "refused by the test"])
                    }
                    if state.unavailableLeft > 0 {
                        state.unavailableLeft -= 1
                        return (503, ["error_code": "TEMPORARILY_UNAVAILABLE", "message": "try later"])
                    }
                }
                for metric in (body["metrics"] as? [[String: Any]]) ?? [] {
                    state.metrics[id, default: []].append(Metric(key: metric["key"] as? String ?? "", step: (metric["step"] as? NSNumber)?.intValue ?? -1,
                                                                 value: (metric["value"] as? NSNumber)?.doubleValue ?? .nan,
                                                                 timestamp: (metric["timestamp"] as? NSNumber)?.int64Value ?? 0))
                }
                for param in (body["params"] as? [[String: String]]) ?? [] { state.params[id, default: [:]][param["key"] ?? ""] = param["value"] }
                for tag in (body["tags"] as? [[String: String]]) ?? [] { state.runs[id]?.tags[tag["key"] ?? ""] = tag["value"] }
                if state.loseNextAnswer, !((body["metrics"] as? [Any]) ?? []).isEmpty {
                    state.loseNextAnswer = false
                    lose = true
                }
                return (200, [:])
            case "mlflow/metrics/get-history":
                let points = (state.metrics[query["run_id"] ?? ""] ?? []).filter { $0.key == query["metric_key"] }
                return (200, ["metrics": points.map { ["key": $0.key, "value": $0.value, "step": $0.step, "timestamp": $0.timestamp] as [String: Any] }])
            default:
                if path.hasPrefix("mlflow-artifacts/artifacts/") {
                    state.artifacts[String(path.dropFirst("mlflow-artifacts/artifacts/".count))] = bytes
                    return (200, [:])
                }
                return (404, ["error_code": "ENDPOINT_NOT_FOUND", "message": path])
            }
        }
        if lose { throw TransportError(.timeout, "the answer was lost") }
        let data = (try? JSONSerialization.data(withJSONObject: answer.1)) ?? Data()
        return HTTPResponseSpec(status: answer.0, headers: [], body: Array(data))
    }

    func shutdown() async {}

    static func run(_ id: String, _ run: Run) -> [String: Any] {
        ["run": ["info": ["run_id": id, "artifact_uri": "mlflow-artifacts:/\(run.experimentID)/\(id)/artifacts",
                          "lifecycle_stage": "active", "status": run.status]]]
    }
}
