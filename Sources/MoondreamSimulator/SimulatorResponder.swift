import MoontuneJSON
import MoondreamSimulatorEngine
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTTP face of the simulator: counts each `/v1` request, applies outage, latency and
/// faults before anything else, checks the key, then hands typed input to the engine.
struct SimulatorResponder: HTTPResponder {
    typealias Context = SimulatorContext

    let engine: SimulatorEngine
    let shutdown: ShutdownFlag
    /// See `SimulatorOptions.latencyCoversWork`.
    var latencyCoversWork = false
    /// Bodies carry base64 images; anything past this is refused with 413.
    let maxBodyBytes = 32 * 1024 * 1024

    /// Thrown after a connection was closed on purpose, so nothing is written.
    struct ConnectionDropped: Error {}

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        let method = request.method.rawValue
        var match = Route.match(method: method, path: path)
        // The reference has no metrics endpoint: in reference mode it is an unknown route.
        if engine.style.reference, case .logMetrics = match.route { match = (nil, false) }
        guard path == "/v1" || path.hasPrefix("/v1/") else {
            guard let route = match.route, route.isControl else {
                return Self.failure(match.pathExists ? .methodNotAllowed("\(method) is not allowed on \(path)") : .notFound("no route \(method) \(path)"))
            }
            return await control(route, request: request)
        }

        let faults = await engine.faults
        if case .outage(let status) = await engine.admit(endpoint: match.route?.label ?? "\(method) (unmatched)") {
            await engine.finish(status: status)
            return Self.failure(.injected(status: status), headers: status == 429 ? Self.retryAfter(faults) : HTTPFields())
        }
        // The per-key rate limiter answers before any work, as a gateway does.
        let key = HTTPField.Name("X-Moondream-Auth").flatMap { request.headers[$0] } ?? ""
        if let wait = await engine.takeRateToken(key: key) {
            await engine.finish(status: 429)
            var headers = HTTPFields()
            if let name = HTTPField.Name("Retry-After") { headers[name] = String(wait) }
            return Self.failure(.injected(status: 429), headers: headers)
        }
        let latencyMs = switch match.route {
        case .rollouts: faults.rolloutLatencyMs
        case .trainStep: faults.trainLatencyMs
        default: faults.otherLatencyMs
        }
        let clock = engine.clock
        let deadline = clock.now + .milliseconds(latencyMs)
        if latencyMs > 0, !latencyCoversWork { await shutdown.pause(until: deadline, on: clock) }

        switch await engine.drawFault() {
        case .none: break
        case .drop:
            await settle(deadline)
            return try await drop(context)
        case .serverError(let status):
            await settle(deadline)
            await engine.finish(status: status)
            return Self.failure(.injected(status: status))
        case .rateLimit:
            await settle(deadline)
            await engine.finish(status: 429)
            return Self.failure(.injected(status: 429), headers: Self.retryAfter(faults))
        case .hang:
            await shutdown.pause(for: .nanoseconds(Int64((faults.hangSeconds * 1e9).rounded())), on: clock)
        }

        let status: Int, body: JSONValue
        do {
            body = try await api(match, request: request)
            status = 200
        } catch let failure as APIFailure {
            (status, body) = (failure.status, failure.body)
        } catch {
            let failure = APIFailure(status: 500, code: "internal_error", message: "unexpected error: \(error)")
            (status, body) = (failure.status, failure.body)
        }
        // Serialized before the wait, so that the answer leaves on time.
        let answer = Self.json(status: status, body)
        await settle(deadline)

