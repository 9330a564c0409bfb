import Foundation
import MoondreamAPI
import MoontuneConfig
import MoontuneDataset
import MoontuneJSON
import NIOCore

/// A `model` grader: a judge behind an OpenAI-compatible `POST {base_url}/chat/completions`.
///
/// At most `concurrency` calls are in flight (its own limiter); each attempt has `timeout_s`;
/// failures are retried by the job's `RetryPolicy` (`api.max_attempts`, `api.give_up_after_s`,
/// `api.max_backoff_s`) and reported to `RetryReporting` like API calls, so the loop's wait
/// tracker shows them in the log and `status`. A 2xx answer without a usable score is not
/// retried: it is an error that quotes the reply.
///
/// The key goes in the `Authorization` header and nowhere else: server messages are redacted
/// of it before they are kept, and no description of the grader holds it.
public final class ModelGrader: Sendable {
    public let name: String
    public let config: ModelGraderConfig
    /// Only ever put in the `Authorization` header; the class has no description that shows it.
    private let apiKey: String?
    private let transport: any HTTPTransport
    private let retry: RetryPolicy
    public let limiter: InFlightLimiter
    private let maxResponseBytes: Int
    /// The same retrying sender as the API client's: waits shown, paced and cut short alike.
    private let sender: RetryingSender

    public init(name: String, config: ModelGraderConfig, apiKey: String?, retry: RetryPolicy,
                transport: (any HTTPTransport)? = nil, environment: RetryEnvironment = .live, maxResponseBytes: Int = 4 << 20) {
        self.name = name
        self.config = config
        self.apiKey = apiKey
        var retry = retry
        retry.requestTimeout = .milliseconds(Int64(config.timeoutSeconds * 1000))
        self.retry = retry
        self.transport = transport ?? AsyncHTTPTransport(maxConnections: config.concurrency)
        let limiter = InFlightLimiter(limit: config.concurrency)
        self.limiter = limiter
        self.maxResponseBytes = maxResponseBytes
        sender = RetryingSender(transport: self.transport, limiter: limiter, environment: environment, secrets: apiKey.map { [$0] } ?? [])
    }

    /// The endpoint as waits and errors name it: `POST /chat/completions (grader judge)`.
    public var endpoint: String { "POST /chat/completions (grader \(name))" }

    public func shutdown() async {
        await transport.shutdown()
    }

    /// The prompt for one rollout: the template with the example's fields and the answer.
    public func prompt(example: Example, answer: String) -> String {
        PromptTemplate.fill(config.prompt, [
            "question": example.question ?? "",
            "object": example.object ?? "",
            "answer": answer,
            "reference": Self.reference(of: example),
            "skill": example.skill.rawValue,
        ])
    }

    /// The accepted answer (one), the accepted answers as a JSON list (several), or the ground
    /// truth as JSON (point, detect).
    public static func reference(of example: Example) -> String {
        if example.skill == .query {
            return example.answers.count == 1 ? example.answers[0] : JSONValue.list(example.answers.map(JSONValue.string)).serialized()
        }
        return example.groundTruth?.json.serialized() ?? "null"
    }

    /// The chat completions body: one user message, the prompt and, when given, the image.
    public func requestBody(prompt: String, imageDataURL: String?) -> String {
        var content: [JSONValue] = [.members(["type": .string("text"), "text": .string(prompt)])]
        if let imageDataURL {
            content.append(.members(["type": .string("image_url"), "image_url": .members(["url": .string(imageDataURL)])]))
        }
        return JSONValue.members([
            "model": .string(config.model),
            "messages": .list([.members(["role": .string("user"), "content": .list(content)])]),
            "temperature": config.temperature.map(JSONValue.double),
            "max_tokens": config.maxTokens.map(JSONValue.int),
        ]).serialized()
    }

    /// The judge's score for one prompt, after retries. Throws `RewardError`, or
    /// `CancellationError` unchanged (a graceful stop ends a backoff with it, and the loop must
    /// see a stop, not a failed grader).
    public func score(prompt: String, imageDataURL: String?) async throws -> Double {
        let body = requestBody(prompt: prompt, imageDataURL: imageDataURL)
        let response: HTTPResponseSpec
        do {
            response = try await send(body)
        } catch let error as APIError {
            throw RewardError(.graderFailed, "grader \"\(name)\" (model \(config.model) at \(config.baseURL)): gave up after "
                + "\(error.attempts) attempt\(error.attempts == 1 ? "" : "s"): \(error.waitReason)"
                + (error.message.isEmpty ? "" : " (\(redact(error.message)))"))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RewardError(.graderFailed, "grader \"\(name)\": \(redact(String(describing: error)))")
        }
        do {
            return try JudgeReply.score(body: response.body)
        } catch {
            throw RewardError(.graderAnsweredBadly, "grader \"\(name)\" (model \(config.model)): \(redact(error.description))")
        }
    }

    private func redact(_ text: String) -> String {
        guard let apiKey else { return text }
        return SecretRedactor(secrets: [apiKey], minimumLength: 1).redact(text)
    }

    /// One call with retries, as the API client sends idempotent calls.
    private func send(_ body: String) async throws -> HTTPResponseSpec {
        var headers = [("Content-Type", "application/json"), ("Accept", "application/json"), ("User-Agent", "moontune")]
        if let apiKey { headers.append(("Authorization", "Bearer \(apiKey)")) }
        let spec = HTTPRequestSpec(method: "POST", url: config.baseURL + "/chat/completions", headers: headers,
                                   body: ByteBuffer(bytes: Array(body.utf8)), timeout: retry.requestTimeout,
                                   maxResponseBytes: maxResponseBytes)
        return try await sender.send(spec, endpoint: endpoint, idempotent: true, policy: retry, message: Self.message)
    }


    /// The server's words, shortened: `error.message`, `error`, `message` or `detail`, else the text.
    static func message(_ body: [UInt8]) -> String {
        if let node = try? JSONParser.parse(body) {
            for candidate in [node.value["error"]?["message"], node.value["error"], node.value["message"], node.value["detail"]] {
                if let text = candidate?.stringValue { return JudgeReply.shorten(text) }
            }
        }
        return JudgeReply.shorten(String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
