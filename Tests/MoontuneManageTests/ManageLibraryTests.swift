import Foundation
import MoondreamAPI
import MoontuneManage
import MoontuneReport
@testable import MoontuneStore
import Testing

/// The management commands' logic called as a library, without the CLI: one behaviour or more
/// per command family, against the embedded simulator.
@Suite struct ManageLibraryTests {
    // MARK: checkpoints

    @Test func aChoiceOfADeletedCheckpointSaysWhenItWasDeletedAndWhatIsSaved() async throws {
        let deleted = CheckpointRecord(jobID: 1, step: 4, checkpointID: "ck-4", kind: .cadence, savedAtMs: 0, deletedAtMs: 1_000)
        let message = await failure {
            _ = try CheckpointChoice.step(4).resolve(job: "j", serverSteps: [2, 6], record: [deleted], evals: [:])
        }
        #expect(message?.hasPrefix("the checkpoint of job j at step 4 was deleted ") == true, "\(message ?? "nil")")
        #expect(message?.hasSuffix("; saved steps: 2, 6") == true, "\(message ?? "nil")")
        #expect(try CheckpointChoice.latest.resolve(job: "j", serverSteps: [6, 2], record: [], evals: [:]) == 6)
    }

    @Test func aListingOfAFinetuneTheServerNoLongerHasSaysSoAndShowsTheRecord() async throws {
        try await ManageWorld.with { world in
            try await world.job("gone", finetuneID: "ft-never-created")
            try await world.job("fresh", finetuneID: nil)

            let gone = try await CheckpointManagement.list(job: "gone", databasePath: world.databasePath)
            #expect(gone.serverAsked)
            #expect(gone.checkpoints.isEmpty)
            #expect(gone.note == "the finetune ft-never-created no longer exists on \(world.simulator.baseURL)")

            // A job that never ran: the server is not asked.
            let fresh = try await CheckpointManagement.list(job: "fresh", databasePath: world.databasePath)
            #expect(!fresh.serverAsked && fresh.note == nil)

            let missing = await failure { _ = try await CheckpointManagement.list(job: "nobody", databasePath: world.databasePath) }
            #expect(missing == "no job named nobody in \(world.databasePath)")
        }
    }

    @Test func deletingACheckpointTheServerNeverSavedIsRefusedWithTheSavedSteps() async throws {
        try await ManageWorld.with { world in
            let finetuneID = try await world.withSimulatorClient { try await $0.createFinetune(name: "kitchen", rank: 8) }
            try await world.job("kitchen", finetuneID: finetuneID)
            let message = await failure {
                _ = try await CheckpointManagement.delete(job: "kitchen", step: 3, force: false, databasePath: world.databasePath)
            }
            #expect(message == "job kitchen has no checkpoint at step 3 on the server (never saved); saved steps: none")
        }
    }

    // MARK: finetunes

    @Test func aFinetuneNamedOnTheServerIsFoundAndDeletedOnlyWhenConfirmedAndTheRecordSaysSo() async throws {
        try await ManageWorld.with { world in
            let finetuneID = try await world.withSimulatorClient { try await $0.createFinetune(name: "pantry", rank: 8) }
            // A local job that used it, under another name: found through the finetune.
            let user = try await world.job("pantry-v1", finetuneID: finetuneID)
            let local = try LocalJobs.open(world.databasePath, writable: true)

            let (target, client) = try await FinetuneTarget.resolve("pantry", local: local, standalone: { world.access }) {
                try $0.makeClient()
            }
            await client.shutdown()
            #expect(target.finetuneID == finetuneID)
            #expect(target.finetune?.name == "pantry")
            #expect(target.jobs.map(\.name) == ["pantry-v1"])

            let described = try await FinetuneManagement.delete("pantry", confirmed: false, local: local, standalone: { world.access })
            #expect(!described.deleted)
            #expect(described.summary.hasPrefix("finetune \(finetuneID) (name pantry, rank 8) and its 0 checkpoints; used by job pantry-v1 ("))
            #expect(try await world.withSimulatorClient { try await FinetuneTarget.fetch(finetuneID, client: $0) } != nil)

            let deleted = try await FinetuneManagement.delete("pantry", confirmed: true, local: local, standalone: { world.access })
            #expect(deleted.deleted && deleted.summary == described.summary)
            #expect(try await world.withSimulatorClient { try await FinetuneTarget.fetch(finetuneID, client: $0) } == nil)
            let userID = try #require(user.id)
            let recorded = try #require(try await world.store.job(id: userID))
            #expect(recorded.finetuneDeletedAtMs != nil)
            #expect(try await world.store.eventCounts(jobID: userID)["finetune-deleted"] == 1)

            // Gone from the server, still known to the record: shown from the record.
            let shown = try await FinetuneManagement.show(finetuneID, local: local, standalone: { world.access })
            #expect(shown.target.finetune == nil && shown.checkpoints.isEmpty)
            #expect(shown.jobSummaries.count == 1 && shown.jobSummaries[0].contains("finetune recorded deleted"))
        }
    }

