import Foundation
import MoondreamAPI
@testable import MoontuneLoop
import MoontuneStore
import Testing

/// Every exactly-once path of the loop, run by the real `JobRunner` against the in-memory tuning
/// service and store, on virtual time: no process, no socket, no sleep. Each test ends by
/// checking that the server's step is the number of steps recorded applied, and that no
/// train_step was applied twice. The end-to-end kill tests remain the proof on the real binary.
@Suite struct ExactlyOnceTests {
    // MARK: - The plain path

    @Test func aJobCompletesWithEveryStepAppliedOnceAndItsCheckpoints() async throws {
        let job = try LoopHarness(steps: 4)
        defer { job.remove() }
        let outcome = await job.run()
        #expect(outcome == RunOutcome(state: .completed, step: 4, error: nil))
        #expect(await job.isExact())
        #expect(job.service.trainCalls == 4)
        #expect(await job.store.liveCheckpoints == [2: .cadence, 4: .final])
        #expect(job.clock.sleeps.allSatisfy { $0 == 5_000 }, "only the last metrics' wait: \(job.clock.sleeps)")
    }

    @Test func theHeartbeatBeatsOnTheInjectedClock() async throws {
        let job = try LoopHarness(steps: 2)
        defer { job.remove() }
        let start = job.clock.nowMs()
        #expect(await job.run(heartbeat: .seconds(1)).state == .completed)
        #expect(await job.isExact())
        let beat = try #require(await job.store.job.heartbeatMs)
        #expect(beat >= start + 2_000, "every second heartbeat tick writes it, in virtual time")
    }

    // MARK: - Ambiguous answers

