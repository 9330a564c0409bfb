import MoontuneJSON
import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

/// Rewrites one rollout's metadata member.
func editingMetadata(_ rollout: JSONValue, _ edit: ([JSONMember]) -> [JSONMember]) -> JSONValue {
    guard let metadata = rollout["metadata"]?.objectMembers else { return rollout }
    return rollout.setting("metadata", to: .object(edit(metadata)))
}

@Suite("train_step refuses rollouts that were not passed back unchanged")
struct RolloutIntegrityTests {
    struct Issued {
        let finetuneID: String
        let request: JSONValue
        let rollouts: [JSONValue]
    }

    func issue(_ sim: Harness) async throws -> Issued {
        let id = try await sim.createFinetune("integrity")
        let answer = try await sim.rollouts(id, request: pointRequest("cup", image: "a"), count: 4)
        guard let request = answer.json?["request"], let rollouts = answer.json?["rollouts"]?.arrayValue else {
            throw HarnessError("rollouts answered \(answer.status)")
        }
        return Issued(finetuneID: id, request: request, rollouts: rollouts)
    }

    @Test("the 64-bit seq changed by one is refused and counted")
    func seqChangedByOne() async throws {
        try await withSimulator { sim in
            let issued = try await issue(sim)
            var rollouts = issued.rollouts
            rollouts[1] = editingMetadata(rollouts[1]) { members in
                members.map { member in
                    guard member.key == "seq", let digits = UInt64(member.value.serialized()) else { return member }
                    return JSONMember("seq", .uint(digits + 1))
                }
            }
            let answer = try await sim.trainStep(issued.finetuneID, groups: [(issued.request, rollouts, [1, 0, 0, 0])])
            #expect(answer.status == 400)
            #expect(answer.errorMessage.contains("changed"))
            let stats = try await sim.stats()
            #expect(stats["rejected_rollouts"]?.intValue == 1)
            #expect(stats["refused"]?.intValue == 1)
            #expect(stats["train_steps_applied"]?.intValue == 0)
        }
    }

    @Test("a metadata member removed is refused")
    func metadataFieldRemoved() async throws {
        try await withSimulator { sim in
            let issued = try await issue(sim)
            var rollouts = issued.rollouts
            rollouts[0] = editingMetadata(rollouts[0]) { $0.filter { $0.key != "note" } }
            let answer = try await sim.trainStep(issued.finetuneID, groups: [(issued.request, rollouts, [1, 0, 0, 0])])
            #expect(answer.status == 400 && answer.errorMessage.contains("changed"))
        }
    }

    @Test("a forged rollout with an id never issued is refused")
    func forgedRollout() async throws {
        try await withSimulator { sim in
            let issued = try await issue(sim)
            var rollouts = issued.rollouts
            rollouts[2] = editingMetadata(rollouts[2]) { members in
                members.map { $0.key == "rollout_id" ? JSONMember($0.key, .string("01ARZ3NDEKTSV4RRFFQ69G5FAV")) : $0 }
            }
            let answer = try await sim.trainStep(issued.finetuneID, groups: [(issued.request, rollouts, [1, 0, 0, 0])])
            #expect(answer.status == 400 && answer.errorMessage.contains("unknown"))
        }
    }

    @Test("a request that is not the echo (extra member dropped) is refused")
    func requestNotTheEcho() async throws {
        try await withSimulator { sim in
            let issued = try await issue(sim)
            let rebuilt = JSONValue.object(issued.request.objectMembers?.filter { $0.key != "_echo" } ?? [])
            let answer = try await sim.trainStep(issued.finetuneID, groups: [(rebuilt, issued.rollouts, [1, 0, 0, 0])])
            #expect(answer.status == 400 && answer.errorMessage.contains("echoed request"))
        }
    }

    @Test("the same meaning in other bytes (key order, escapes) is accepted")
    func sameMeaningAccepted() async throws {
        try await withSimulator { sim in
            let issued = try await issue(sim)
            // Reverse every object's members and escape the non-ASCII note: other bytes, same JSON.
            func reversed(_ value: JSONValue) -> JSONValue {
                switch value {
                case .object(let members): return .object(members.reversed().map { JSONMember($0.key, reversed($0.value)) })
                case .array(let elements): return .list(elements.map { reversed($0.value) })
                default: return value
                }
            }
            let rollouts = issued.rollouts.map { reversed($0).serialized().replacingOccurrences(of: "ü", with: "\\u00fc") }
            let body = #"{"finetune_id": "\#(issued.finetuneID)", "groups": [ {"rewards": [1, 0, 0.5, 0], "#
                + #""request": \#(reversed(issued.request).serialized()), "rollouts": [\#(rollouts.joined(separator: ",\n "))]} ]}"#
            let answer = try await sim.send(.POST, "/v1/tuning/train_step", body: body)
            #expect(answer.status == 200, "\(answer.errorMessage)")
            // Live answers (the default) report the step; the reference's `{}` is covered in LiveAnswerTests.
            #expect(answer.json?["applied"]?.boolValue == true && answer.json?["step"]?.intValue == 1)
        }
    }

    @Test("training twice on the same rollouts is applied and counted as a double application")
    func doubleApplication() async throws {
        try await withSimulator { sim in
            let issued = try await issue(sim)
            let group = (issued.request, issued.rollouts, [1.0, 0, 0, 0])
            #expect(try await sim.trainStep(issued.finetuneID, groups: [group]).status == 200)
            #expect(try await sim.stats()["double_applications"]?.intValue == 0)
            #expect(try await sim.trainStep(issued.finetuneID, groups: [group]).status == 200)
            let stats = try await sim.stats()
            #expect(stats["double_applications"]?.intValue == 1)
            #expect(stats["train_steps_applied"]?.intValue == 2)
            #expect(stats["finetunes"]?.arrayValue?.first?["double_applications"]?.intValue == 1)
            #expect(stats["finetunes"]?.arrayValue?.first?["step"]?.intValue == 2)
        }
    }

    @Test("rollouts of one finetune cannot train another")
    func otherFinetune() async throws {
        try await withSimulator { sim in
            let issued = try await issue(sim)
            let other = try await sim.createFinetune("other")
            let answer = try await sim.trainStep(other, groups: [(issued.request, issued.rollouts, [1, 0, 0, 0])])
            #expect(answer.status == 400 && answer.errorMessage.contains("issued for finetune"))
        }
    }
}
