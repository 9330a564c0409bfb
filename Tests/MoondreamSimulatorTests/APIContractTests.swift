import MoontuneJSON
import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

@Suite("The simulated API follows the reference")
struct APIContractTests {
    @Test("a missing or empty key is 401; with --api-key only that key passes")
    func authentication() async throws {
        try await withSimulator(SimulatorOptions(apiKey: "right")) { sim in
            #expect(try await sim.send(.GET, "/v1/tuning/finetunes", key: .some(nil)).status == 401)
            #expect(try await sim.send(.GET, "/v1/tuning/finetunes", key: "").status == 401)
            let wrong = try await sim.send(.GET, "/v1/tuning/finetunes", key: "wrong")
            #expect(wrong.status == 401 && wrong.errorCode == "unauthorized")
            #expect(try await sim.send(.GET, "/v1/tuning/finetunes", key: "right").status == 200)
        }
        try await withSimulator { sim in
            let answer = try await sim.send(.GET, "/v1/tuning/finetunes", key: "anything")
            #expect(answer.status == 200)
        }
    }

    @Test("creating a finetune is idempotent by name and rank; another rank is 409")
    func idempotentCreate() async throws {
        try await withSimulator { sim in
            let first = try await sim.createFinetune("kitchen-v1", rank: 16)
            let again = try await sim.createFinetune("kitchen-v1", rank: 16)
            #expect(first == again)
            #expect(ULID.isWellFormed(first))
            let conflict = try await sim.post("/v1/tuning/finetunes", .members([("name", .string("kitchen-v1")), ("rank", .int(32))]))
            #expect(conflict.status == 409 && conflict.errorCode == "conflict")
            let other = try await sim.createFinetune("kitchen-v2", rank: 8)
            #expect(other != first)
            let fetched = try await sim.get("/v1/tuning/finetunes/\(first)")
            #expect(fetched.json?["name"]?.stringValue == "kitchen-v1" && fetched.json?["rank"]?.intValue == 16)
            #expect(fetched.json?["created_at_ms"]?.intValue != nil)
        }
    }