    @Test func anAnswerLostAfterTheStepLandedIsRecordedAppliedOnce() async throws {
        let job = try LoopHarness(steps: 4)
        defer { job.remove() }
        job.service.script(.apply, .applyAndLoseAnswer(mayStillBeRunning: true))
        let outcome = await job.run()
        #expect(outcome.state == .completed)
        #expect(await job.isExact())
        #expect(job.service.trainCalls == 4, "step 2 is never sent again")
        #expect(await job.store.messages("reconciled").contains(
            "the server had applied step 2 although its answer was lost; recorded as applied"))
        #expect(await job.store.eventKinds.contains("ambiguous"))
        #expect(await job.store.steps[2]?.reconciled == true)
    }

    @Test func anAnswerLostWithoutLandingIsDroppedOnlyOnceTheWindowIsOverAndRunAgain() async throws {
        let job = try LoopHarness(steps: 3, inDoubtWaitSeconds: 30)
        defer { job.remove() }
        job.service.script(.loseWithoutApplying(mayStillBeRunning: true))
        let outcome = await job.run()
        #expect(outcome.state == .completed)
        #expect(await job.isExact())
        #expect(job.service.trainCalls == 4, "step 1 runs again once")
        let watched = job.clock.sleeps.filter { $0 != 5_000 }
        // The watch reads until the window is over, not before; then, since step 1 was concluded
        // "never landed" by waiting, the final check waits one train_step deadline (900 s) after
        // the conclusion before the job completes (issue 20).
        #expect(watched.dropLast().reduce(0, +) == 30_000, "the watch reads until the window is over, not before: \(watched)")
        #expect(watched.last == 900_000, "the final check: \(watched)")
        #expect(watched.count > 3)
        #expect(await job.store.messages("reconciled").contains {
            $0.hasPrefix("step 1 did not land on the server within 30 s of being sent (its step stays 0)")
        })
    }

    @Test func aServerThatAnsweredForItselfIsAskedOnceWithoutWaiting() async throws {
        let job = try LoopHarness(steps: 2)
        defer { job.remove() }
        job.service.script(.loseWithoutApplying(mayStillBeRunning: false))
        let outcome = await job.run()
        #expect(outcome.state == .completed)
        #expect(await job.isExact())
        #expect(job.clock.sleeps.filter { $0 != 5_000 }.isEmpty)
        #expect(await job.store.messages("ambiguous").first?.hasPrefix("step 1 in doubt: asking the server whether it was applied") == true)
    }

    @Test func aStepThatLandsWithinTheWindowIsRecordedAppliedWhenItLands() async throws {
        let job = try LoopHarness(steps: 3, inDoubtWaitSeconds: 30)
        defer { job.remove() }
        job.service.script(.apply, .landLate(afterMs: 3_000))
        let outcome = await job.run()
        #expect(outcome.state == .completed)
        #expect(await job.isExact())
        #expect(job.service.trainCalls == 3)
        let watched = job.clock.sleeps.filter { $0 != 5_000 }
        #expect(watched.reduce(0, +) >= 3_000 && watched.reduce(0, +) < 10_000, "\(watched)")
        #expect(await job.store.steps[2]?.reconciled == true)
    }

    @Test func aStepThatLandsAfterTheWindowIsCaughtByTheNextAnswerAndTheJobStops() async throws {
        let job = try LoopHarness(steps: 4, inDoubtWaitSeconds: 2)
        defer { job.remove() }
        job.service.script(.landWithNextTrainStep)
        let outcome = await job.run()
        #expect(outcome.state == .failed)
        #expect(outcome.error?.contains("a step was applied twice, or another client trains this finetune") == true)
        // The record keeps what it knows: step 1 as the resent step's answer says, never more.
        #expect(await job.store.appliedSteps == [1])
        #expect(job.service.step == 2)
    }

    @Test func aLateLandingAgainstTheReferenceIsCaughtByTheNextCheckpointSave() async throws {
        let job = try LoopHarness(steps: 4, inDoubtWaitSeconds: 2, answersStep: false)
        defer { job.remove() }
        job.service.script(.landWithNextTrainStep)
        let outcome = await job.run()
        #expect(outcome.state == .failed)
        #expect(outcome.error?.hasPrefix("checkpoints/save says the server's finetune is at step 3 where moontune expected 2") == true)
        #expect(await job.store.appliedSteps == [1, 2])
    }

    // MARK: - A crash between intent and answer

    @Test func aCrashWithTheStepInFlightThatLandedIsRecordedByTheNextRun() async throws {
        let job = try LoopHarness(steps: 3)
        defer { job.remove() }
        job.service.script(.apply, .crash(lands: true))
        let first = await job.run()
        #expect(first.state == .failed)
        #expect(await job.store.appliedSteps == [1])
        #expect(await job.store.steps[2]?.state == .intent, "the crash left step 2's intent")

        let second = await job.run()
        #expect(second.state == .completed)
        #expect(await job.isExact())
        #expect(job.service.trainCalls == 3, "step 2 is never sent twice")
        #expect(await job.store.messages("in_doubt") == ["step 2 was sent by the last run and is in doubt: waiting up to 30 s for the server to finish it"])
        #expect(job.clock.sleeps.filter { $0 != 5_000 }.isEmpty, "the first read sees it landed")
    }

    @Test func aCrashWithTheStepInFlightThatNeverLandedIsWatchedOutAndRunAgain() async throws {
        let job = try LoopHarness(steps: 3)
        defer { job.remove() }
        job.service.script(.apply, .crash(lands: false))
        #expect(await job.run().state == .failed)
        let second = await job.run()
        #expect(second.state == .completed)
        #expect(await job.isExact())
        #expect(job.service.trainCalls == 4)
        // The window out (30 s), then the final check one deadline after the conclusion (issue 20).
        #expect(job.clock.sleeps.filter { $0 != 5_000 }.reduce(0, +) == 30_000 + 900_000)
    }

    @Test func aRunStartedAfterTheWindowReadsTheServerOnceAndDoesNotWait() async throws {
        let job = try LoopHarness(steps: 2)
        defer { job.remove() }
        job.service.script(.crash(lands: false))
        #expect(await job.run().state == .failed)
        job.clock.advance(byMs: 60_000)
        #expect(await job.run().state == .completed)
        #expect(await job.isExact())
        #expect(await job.store.messages("in_doubt").isEmpty)
        // No watch; only the final check for the step concluded "never landed" (issue 20), one
        // train_step deadline after the conclusion.
        #expect(job.clock.sleeps.filter { $0 != 5_000 } == [900_000])
    }

    @Test func aCrashBetweenTheAnswerAndItsRecordIsReconciledAppliedByTheNextRun() async throws {
        let job = try LoopHarness(steps: 3)
        defer { job.remove() }
        // The server applied step 1 and answered; the process died before the record was written.
        await job.store.crash(onWrite: { $0 == "markStepApplied" })
        #expect(await job.run().state == .failed)
        #expect(await job.store.appliedSteps.isEmpty)
        #expect(job.service.step == 1)
        #expect(await job.run().state == .completed)
        #expect(await job.isExact())
        #expect(job.service.trainCalls == 3, "step 1 is never sent twice")
        #expect(await job.store.steps[1]?.reconciled == true)
    }

    @Test func aCrashOnTheIntentWriteSendsNothingAndTheNextRunStartsThere() async throws {
        let job = try LoopHarness(steps: 2)
        defer { job.remove() }
        await job.store.crash(onWrite: { $0 == "recordStepIntent" })
        #expect(await job.run().state == .failed)
        #expect(job.service.trainCalls == 0)
        #expect(await job.run().state == .completed)
        #expect(await job.isExact())
    }

    // MARK: - The server ahead or behind

    @Test func aFinetuneAheadOfAnEmptyRecordIsRefusedAtStartUp() async throws {
        let job = try LoopHarness(steps: 3)
        defer { job.remove() }
        job.service.setStep(3)
        let outcome = await job.run()
        #expect(outcome.state == .failed)
        #expect(outcome.error?.hasPrefix("a finetune named job already exists on the server with 3 steps applied") == true)
        #expect(await job.store.appliedSteps.isEmpty)
        #expect(job.service.trainCalls == 0)
    }

    @Test func aServerBehindAtStartUpStopsUnlessAskedToRewindThenReplaysExactly() async throws {
        let job = try LoopHarness(steps: 5)
        defer { job.remove() }
        job.service.script(.apply, .apply, .apply, .crash(lands: false))
        #expect(await job.run().state == .failed)
        #expect(await job.store.appliedSteps == [1, 2, 3])
        job.service.setStep(2)  // restored from checkpoint 2

        let refused = await job.run()
        #expect(refused.state == .failed)
        #expect(refused.error?.hasPrefix("the server's finetune is at step 2 but the record says 3 steps were applied") == true)
        #expect(await job.store.appliedSteps == [1, 2, 3], "nothing was changed")

        let rewound = await job.run(rewindToServer: true)
        #expect(rewound.state == .completed)
        #expect(await job.isExact(restored: true))
        #expect(await job.store.messages("reconciled").contains { $0.hasPrefix("rewound from step 3 to the server's step 2") })
    }

    @Test func anAnswerAheadOfTheStepSentStopsTheJobAtOnce() async throws {
        let job = try LoopHarness(steps: 4)
        defer { job.remove() }
        job.service.script(.apply, .applyThenAnotherClient)
        let outcome = await job.run()
        #expect(outcome.state == .failed)
        #expect(outcome.error?.hasPrefix("train_step's answer says the server's finetune is at step 3 where moontune expected 2") == true)
        #expect(await job.store.appliedSteps == [1, 2])
        #expect(job.service.trainCalls == 2)
    }

    @Test func anAnswerBehindTheStepSentStopsTheJobAndTheNextRunRewindsWhenAsked() async throws {
        let job = try LoopHarness(steps: 4)
        defer { job.remove() }
        job.service.script(.apply, .apply, .applyThenRestore(to: 1))
        let outcome = await job.run()
        #expect(outcome.state == .failed)
        #expect(outcome.error?.contains("(was the finetune restored from an older checkpoint?)") == true)
        let rewound = await job.run(rewindToServer: true)
        #expect(rewound.state == .completed)
        #expect(await job.isExact(restored: true))
    }

    @Test func aCheckpointSaveAtAnotherStepStopsTheJob() async throws {
        let job = try LoopHarness(steps: 4, answersStep: false)
        defer { job.remove() }
        job.service.script(.apply, .applyThenAnotherClient)
        let outcome = await job.run()
        #expect(outcome.state == .failed)
        #expect(outcome.error?.hasPrefix("checkpoints/save says the server's finetune is at step 3 where moontune expected 2") == true)
        #expect(await job.store.liveCheckpoints.isEmpty)
    }

    // MARK: - Staleness on a rewind

    @Test func rolloutsGatheredBeforeAMidRunRewindAreNeverTrainedOn() async throws {
        let job = try LoopHarness(steps: 6, train: ["max_staleness": 1], checkpoint: ["every_steps": 10])
        defer { job.remove() }
        // Step 3's answer is lost and meanwhile the finetune goes back to step 1: the run rewinds
        // (as asked) while steps 4 and 5 are already gathering from the old steps 2 and 3.
        job.service.script(.apply, .apply, .restoreAndLoseAnswer(to: 1))
        let outcome = await job.run(rewindToServer: true)
        #expect(outcome.state == .completed)
        #expect(await job.isExact(restored: true))
        #expect(job.service.staleTrains == 0, "no train_step carried rollouts of a policy the server no longer has")
    }

    // MARK: - Declines and refusals

    @Test func aDeclinedStepRunsAgainWithFreshRollouts() async throws {
        let job = try LoopHarness(steps: 2)
        defer { job.remove() }
        job.service.script(.decline)
        let outcome = await job.run()
        #expect(outcome.state == .completed)
        #expect(await job.isExact())
        #expect(job.service.trainCalls == 3)
        #expect(await job.store.messages("declined") == [
            "the server declined step 1 (applied: false, its step stays 0); it runs again with fresh rollouts (1 of 3)",
        ])
    }

    @Test func aStepDeclinedThreeTimesInARowStopsTheJobWithNothingApplied() async throws {
        let job = try LoopHarness(steps: 2)
        defer { job.remove() }
        job.service.script(.decline, .decline, .decline)
        let outcome = await job.run()
        #expect(outcome.state == .failed)
        #expect(outcome.error?.contains("declined 3 times in a row, so moontune stops here") == true)
        #expect(await job.store.appliedSteps.isEmpty)
        #expect(try await job.store.pendingIntent(jobID: 1) == nil)
        #expect(job.service.step == 0)
    }

    @Test func aServerThatRefusesSFTStopsBeforeAnyStepWithTheSetting() async throws {
        let job = try LoopHarness(steps: 3, train: ["sft_steps": 1])
        defer { job.remove() }
        job.service.script(.refuse(.badRequest, status: 400))
        let outcome = await job.run()
        #expect(outcome.state == .failed)
        #expect(outcome.error?.contains("The server refused the SFT groups of step 1 (train.sft_steps = 1): it does not take SFT steps") == true)
        #expect(await job.store.appliedSteps.isEmpty)
        #expect(try await job.store.pendingIntent(jobID: 1) == nil)
    }

    @Test func aRefusedOrUndeliveredStepDropsItsIntentAndTheNextRunCompletes() async throws {
        let job = try LoopHarness(steps: 3)
        defer { job.remove() }
        job.service.script(.apply, .refuse(.server, status: 500))
        #expect(await job.run().state == .failed)
        #expect(try await job.store.pendingIntent(jobID: 1) == nil)
        job.service.script(.neverDelivered)
        #expect(await job.run().state == .failed)
        #expect(try await job.store.pendingIntent(jobID: 1) == nil)
        #expect(await job.run().state == .completed)
        #expect(await job.isExact())
    }

    // MARK: - Checkpoints: deletions cut short, kinds after a reconcile, retention

    @Test func aDeletionCutShortAfterTheServerDeletedIsFinishedByTheNextRun() async throws {
        let job = try LoopHarness(steps: 4, checkpoint: ["every_steps": 1, "keep_last": 1])
        defer { job.remove() }
        job.service.crashAfterNextDelete()
        #expect(await job.run().state == .failed)
        let deleting = await job.store.checkpointRecords.values.filter { $0.deletingAtMs != nil && $0.deletedAtMs == nil }.map(\.step)
        #expect(deleting == [1])
        #expect(await job.run().state == .completed)
        #expect(await job.isExact())
        #expect(await job.store.messages("reconciled").contains("checkpoint 1 is no longer on the server; recorded as deleted"))
        #expect(await Set(job.store.liveCheckpoints.keys) == Set(job.service.checkpointSteps))
    }

    @Test func aDeletionCutShortBeforeItWasSentIsSentByTheNextRun() async throws {
        let job = try LoopHarness(steps: 4, checkpoint: ["every_steps": 1, "keep_last": 1])
        defer { job.remove() }
        job.service.crashBeforeNextDelete()
        #expect(await job.run().state == .failed)
        #expect(job.service.checkpointSteps.contains(1))
        #expect(await job.run().state == .completed)
        #expect(await job.isExact())
        #expect(!job.service.checkpointSteps.contains(1))
        #expect(await Set(job.store.liveCheckpoints.keys) == Set(job.service.checkpointSteps))
        #expect(await job.store.liveCheckpoints == [3: .cadence, 4: .final])
    }

    @Test func aReconcileSaveTakesTheCadenceKindOnACadenceStepAndGoesOnceSuperseded() async throws {
        let job = try LoopHarness(steps: 4, checkpoint: ["every_steps": 2])
        defer { job.remove() }
        // Step 1's answer is lost (its save is a reconcile one), and step 2's (a cadence step).
        job.service.script(.applyAndLoseAnswer(mayStillBeRunning: false), .applyAndLoseAnswer(mayStillBeRunning: false))
        let outcome = await job.run()
        #expect(outcome.state == .completed)
        #expect(await job.isExact())
        #expect(await job.store.liveCheckpoints == [2: .cadence, 4: .final])
        #expect(job.service.deletes == [1], "the reconcile save at step 1 went once a newer checkpoint existed")
    }

    @Test func retentionKeepsTheLastCadenceCheckpointsAndTheFinalOne() async throws {
        let job = try LoopHarness(steps: 6, checkpoint: ["every_steps": 1, "keep_last": 2])
        defer { job.remove() }
        #expect(await job.run().state == .completed)
        #expect(await job.isExact())
        #expect(await job.store.liveCheckpoints == [4: .cadence, 5: .cadence, 6: .final])
        #expect(job.service.checkpointSteps == [4, 5, 6])
    }

    // MARK: - Eval

    @Test func evalHoldsAtMostConcurrencyRequestsInFlight() async throws {
        let job = try LoopHarness(steps: 2, train: ["concurrency": 3], eval: 40, evalEvery: 2)
        defer { job.remove() }
        #expect(await job.run().state == .completed)
        #expect(job.service.evalCalls == 80, "a baseline eval and one at the end")
        #expect(job.service.evalPeak <= 3)
        #expect(job.service.evalPeak >= 2, "the window is kept full")
        #expect(await job.store.evalRecords.keys.sorted() == [0, 2])
    }
}