        if match.route == .trainStep {
            if status == 400 { await engine.noteRefusedTrainStep() }
            if status == 200, let outcome = await engine.drawAmbiguous() {
                switch outcome {
                case .badGateway:
                    await engine.finish(status: 502)
                    return Self.failure(.injected(status: 502))
                case .drop:
                    return try await drop(context)
                }
            }
        }
        await engine.finish(status: status)
        return answer
    }

    /// With `latencyCoversWork`, waits out what is left of the request's latency: the answer
    /// leaves at arrival + latency, or as soon as the work is done if that is later.
    private func settle(_ deadline: Duration) async {
        guard latencyCoversWork else { return }
        await shutdown.pause(until: deadline, on: engine.clock)
    }

    private func drop(_ context: Context) async throws -> Response {
        await engine.finish(status: nil)
        try? await context.channel.close()
        throw ConnectionDropped()
    }

    // MARK: /v1

    private func api(_ match: (route: Route?, pathExists: Bool), request: Request) async throws -> JSONValue {
        try authorize(request)
        guard let route = match.route else {
            if match.pathExists { throw APIFailure.methodNotAllowed("\(request.method.rawValue) is not allowed on \(request.uri.path)") }
            throw APIFailure.notFound("no route \(request.method.rawValue) \(request.uri.path)")
        }
        switch route {
        case .createFinetune:
            let fields = try Fields(try await readJSON(request), path: "")
            let name = try fields.string("name")
            guard Self.isValidName(name) else {
                throw APIFailure.badRequest("name must be 1–128 letters, digits, '-' or '_', got '\(name)'")
            }
            let rank = try fields.int("rank")
            guard [8, 16, 24, 32].contains(rank) else { throw APIFailure.badRequest("rank must be 8, 16, 24 or 32, got \(rank)") }
            return try await engine.createFinetune(name: name, rank: rank)
        case .listFinetunes:
            let page = try pageParameters(request)
            return await engine.listFinetunes(limit: page.limit, after: page.after)
        case .getFinetune(let id): return try await engine.getFinetune(id)
        case .deleteFinetune(let id): return try await engine.deleteFinetune(id)
        case .rollouts: return try await engine.rollouts(RolloutsInput(try await readJSON(request)))
        case .trainStep:
            let input = try TrainStepInput(try await readJSON(request), acceptsSFT: engine.style.live)
            if let milliseconds = await engine.drawSlowTrain(finetuneID: input.finetuneID) {
                // The body is read; the step now lands after the wait whether or not the client
                // is still there (the wait ignores cancellation; only a shutdown cuts it short).
                await shutdown.pauseIgnoringCancellation(for: .milliseconds(milliseconds), on: engine.clock)
            }
            return try await engine.trainStep(input)
        case .logMetrics(let id): return try await engine.logMetrics(id, MetricsInput(try await readJSON(request)))
        case .listCheckpoints(let id):
            let page = try pageParameters(request)
            return try await engine.listCheckpoints(id, limit: page.limit, after: page.after)
        case .saveCheckpoint(let id): return try await engine.saveCheckpoint(id)
        case .deleteCheckpoint(let id, let stepText):
            guard let step = Int(stepText), step >= 0 else { throw APIFailure.badRequest("checkpoint step must be a non-negative integer, got '\(stepText)'") }
            return try await engine.deleteCheckpoint(id, step: step)
        case .query, .point, .detect:
            let fields = try Fields(try await readJSON(request), path: "")
            if fields.has("ground_truth") { throw APIFailure.badRequest("ground_truth is not accepted by inference endpoints") }
            let skill: SimSkill = route == .query ? .query : (route == .point ? .point : .detect)
            return try await engine.infer(SkillCall(inference: skill, fields: fields), model: fields.optionalString("model"))
        case .caption:
            let fields = try Fields(try await readJSON(request), path: "")
            let image = try SkillCall.requiredImage(fields)
            let length = try fields.optionalString("length") ?? "normal"
            guard ["short", "normal", "long"].contains(length) else {
                throw APIFailure.badRequest("length must be 'short', 'normal' or 'long', got '\(length)'")
            }
            return try await engine.caption(imageURL: image, length: length, model: fields.optionalString("model"))
        case .simStats, .simFaults, .simOutage, .simRestore, .simResetStats, .simMetrics:
            throw APIFailure.notFound("no route \(request.method.rawValue) \(request.uri.path)")
        }
    }

    private func authorize(_ request: Request) throws(APIFailure) {
        let given = HTTPField.Name("X-Moondream-Auth").flatMap { request.headers[$0] } ?? ""
        guard !given.isEmpty else { throw .unauthorized("the X-Moondream-Auth header is missing or empty") }
        if let expected = engine.apiKey, given != expected { throw .unauthorized("the API key in X-Moondream-Auth is not valid") }
    }

    private func pageParameters(_ request: Request) throws(APIFailure) -> (limit: Int, after: Int?) {
        let query = request.uri.queryParameters
        return try PageCursor.parameters(limit: query["limit"].map(String.init), cursor: query["cursor"].map(String.init))
    }

    private func readJSON(_ request: Request) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch {
            throw APIFailure.tooLarge("the body is larger than \(maxBodyBytes) bytes or could not be read")
        }
        let bytes = Array(buffer.readableBytesView)
        guard !bytes.isEmpty else { throw APIFailure.badRequest("the body is empty; a JSON object is required") }
        do throws(JSONParseError) {
            return try JSONValue.parseNormalized(bytes)
        } catch {
            throw APIFailure.badRequest("the body is not valid JSON: malformed JSON at byte \(error.offset): \(error.message)")
        }
    }

    static func isValidName(_ name: String) -> Bool {
        (1...128).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }

    // MARK: /_sim

    private func control(_ route: Route, request: Request) async -> Response {
        do {
            switch route {
            case .simStats:
                return Self.encoded(await engine.stats())
            case .simFaults:
                return Self.encoded(try await engine.patchFaults(try await readJSON(request)))
            case .simOutage:
                let fields = try Fields(try await readJSON(request), path: "")
                guard let seconds = try fields.optionalDouble("seconds"), seconds >= 0 else {
                    throw APIFailure.badRequest("seconds is required and must be a non-negative number")
                }
                let status = try fields.optionalInt("status") ?? 503
                guard (400...599).contains(status) else { throw APIFailure.badRequest("status must be from 400 to 599, got \(status)") }
                await engine.startOutage(seconds: seconds, status: status)
                return Self.json(status: 200, .members([("ok", .bool(true)), ("seconds", .canonicalDouble(seconds)), ("status", .int(status))]))
            case .simRestore(let id):
                let fields = try Fields(try await readJSON(request), path: "")
                return Self.json(status: 200, try await engine.restore(id, step: try fields.int("step")))
            case .simResetStats:
                await engine.resetStats()
                return Self.json(status: 200, .members([("ok", .bool(true))]))
            case .simMetrics(let id):
                return Self.json(status: 200, try await engine.loggedMetrics(id))
            default:
                return Self.failure(.notFound("no route \(request.method.rawValue) \(request.uri.path)"))
            }
        } catch let failure as APIFailure {
            return Self.failure(failure)
        } catch {
            return Self.failure(APIFailure(status: 500, code: "internal_error", message: "unexpected error: \(error)"))
        }
    }

    // MARK: Responses

    /// `Retry-After` in whole seconds (rounded up, as HTTP requires) and `retry-after-ms` exactly.
    static func retryAfter(_ faults: FaultOptions) -> HTTPFields {
        var headers = HTTPFields()
        if let seconds = HTTPField.Name("Retry-After"), let milliseconds = HTTPField.Name("retry-after-ms") {
            headers[seconds] = String(Int(faults.retryAfterSeconds.rounded(.up)))
            headers[milliseconds] = String(Int((faults.retryAfterSeconds * 1000).rounded()))
        }
        return headers
    }

    static func json(status: Int, _ body: JSONValue, headers extra: HTTPFields = HTTPFields()) -> Response {
        var headers = extra
        headers[.contentType] = "application/json"
        return Response(status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body.serialized())))
    }

    static func failure(_ failure: APIFailure, headers: HTTPFields = HTTPFields()) -> Response {
        json(status: failure.status, failure.body, headers: headers)
    }

    static func encoded<T: Encodable>(_ value: T) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else {
            return failure(APIFailure(status: 500, code: "internal_error", message: "could not encode the answer"))
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: Array(data))))
    }
}
