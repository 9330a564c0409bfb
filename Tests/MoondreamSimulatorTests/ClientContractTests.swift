import Foundation
import MoondreamAPI
import MoondreamSimulator
import Testing

/// The typed client against the simulator on 127.0.0.1:0: every endpoint, every documented error.
@Suite struct ClientContractTests {
    static let key = "sk-contract-0123456789"
    static let png = "data:image/png;base64," + Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]).base64EncodedString()

    /// A client with few, fast retries, so that error tests stay quick.
    func withClient(key: String = key, _ body: (MoondreamClient, RunningSimulator) async throws -> Void) async throws {
        let simulator = try await Simulator.start(SimulatorOptions(apiKey: Self.key, seed: 4))
        let client = MoondreamClient(configuration: ClientConfiguration(
            baseURL: simulator.baseURL, apiKey: APIKey(key),
            retry: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10), maxDelay: .milliseconds(20)), maxInFlight: 4))
        do {
            try await body(client, simulator)
        } catch {
            await client.shutdown()
            await simulator.stop()
            throw error
        }
        await client.shutdown()
        await simulator.stop()
    }

    func kind(_ operation: () async throws -> Void) async -> APIError.Kind? {
        do {
            try await operation()
            return nil
        } catch let error as APIError {
            return error.kind
        } catch {
            return nil
        }
    }

    @Test func finetunesCreateGetListAndDelete() async throws {
        try await withClient { client, _ in
            let id = try await client.createFinetune(name: "contract-a", rank: 16)
            #expect(try await client.createFinetune(name: "contract-a", rank: 16) == id, "create is idempotent by name")
            #expect(await kind { _ = try await client.createFinetune(name: "contract-a", rank: 8) } == .conflict)
            #expect(await kind { _ = try await client.createFinetune(name: "bad name!", rank: 8) } == .badRequest)
            #expect(await kind { _ = try await client.createFinetune(name: "ok", rank: 12) } == .badRequest)
            let finetune = try await client.finetune(id: id)
            #expect(finetune.name == "contract-a")
            #expect(finetune.rank == 16)
            for index in 0..<5 { _ = try await client.createFinetune(name: "contract-\(index)", rank: 8) }
            let page = try await client.listFinetunes(limit: 2)
            #expect(page.items.count == 2)
            #expect(page.hasMore)
            let all = try await client.allFinetunes(pageSize: 2).collect()
            #expect(all.count == 6)
            #expect(all.first?.finetuneID == id, "oldest first")
            try await client.deleteFinetune(id: id)
            #expect(await kind { _ = try await client.finetune(id: id) } == .notFound)
            #expect(await kind { try await client.deleteFinetune(id: id) } == .notFound)
            #expect(try await client.allFinetunes(pageSize: 100).collect().count == 5)
        }
    }

    @Test func aWrongKeyIsUnauthorizedAndNeverRetried() async throws {
        try await withClient(key: "sk-not-the-right-one") { client, simulator in
            #expect(await kind { _ = try await client.listFinetunes() } == .unauthorized)
            #expect(await simulator.stats().requestsTotal == 1)
        }
    }

    @Test func rolloutsForEverySkillGoBackToTrainStepUnchangedAndAreAccepted() async throws {
        try await withClient { client, simulator in
            let id = try await client.createFinetune(name: "roundtrip", rank: 8)
            let requests: [RolloutsRequest] = [
                RolloutsRequest(finetuneID: id, numRollouts: 3, request: .point(object: "cat", imageURL: Self.png, settings: nil),
                                groundTruth: .points([Point(x: 0.5, y: 0.5)])),
                RolloutsRequest(finetuneID: id, numRollouts: 2, request: .detect(object: "dogs", imageURL: Self.png,
                                                                                 settings: SamplingSettings(maxObjects: 3)),
                                groundTruth: .boxes([Box(xMin: 0.1, yMin: 0.1, xMax: 0.4, yMax: 0.5)])),
                RolloutsRequest(finetuneID: id, numRollouts: 4, request: .query(question: "What color?", imageURL: Self.png,
                                                                                reasoning: nil, settings: nil)),
            ]
            var groups: [TrainGroup] = []
            for request in requests {
                let response = try await client.rollouts(request)
                #expect(response.rollouts.count == request.numRollouts)
                #expect(response.rollouts.allSatisfy { $0.output != nil }, "outputs decode for \(request.request.skill)")
                // The simulator's opaque metadata carries an integer above 2^53 and unicode.
                let seq = try #require(response.rollouts.first?.raw["metadata"]?["seq"]?.text)
                #expect((UInt64(seq) ?? 0) > 1 << 53, "\(seq)")
                let rewards = response.rewards ?? Array(repeating: 0.5, count: response.rollouts.count)
                #expect(request.groundTruth == nil ? response.rewards == nil : response.rewards?.count == request.numRollouts)
                groups.append(TrainGroup(request: response.request, rollouts: response.rollouts.map(\.raw),
                                         rewards: rewards.enumerated().map { Double($0.offset) * 0.1 + $0.element }))
            }
            _ = try await client.trainStep(finetuneID: id, groups: groups, lr: 0.002)
            let stats = await simulator.stats()
            #expect(stats.trainStepsApplied == 1)
            #expect(stats.rejectedRollouts == 0, "the simulator found every rollout unchanged in meaning")
            #expect(stats.doubleApplications == 0)
            // The same rollouts a second time are applied but counted as a double application.
            _ = try await client.trainStep(finetuneID: id, groups: groups, lr: 0.002)
            #expect(await simulator.stats().doubleApplications == 1)
        }
    }

    @Test func invalidRolloutRequestsAreBadRequests() async throws {
        try await withClient { client, _ in
            let id = try await client.createFinetune(name: "invalid", rank: 8)
            let point = SkillRequest.point(object: "cat", imageURL: Self.png, settings: nil)
            #expect(await kind { _ = try await client.rollouts(RolloutsRequest(finetuneID: id, numRollouts: 0, request: point)) } == .badRequest)
            #expect(await kind { _ = try await client.rollouts(RolloutsRequest(finetuneID: id, numRollouts: 17, request: point)) } == .badRequest)
            let query = SkillRequest.query(question: "q", imageURL: nil, reasoning: nil, settings: nil)
            #expect(await kind {
                _ = try await client.rollouts(RolloutsRequest(finetuneID: id, numRollouts: 2, request: query, groundTruth: .points([])))
            } == .badRequest)
            #expect(await kind {
                _ = try await client.rollouts(RolloutsRequest(finetuneID: id, numRollouts: 2, request: point,
                                                              groundTruth: .points([Point(x: 1.5, y: 0)])))
            } == .badRequest)
            #expect(await kind { _ = try await client.rollouts(RolloutsRequest(finetuneID: "01NOSUCH", numRollouts: 2, request: point)) }
                    == .notFound)
        }
    }

    @Test func anAlteredRolloutIsRefused() async throws {
        try await withClient { client, _ in
            let id = try await client.createFinetune(name: "altered", rank: 8)
            let response = try await client.rollouts(RolloutsRequest(finetuneID: id, numRollouts: 2,
                                                                     request: .point(object: "cat", imageURL: Self.png, settings: nil)))
            let original = try #require(response.rollouts.first?.raw.text)
            let seq = try #require(response.rollouts.first?.raw["metadata"]?["seq"]?.text)
            let bumped = String((UInt64(seq) ?? 0) + 1)
            let altered = try RawJSON(validating: original.replacingOccurrences(of: seq, with: bumped))
            let group = TrainGroup(request: response.request, rollouts: [altered, response.rollouts[1].raw], rewards: [1, 0])
            #expect(await kind { _ = try await client.trainStep(finetuneID: id, groups: [group], lr: nil) } == .badRequest)
        }
    }

    @Test func checkpointsSaveListDeleteAndInference() async throws {
        try await withClient { client, _ in
            let id = try await client.createFinetune(name: "saved", rank: 8)
            #expect(await kind { _ = try await client.saveCheckpoint(finetuneID: id) } == .notFound, "no step to save yet")
            for _ in 1...3 {
                let response = try await client.rollouts(RolloutsRequest(
                    finetuneID: id, numRollouts: 2, request: .point(object: "cat", imageURL: Self.png, settings: nil),
                    groundTruth: .points([Point(x: 0.3, y: 0.3)])))
                _ = try await client.trainStep(finetuneID: id, groups: [TrainGroup(request: response.request,
                                                                                  rollouts: response.rollouts.map(\.raw),
                                                                                  rewards: response.rewards ?? [0, 1])], lr: nil)
                let checkpoint = try await client.saveCheckpoint(finetuneID: id)
                #expect(try await client.saveCheckpoint(finetuneID: id) == checkpoint, "save is idempotent")
            }
            let all = try await client.allCheckpoints(finetuneID: id, pageSize: 1).collect()
            #expect(all.map(\.step) == [1, 2, 3])

            let model = inferenceModel(finetuneID: id, step: 2)
            #expect(model == "moondream3-preview/\(id)@2")
            let points = try await client.point(model: model, imageURL: Self.png, object: "cat")
            #expect(!points.isEmpty)
            _ = try await client.detect(model: model, imageURL: Self.png, object: "cat")
            #expect(!(try await client.query(model: model, imageURL: Self.png, question: "What color?")).isEmpty)
            #expect(!(try await client.caption(model: nil, imageURL: Self.png)).isEmpty)
            #expect(try await client.point(model: model, imageURL: Self.png, object: "cat") == points, "inference is deterministic")

            try await client.deleteCheckpoint(finetuneID: id, step: 2)
            #expect(await kind { try await client.deleteCheckpoint(finetuneID: id, step: 2) } == .gone)
            #expect(await kind { try await client.deleteCheckpoint(finetuneID: id, step: 9) } == .notFound)
            #expect(await kind { _ = try await client.point(model: model, imageURL: Self.png, object: "cat") } == .notFound,
                    "a deleted checkpoint cannot serve")
            #expect(await kind { _ = try await client.point(model: inferenceModel(finetuneID: id, step: 7), imageURL: Self.png,
                                                             object: "cat") } == .notFound, "an unsaved step cannot serve")
            #expect(try await client.allCheckpoints(finetuneID: id).collect().map(\.step) == [1, 3])
        }
    }

    @Test func transientFaultsAreRetriedAndAmbiguousTrainStepsReported() async throws {
        try await withClient { client, simulator in
            let id = try await client.createFinetune(name: "faulty", rank: 8)
            var faults = FaultOptions()
            faults.ambiguousTrainRate = 1
            await simulator.setFaults(faults)
            let response = try await client.rollouts(RolloutsRequest(finetuneID: id, numRollouts: 2,
                                                                     request: .point(object: "cat", imageURL: Self.png, settings: nil)))
            do {
                _ = try await client.trainStep(finetuneID: id, groups: [TrainGroup(request: response.request,
                                                                                  rollouts: response.rollouts.map(\.raw),
                                                                                  rewards: [1, 0])], lr: nil)
                Issue.record("an ambiguous answer must throw")
            } catch let error as APIError {
                #expect(error.isAmbiguous)
            }
            #expect(await simulator.stats().trainStepsApplied == 1, "applied once, and not re-sent")
            await simulator.setFaults(FaultOptions())
            #expect(try await client.saveCheckpoint(finetuneID: id).step == 1, "the server's step tells what happened")
        }
    }
}