    // MARK: predict

    @Test func aPredictionWithTheBaseModelAsksItAndSaysWhichModelAnswered() async throws {
        try await ManageWorld.with { world in
            let png = "data:image/png;base64," + Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]).base64EncodedString()
            let prediction = try await world.withSimulatorClient { client in
                try await Predictor.predict(.caption, model: nil, imageURL: png, client: client)
            }
            #expect(prediction.model == "moondream3-preview" && prediction.skill == "caption")
            let caption = try #require(prediction.caption)
            #expect(prediction.text == "model moondream3-preview\n\(caption)")
        }
    }

    @Test func aPredictionWithTheLatestCheckpointOfAJobWithoutOneExplainsWhatIsAvailable() async throws {
        try await ManageWorld.with { world in
            let finetuneID = try await world.withSimulatorClient { try await $0.createFinetune(name: "seer", rank: 8) }
            let job = try await world.job("seer", finetuneID: finetuneID)
            let local = try LocalJobs.open(world.databasePath)
            #expect(try await world.withSimulatorClient { try await Predictor.model(job: job, checkpoint: nil, local: local, client: $0) } == nil)
            let message = await failure {
                _ = try await world.withSimulatorClient { try await Predictor.model(job: job, checkpoint: .latest, local: local, client: $0) }
            }
            #expect(message == "job seer: it has no saved checkpoint")
        }
    }

    // MARK: compare

    @Test func compareChoosesTheBaseModelAloneForAJobWithoutCheckpointsAndRefusesWithoutIt() async throws {
        try await ManageWorld.with { world in
            let finetuneID = try await world.withSimulatorClient { try await $0.createFinetune(name: "judge", rank: 8) }
            let job = try await world.job("judge", finetuneID: finetuneID)
            func request(base: Bool) -> Comparison.Request {
                Comparison.Request(configPath: "judge.json", steps: nil, base: base, set: nil, maxExamples: nil,
                                   databasePath: world.databasePath)
            }
            let models = try await world.withSimulatorClient { client in
                try await Comparison.chooseModels(jobName: "judge", baseURL: world.simulator.baseURL, job: job, store: world.store,
                                                  client: client, request: request(base: true))
            }
            #expect(models == [.base])
            let refused = await failure {
                _ = try await world.withSimulatorClient { client in
                    try await Comparison.chooseModels(jobName: "judge", baseURL: world.simulator.baseURL, job: job, store: world.store,
                                                      client: client, request: request(base: false))
                }
            }
            #expect(refused == "job judge has no saved checkpoint to compare; use --base to score the base model")
            let neverRan = await failure {
                _ = try await world.withSimulatorClient { client in
                    try await Comparison.chooseModels(jobName: "new", baseURL: world.simulator.baseURL, job: nil, store: world.store,
                                                      client: client, request: request(base: false))
                }
            }
            #expect(neverRan == "job new has not run yet (no finetune in \(world.databasePath)); use --base to score the base model alone")
        }
    }
}
