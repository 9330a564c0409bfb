import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MoontuneStore
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// A webhook receiver on 127.0.0.1:0 that answers 503 while it is "down".
final class WebhookReceiver: Sendable {
    struct Delivery: Sendable {
        var event: String
        var body: String
        var signature: String?
    }

    private let state = Mutex<(up: Bool, refused: Int, deliveries: [Delivery])>((false, 0, []))
    var deliveries: [Delivery] { state.withLock { $0.deliveries } }
    var refused: Int { state.withLock { $0.refused } }
    func setUp(_ up: Bool) { state.withLock { $0.up = up } }

    static func with<T: Sendable>(_ body: @Sendable (WebhookReceiver, String) async throws -> T) async throws -> T {
        let receiver = WebhookReceiver()
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let text = String(buffer: bytes)
            let accepted = receiver.state.withLock { state -> Bool in
                guard state.up else { state.refused += 1; return false }
                state.deliveries.append(Delivery(event: request.headers[HTTPField.Name("X-Moontune-Event")!] ?? "", body: text,
                                                 signature: request.headers[HTTPField.Name("X-Moontune-Signature")!]))
                return true
            }
            return Response(status: accepted ? .ok : .serviceUnavailable)
        }
        return try await LocalServer.serve(router, name: "webhook receiver") { port in
            try await body(receiver, "http://127.0.0.1:\(port)/hook")
        }
    }
}

extension EndToEnd {
    /// Webhooks of `serve`: signed with HMAC-SHA256, delivered at least once from the outbox,
    /// across a receiver that is down for a while and a daemon killed meanwhile.
    @Suite struct ServeWebhookTests {
        @Test func eventsArriveSignedAndAtLeastOnceAfterTheReceiverWasDownAndServeWasKilled() async throws {
            try await WebhookReceiver.with { receiver, url in
                try await withWorkspace(try await Workspace.make(seed: 14)) { workspace in
                    let notify: [String: Any] = ["webhook_url": url, "secret_env": "MOONTUNE_HOOK_SECRET"]
                    try workspace.writeConfig(name: "hooked", steps: 3, every: 3, extra: ["notify": notify], file: "hooked.json")
                    try workspace.writeConfig(name: "broken", steps: 2, extraAPI: ["api_key_env": "MOONTUNE_NO_SUCH_KEY"],
                                              extra: ["notify": notify], file: "broken.json")
                    // A bad notify section is a located config error, like any other.
                    try workspace.writeConfig(name: "badhook", steps: 2, extra: ["notify": ["webhook_url": "ftp://x", "secrets": "S"]],
                                              file: "badhook.json")
                    let bad = try await workspace.run(["submit", "badhook.json"])
                    #expect(bad.status == 2)
                    #expect(bad.stderr.contains("notify.webhook_url") && bad.stderr.contains("secrets"), "\(bad.stderr)")
                    for file in ["hooked.json", "broken.json"] { #expect(try await workspace.run(["submit", file]).status == 0) }

                    let environment = ["MOONTUNE_HOOK_SECRET": "hook-secret-42"]
                    let first = try await ServeProcess.start(workspace, environment: environment)
                    try await first.until(timeout: .seconds(60), "both jobs ended") { jobs in
                        jobs["hooked"]?["state"] as? String == "completed" && jobs["broken"]?["state"] as? String == "failed"
                    }
                    // The receiver is down: deliveries fail and wait in the outbox; then the daemon dies.
                    let deadline = ContinuousClock.now + .seconds(20)
                    while receiver.refused < 3 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
                    #expect(receiver.refused >= 3, "no retries while the receiver was down")
                    _ = await first.kill()
                    #expect(receiver.deliveries.isEmpty)
                    receiver.setUp(true)
                    let second = try await ServeProcess.start(workspace, environment: environment)
                    let delivered = ContinuousClock.now + .seconds(30)
                    while Set(receiver.deliveries.map(\.event)) != ["completed", "failed"] && ContinuousClock.now < delivered {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    #expect(await second.terminate().status == 0)
                    let deliveries = receiver.deliveries
                    #expect(Set(deliveries.map(\.event)) == ["completed", "failed"], "\(deliveries.map(\.event))")
                    for delivery in deliveries {
                        let document = try #require(try JSONSerialization.jsonObject(with: Data(delivery.body.utf8)) as? [String: Any])
                        #expect(document["event"] as? String == delivery.event)
                        #expect(["hooked", "broken"].contains(document["job"] as? String ?? ""))
                        // The signature is HMAC-SHA256 of the body under the secret, checked by Python's hmac.
                        let file = workspace.directory.appendingPathComponent("body-\(delivery.event).json")
                        try delivery.body.write(to: file, atomically: true, encoding: .utf8)
                        let check = try await ServeHTTPTests.tool("/usr/bin/env", ["python3", "-c",
                            "import hmac,hashlib,sys; print('sha256=' + hmac.new(b'hook-secret-42', open(sys.argv[1],'rb').read(), hashlib.sha256).hexdigest())",
                            file.path], in: workspace.directory)
                        #expect(delivery.signature == check.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "bad signature")
                        #expect(!delivery.body.contains(MoontuneProcess.apiKey) && !delivery.body.contains("hook-secret-42"))
                    }
                    #expect(try await ProgressStore(path: workspace.database.path, readOnly: true).pendingNotificationCount() == 0)
                }
            }
        }
    }
}
