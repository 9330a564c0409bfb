import MoontuneRandom
import Foundation
import MoondreamAPI
import MoondreamSimulator
import MoontuneJob
import Testing

/// `reward.source: local` must give what the server gives: moontune's own reward functions
/// (MoontuneJob's LocalRewards) are checked against the simulator's, which were written apart.
@Suite struct RewardAgreementTests {
    static let image = "data:image/png;base64," + Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 7]).base64EncodedString()

    func randomBox(_ random: inout SplitMix64) -> Box {
        func unit() -> Double { Double(random.next() >> 11) / Double(1 << 53) }
        let x = unit() * 0.7, y = unit() * 0.7
        return Box(xMin: x, yMin: y, xMax: x + 0.05 + unit() * 0.25, yMax: y + 0.05 + unit() * 0.25)
    }

    @Test func localRewardsEqualTheServersOnTheSameRollouts() async throws {
        let simulator = try await Simulator.start(SimulatorOptions(seed: 12))
        let client = MoondreamClient(configuration: ClientConfiguration(baseURL: simulator.baseURL, apiKey: APIKey("sk-agree-000000"),
                                                                        maxInFlight: 4))
        var random = SplitMix64(seed: 99)
        var compared = 0
        var informative = 0
        do {
            let id = try await client.createFinetune(name: "agreement", rank: 8)
            for round in 0..<24 {
                let truthBoxes = (0..<(1 + Int(random.next() % 3))).map { _ in randomBox(&random) }
                let object = "thing \(round)"
                let cases: [(SkillRequest, GroundTruth)] = [
                    (.point(object: object, imageURL: Self.image, settings: nil),
                     .points(truthBoxes.map { Point(x: ($0.xMin + $0.xMax) / 2, y: ($0.yMin + $0.yMax) / 2) })),
                    (.point(object: object, imageURL: Self.image, settings: nil), .boxes(truthBoxes)),
                    (.detect(object: object, imageURL: Self.image, settings: SamplingSettings(maxObjects: 4)),
                     .boxes(round % 5 == 0 ? [] : truthBoxes)),
                ]
                for (request, truth) in cases {
                    let response = try await client.rollouts(RolloutsRequest(finetuneID: id, numRollouts: 16, request: request,
                                                                              groundTruth: truth))
                    let server = try #require(response.rewards)
                    for (rollout, expected) in zip(response.rollouts, server) {
                        let local: Double
                        switch (rollout.output, truth) {
                        case (.point(let points), .points(let truthPoints)):
                            local = LocalRewards.pointDistance(predicted: points, truth: truthPoints)
                        case (.point(let points), .boxes(let boxes)):
                            local = LocalRewards.pointContainment(predicted: points, truth: boxes)
                        case (.detect(let boxes), .boxes(let truthBoxes)):
                            local = LocalRewards.detectF1(predicted: boxes, truth: truthBoxes)
                        default:
                            Issue.record("unexpected output \(String(describing: rollout.output)) for \(truth)")
                            continue
                        }
                        #expect(abs(local - expected) < 1e-9, "local \(local) vs server \(expected) for \(rollout.raw)")
                        compared += 1
                        if expected > 0 && expected < 1 { informative += 1 }
                    }
                }
            }
        } catch {
            await client.shutdown()
            await simulator.stop()
            throw error
        }
        await client.shutdown()
        await simulator.stop()
        #expect(compared == 24 * 3 * 16)
        // Agreement on zeros alone would prove little: many rewards must be partial.
        #expect(informative > 100, "only \(informative) rewards strictly between 0 and 1")
    }
}
