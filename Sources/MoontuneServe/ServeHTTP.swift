import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MoontuneStore
import NIOCore

/// The `status --json` document of the database, made by the CLI (which owns it).
public typealias StatusDocumentProvider = @Sendable (ProgressStore, JobsQuery) async throws -> String

/// What a client of `/api/jobs` asks for (issue 21): every running and queued job is always
/// whole; finished ones come a page at a time, and only the jobs changed since `changedSince`.
public struct JobsQuery: Sendable, Equatable {
    /// How many finished jobs, most recently updated first (`finished`, default 50).
    public var finished: Int = 50
    /// How many finished jobs to skip (`finished_offset`).
    public var finishedOffset: Int = 0
    /// Leave out the jobs unchanged since this (`changed_since`, an earlier answer's `as_of_ms`).
    public var changedSince: Int64?

    public init(finished: Int = 50, finishedOffset: Int = 0, changedSince: Int64? = nil) {
        self.finished = finished
        self.finishedOffset = finishedOffset
        self.changedSince = changedSince
    }

    /// From the request's query string; a value that is not a number keeps the default.
    init(_ parameters: [String: String]) {
        finished = parameters["finished"].flatMap { Int($0) }.map { min(max($0, 0), 1000) } ?? 50
        finishedOffset = parameters["finished_offset"].flatMap { Int($0) }.map { max($0, 0) } ?? 0
        changedSince = parameters["changed_since"].flatMap { Int64($0) }
    }
}

/// The routes of `serve`: `/healthz`, `/metrics`, `/api/jobs`, `/api/jobs/:name/details` (what
/// the dashboard adds to the status document: the eval series and recent events) and `/`.
enum ServeHTTP {
    struct Parts: Sendable {
        var store: ProgressStore
        var budget: SharedBudget
        var metrics: ServeMetrics
        var status: StatusDocumentProvider
        var databasePath: String
        var token: String?
    }

    static func router(_ parts: Parts) -> Router<BasicRequestContext> {
        let router = Router()
        if let token = parts.token { router.add(middleware: BearerToken(token: token)) }
        router.get("/healthz") { _, _ in text("ok\n", type: "text/plain; charset=utf-8") }
        router.get("/metrics") { _, _ in
            let body = try await parts.metrics.render(store: parts.store, budget: parts.budget, databasePath: parts.databasePath)
            return text(body, type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/api/jobs") { request, _ in
            var parameters: [String: String] = [:]
            for (key, value) in request.uri.queryParameters { parameters[String(key)] = String(value) }
            return text(try await parts.status(parts.store, JobsQuery(parameters)), type: "application/json")
        }
        router.get("/api/jobs/:name/details") { _, context in
            let name = context.parameters.get("name") ?? ""
            guard let job = try await parts.store.job(named: name), let id = job.id else {
                return text(#"{"error":"no such job"}"#, type: "application/json", status: .notFound)
            }
            return text(try await JobDetails.load(jobID: id, store: parts.store), type: "application/json")
        }
        router.get("/") { _, _ in text(Dashboard.html, type: "text/html; charset=utf-8") }
        return router
    }

    static func text(_ body: String, type: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers: HTTPFields = [.contentType: type]
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Every request but `/healthz` (probes) must carry `Authorization: Bearer <token>`; without it:
/// 401, and nothing is done.
struct BearerToken: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/healthz" { return try await next(request, context) }
        let given = request.headers[.authorization] ?? ""
        guard Self.constantTimeEqual(given, "Bearer \(token)") else {
            var response = ServeHTTP.text("unauthorized: send Authorization: Bearer <MOONTUNE_SERVE_TOKEN>\n",
                                          type: "text/plain; charset=utf-8", status: .unauthorized)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<min(x.count, y.count) { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

/// What the dashboard shows beyond the status document.
enum JobDetails {
    struct Document: Encodable {
        struct Eval: Encodable { var step: Int; var reward_mean: Double; var n: Int }
        struct Event: Encodable { var at_ms: Int64; var kind: String; var step: Int?; var message: String }
        var evals: [Eval]
        var events: [Event]
    }

    static func load(jobID: Int64, store: ProgressStore) async throws -> String {
        let evals = try await store.evals(jobID: jobID).suffix(200).map { Document.Eval(step: $0.step, reward_mean: $0.rewardMean, n: $0.count) }
        let events = try await store.events(jobID: jobID, limit: 12).map {
            Document.Event(at_ms: $0.atMs, kind: $0.kind, step: $0.step, message: $0.message)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(Document(evals: Array(evals), events: events)), as: UTF8.self)
    }
}
