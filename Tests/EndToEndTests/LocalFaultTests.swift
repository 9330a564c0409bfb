import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// Faults on our own machine: the disk, the database file, other processes holding it.
    @Suite struct LocalFaultTests {
        @Test func aFullDiskStopsTheJobCleanlyAndItResumesOnceThereIsRoom() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "full", steps: 30, groups: 2, rollouts: 2, concurrency: 2, every: 5)
                // A file-size limit makes every write past 160 KB fail as a full disk would (EFBIG/ENOSPC).
                let limited = try await MoontuneProcess.run(
                    ["--fsize=163840", MoontuneProcess.binary.path, "run", "config.json", "--db", workspace.database.path, "--quiet"],
                    in: workspace.directory, executable: URL(fileURLWithPath: "/usr/bin/prlimit"))
                #expect(limited.status == 1, "stdout: \(limited.stdout)\nstderr: \(limited.stderr)")
                #expect(!limited.killedBySignal)
                let message = limited.stdout + limited.stderr
                #expect(message.contains("disk is full") || message.contains("I/O error"), "\(message)")
                let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                #expect(try await store.integrityCheck() == "ok")
                let stepsBefore = try await workspace.steps("full")
                #expect(stepsBefore.count < 30, "the limit must stop the job before the end, or the test proves nothing")
                // Every recorded step is whole: applied with its figures, or a single pending intent.
                #expect(stepsBefore.filter { $0.state == .applied }.allSatisfy { $0.rewardMean != nil })
                #expect(stepsBefore.filter { $0.state == .intent }.count <= 1)

                let resumed = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(resumed.status == 0, "\(resumed.stderr)")
                #expect(await workspace.finetune("full")?.trainStepsApplied == 30)
                #expect(await workspace.simulator.stats().doubleApplications == 0)
            }
        }

        @Test(.enabled(if: Immutable.supported, "needs root and chattr"))
        func aDatabaseMadeReadOnlyMidRunStopsTheJobAndItResumesOnceWritable() async throws {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 30
            try await withWorkspace(faults: faults) { workspace in
                try workspace.writeConfig(name: "frozen", steps: 30, groups: 2, rollouts: 2, concurrency: 2, every: 5)
                let running = try workspace.start(["run", "config.json", "--quiet"])
                try await waitForStep(workspace, "frozen", atLeast: 3)
                let files = [workspace.database.path, workspace.database.path + "-wal"]
                for file in files { try await Immutable.change(file, true, in: workspace.directory) }
                let result = await running.wait()
                for file in files { try await Immutable.change(file, false, in: workspace.directory) }
                #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
                #expect((result.stdout + result.stderr).contains("state database"), "\(result.stdout)\(result.stderr)")
                #expect(try await ProgressStore(path: workspace.database.path, readOnly: true).integrityCheck() == "ok")

                let resumed = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(resumed.status == 0, "\(resumed.stderr)")
                #expect(await workspace.finetune("frozen")?.trainStepsApplied == 30)
                #expect(await workspace.simulator.stats().doubleApplications == 0)
            }
        }

        @Test func aLockedDatabaseIsWaitedOutAndALongReaderIsNoObstacle() async throws {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 20
            try await withWorkspace(faults: faults) { workspace in
                try workspace.writeConfig(name: "locked", steps: 30, groups: 2, rollouts: 2, concurrency: 2, every: 10)
                let running = try workspace.start(["run", "config.json", "--quiet"])
                try await waitForStep(workspace, "locked", atLeast: 2)
                // A reader holding a transaction for the whole run, and a writer holding the lock for 3 s.
                let script = """
                    import sqlite3, sys, time
                    reader = sqlite3.connect(sys.argv[1], isolation_level=None)
                    reader.execute("BEGIN")
                    reader.execute("SELECT count(*) FROM steps").fetchall()
                    writer = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
                    writer.execute("BEGIN IMMEDIATE")
                    time.sleep(3)
                    writer.execute("COMMIT")
                    time.sleep(2)
                    reader.execute("COMMIT")
                    """
                let holder = try MoontuneProcess.start(["-c", script, workspace.database.path], in: workspace.directory,
                                                       executable: URL(fileURLWithPath: "/usr/bin/env"), prefix: ["python3"])
                let held = await holder.wait()
                #expect(held.status == 0, "\(held.stderr)")
                let result = await running.wait()
                #expect(result.status == 0, "\(result.stderr)")
                #expect(await workspace.finetune("locked")?.trainStepsApplied == 30)
                let steps = try await workspace.steps("locked")
                #expect(steps.map(\.k) == Array(1...30))
                #expect(steps.contains { ($0.wallMs ?? 0) > 2000 }, "no step waited for the lock: the test proves nothing")
            }
        }

        @Test func aCorruptOrForeignDatabaseIsRefusedAndNeverOverwritten() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "careful", steps: 2, groups: 2, rollouts: 2, concurrency: 2, every: 2)
                let garbage = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
                try garbage.write(to: workspace.database)
                let corrupt = try await workspace.run(["run", "config.json"])
                #expect(corrupt.status != 0)
                #expect(corrupt.stderr.contains("not a SQLite database"), "\(corrupt.stderr)")
                #expect(try Data(contentsOf: workspace.database) == garbage)
                #expect(await workspace.simulator.stats().requestsTotal == 0)

                let status = try await workspace.run(["status"])
                #expect(status.status != 0)
                #expect(try Data(contentsOf: workspace.database) == garbage)

                try FileManager.default.removeItem(at: workspace.database)
                let make = try MoontuneProcess.start(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table notes(x)'); c.commit()",
                                                      workspace.database.path], in: workspace.directory,
                                                     executable: URL(fileURLWithPath: "/usr/bin/env"), prefix: ["python3"])
                #expect(await make.wait().status == 0)
                let foreign = try Data(contentsOf: workspace.database)
                let refused = try await workspace.run(["run", "config.json"])
                #expect(refused.status != 0)
                #expect(refused.stderr.contains("not a moontune one"), "\(refused.stderr)")
                #expect(try Data(contentsOf: workspace.database) == foreign)
            }
        }

        /// Under `make soak` only (MOONTUNE_SOAK=1): about a minute and a half of kills.
        @Test(.enabled(if: EndToEnd.soak, "make soak runs it"))
        func killedFiftyTimesIncludingDuringCheckpointsAndEvalTheJobCompletesExactly() async throws {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 10
            faults.trainLatencyMs = 20
            faults.otherLatencyMs = 40
            try await withWorkspace(seed: 21, faults: faults) { workspace in
                // Enough steps that fifty kills land before the end: a resumed run gets through a few
                // steps before its kill, more since the next step's requests are built ahead.
                try workspace.writeConfig(name: "fifty", steps: 250, groups: 2, rollouts: 2, concurrency: 2, every: 5, eval: true)
                let seed = KillSeed.resolve(50, test: "killedFiftyTimes")
                let replay = KillSeed.note(seed)
                var random = SeededGenerator(seed: seed)
                var kills = 0
                var integrity: [String] = []
                var attempts = 0
                while kills < 50 && attempts < 120 {
                    attempts += 1
                    let running = try workspace.start(["run", "config.json", "--quiet"])
                    // From start-up (validation, reconciliation) to well into the run.
                    try await Task.sleep(for: .milliseconds(Int.random(in: 100...600, using: &random)))
                    running.signal(SIGKILL)
                    let result = await running.wait()
                    if !result.killedBySignal { break }
                    kills += 1
                    if FileManager.default.fileExists(atPath: workspace.database.path) {
                        integrity.append(try await ProgressStore(path: workspace.database.path, readOnly: true).integrityCheck())
                    }
                }
                #expect(kills >= 50, "\(replay) only \(kills) kills landed before the job finished")
                #expect(integrity.allSatisfy { $0 == "ok" }, "\(replay) \(integrity)")
                let final = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(final.status == 0, "\(replay) \(final.stderr)")
                let finetune = try #require(await workspace.finetune("fifty"))
                // Enough steps that fifty kills land before the end: a resumed run gets through a few
                // steps before its kill, more since the next step's requests are built ahead.
                #expect(finetune.trainStepsApplied == 250, "\(replay)")
                #expect(finetune.step == 250, "\(replay)")
                #expect(await workspace.simulator.stats().doubleApplications == 0)
                #expect(finetune.checkpoints == Array(stride(from: 5, through: 250, by: 5)))
                let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                let job = try #require(try await store.job(named: "fifty"))
                let evals = try await store.evals(jobID: try #require(job.id)).map(\.step)
                #expect(evals == [0] + Array(stride(from: 5, through: 250, by: 5)))
                let events = try await store.eventCounts(jobID: try #require(job.id))
                #expect((events["crashed-and-resumed"] ?? 0) >= 25, "most kills must land in a running job: \(events)")
            }
        }
    }
}

/// `chattr +i`, which even root cannot write through: a read-only database for a test.
enum Immutable {
    static let supported: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/chattr") else { return false }
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-chattr-\(getpid())")
        FileManager.default.createFile(atPath: probe.path, contents: Data("x".utf8))
        defer { set(probe.path, false); try? FileManager.default.removeItem(at: probe) }
        guard set(probe.path, true) else { return false }
        return (try? "y".write(to: probe, atomically: false, encoding: .utf8)) == nil
    }()

    static func change(_ path: String, _ on: Bool, in directory: URL) async throws {
        let result = try await MoontuneProcess.run([on ? "+i" : "-i", path], in: directory, executable: URL(fileURLWithPath: "/usr/bin/chattr"))
        #expect(result.status == 0, "chattr: \(result.stderr)")
    }

    /// Synchronous, for the probe only (no async context there).
    @discardableResult
    static func set(_ path: String, _ on: Bool) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
        process.arguments = [on ? "+i" : "-i", path]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