    @Test("a deleted finetune is 404 everywhere and gone from the list")
    func deletedFinetune() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("doomed")
            let keep = try await sim.createFinetune("kept")
            #expect(try await sim.send(.DELETE, "/v1/tuning/finetunes/\(id)").json?["ok"]?.boolValue == true)
            #expect(try await sim.get("/v1/tuning/finetunes/\(id)").status == 404)
            #expect(try await sim.send(.DELETE, "/v1/tuning/finetunes/\(id)").status == 404)
            #expect(try await sim.rollouts(id, request: pointRequest("cup", image: "a")).status == 404)
            #expect(try await sim.get("/v1/tuning/finetunes/\(id)/checkpoints").status == 404)
            #expect(try await sim.post("/v1/tuning/finetunes/\(id)/checkpoints/save", .object([])).status == 404)
            let step = try await sim.trainStep(id, groups: [(pointRequest("cup", image: "a"), [.object([])], [1])])
            #expect(step.status == 404)
            let listed = try await sim.get("/v1/tuning/finetunes").json?["finetunes"]?.arrayValue?.compactMap { $0["finetune_id"]?.stringValue }
            #expect(listed == [keep])
            #expect(try await sim.get("/v1/tuning/finetunes/01ZZZZZZZZZZZZZZZZZZZZZZZZ").status == 404)
        }
    }

    @Test("finetunes page oldest first over several pages with opaque cursors")
    func finetunePagination() async throws {
        try await withSimulator { sim in
            var created: [String] = []
            for index in 0..<7 { created.append(try await sim.createFinetune("ft-\(index)")) }
            var seen: [String] = [], cursor: String?, pages = 0
            repeat {
                let path = "/v1/tuning/finetunes?limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await sim.get(path)
                #expect(page.status == 200)
                seen += page.json?["finetunes"]?.arrayValue?.compactMap { $0["finetune_id"]?.stringValue } ?? []
                cursor = page.json?["next_cursor"]?.stringValue
                #expect(page.json?["has_more"]?.boolValue == (cursor != nil))
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen == created)
            #expect(pages == 3)
            #expect(try await sim.get("/v1/tuning/finetunes?limit=0").status == 400)
            #expect(try await sim.get("/v1/tuning/finetunes?limit=101").status == 400)
            #expect(try await sim.get("/v1/tuning/finetunes?limit=ten").status == 400)
            #expect(try await sim.get("/v1/tuning/finetunes?cursor=garbage").status == 400)
        }
    }

    @Test("checkpoints: save needs a step, is idempotent, pages by step; delete is 404 then 410")
    func checkpoints() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("ckpt")
            let early = try await sim.post("/v1/tuning/finetunes/\(id)/checkpoints/save", .object([]))
            #expect(early.status == 404 && early.errorMessage.contains("no checkpoint is available"))
            var ids: [Int: String] = [:]
            for step in 1...5 {
                #expect(try await sim.oneStep(id, request: pointRequest("cup", image: "a"), truth: pointTruth(0.5, 0.5)).status == 200)
                let saved = try await sim.post("/v1/tuning/finetunes/\(id)/checkpoints/save", .object([]))
                #expect(saved.json?["checkpoint"]?["step"]?.intValue == step)
                ids[step] = saved.json?["checkpoint"]?["checkpoint_id"]?.stringValue
            }
            let again = try await sim.post("/v1/tuning/finetunes/\(id)/checkpoints/save", .object([]))
            #expect(again.json?["ok"]?.boolValue == true)
            #expect(again.json?["checkpoint"]?["checkpoint_id"]?.stringValue == ids[5])

            var steps: [Int] = [], cursor: String?, pages = 0
            repeat {
                let page = try await sim.get("/v1/tuning/finetunes/\(id)/checkpoints?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                steps += page.json?["checkpoints"]?.arrayValue?.compactMap { $0["step"]?.intValue } ?? []
                cursor = page.json?["next_cursor"]?.stringValue
                pages += 1
            } while cursor != nil && pages < 10
            #expect(steps == [1, 2, 3, 4, 5] && pages == 3)

            #expect(try await sim.send(.DELETE, "/v1/tuning/finetunes/\(id)/checkpoints/3").status == 200)
            #expect(try await sim.send(.DELETE, "/v1/tuning/finetunes/\(id)/checkpoints/3").status == 410)
            #expect(try await sim.send(.DELETE, "/v1/tuning/finetunes/\(id)/checkpoints/9").status == 404)
            #expect(try await sim.send(.DELETE, "/v1/tuning/finetunes/\(id)/checkpoints/x").status == 400)
            let listed = try await sim.get("/v1/tuning/finetunes/\(id)/checkpoints").json?["checkpoints"]?.arrayValue?.compactMap { $0["step"]?.intValue }
            #expect(listed == [1, 2, 4, 5])
            // Deleting and saving the current step again brings the same checkpoint back.
            #expect(try await sim.send(.DELETE, "/v1/tuning/finetunes/\(id)/checkpoints/5").status == 200)
            let revived = try await sim.post("/v1/tuning/finetunes/\(id)/checkpoints/save", .object([]))
            #expect(revived.json?["checkpoint"]?["checkpoint_id"]?.stringValue == ids[5])
            let summary = try await sim.stats()["finetunes"]?.arrayValue?.first
            #expect(summary?["checkpoints"]?.arrayValue?.compactMap(\.intValue) == [1, 2, 4, 5])
            #expect(summary?["deleted_checkpoints"]?.arrayValue?.compactMap(\.intValue) == [3])
        }
    }

    @Test("rollouts echo the request with an extra member and carry opaque metadata")
    func rolloutShape() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("shape")
            let answer = try await sim.rollouts(id, request: pointRequest("cup", image: "a"), count: 3, truth: pointTruth(0.4, 0.4))
            #expect(answer.status == 200)
            #expect(answer.json?["request"]?["_echo"]?["nested"] != nil)
            #expect(answer.json?["request"]?["object"]?.stringValue == "cup")
            let rollouts = answer.json?["rollouts"]?.arrayValue ?? []
            #expect(rollouts.count == 3)
            #expect(answer.json?["rewards"]?.arrayValue?.count == 3)
            let metadata = rollouts.first?["metadata"]
            #expect(metadata?["note"]?.stringValue == "ünïcødé ✓ 🚀")
            #expect((metadata?["seq"]?.serialized().count ?? 0) >= 16)
            #expect(rollouts.first?["output"]?["points"]?.arrayValue?.count == 1)
            let noTruth = try await sim.rollouts(id, request: queryRequest("What color is the cup?", image: "a"), count: 2)
            #expect(noTruth.json?["rewards"]?.isNull == true)
            #expect(noTruth.json?["rollouts"]?.arrayValue?.first?["output"]?["answer"]?.stringValue != nil)
        }
    }

    @Test("unknown routes are 404 and wrong methods 405, as JSON errors")
    func routing() async throws {
        try await withSimulator { sim in
            let missing = try await sim.get("/v1/tuning/nothing")
            #expect(missing.status == 404 && missing.errorCode == "not_found")
            #expect(try await sim.send(.PUT, "/v1/tuning/finetunes").status == 405)
        }
    }
}
