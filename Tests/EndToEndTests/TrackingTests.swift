import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// Issue 23: the job's charts in TensorBoard (read with TensorBoard's own loader) and in a real
    /// MLflow server, every point exactly once through kills, and a tracker outage costing nothing
    /// but a delay.
    @Suite(.serialized) struct TrackingTests {
        static let token = "mlflow-token-\(UUID().uuidString)"

        /// TensorBoard's own reader over the job's event folder: every scalar (tag, step, value),
        /// image (tag, step, width, height) and text (tag, step), plus what TensorBoard's
        /// accumulator recognizes.
        static let reader = """
            import glob, json, os, sys
            from tensorboard.backend.event_processing import event_file_loader
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            folder = sys.argv[1]
            out = {"scalars": [], "images": [], "texts": [], "versions": 0}
            for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
                for event in event_file_loader.LegacyEventFileLoader(path).Load():
                    if event.HasField("file_version"):
                        out["versions"] += 1
                        continue
                    for v in event.summary.value:
                        kind = v.WhichOneof("value")
                        if kind == "simple_value":
                            out["scalars"].append([v.tag, event.step, v.simple_value])
                        elif kind == "image":
                            out["images"].append([v.tag, event.step, v.image.width, v.image.height])
                        elif kind == "tensor" and v.metadata.plugin_data.plugin_name == "text":
                            out["texts"].append([v.tag, event.step, v.tensor.string_val[0].decode()])
            acc = EventAccumulator(folder, size_guidance={"scalars": 0, "images": 0, "tensors": 0})
            acc.Reload()
            tags = acc.Tags()
            try:
                text = sorted(acc.PluginTagToContent("text").keys())
            except KeyError:
                text = []
            out["accumulator"] = {"scalars": sorted(tags.get("scalars", [])), "images": sorted(tags.get("images", [])), "text": text}
            print(json.dumps(out))
            """

        struct Board {
            var scalars: [(tag: String, step: Int, value: Double)]
            var images: [(tag: String, step: Int)]
            var texts: [(tag: String, step: Int, text: String)]
            var accumulatorScalars: Set<String>
            var accumulatorImages: Set<String>
            var accumulatorText: Set<String>
        }

        static func readBoard(_ folder: URL, in workspace: Workspace) async throws -> Board {
            let result = try await ServeHTTPTests.tool("/usr/bin/env", ["python3", "-c", reader, folder.path], in: workspace.directory,
                                                       timeout: .seconds(120))
            #expect(result.status == 0, "\(result.stderr.suffix(2000))")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            let accumulator = json["accumulator"] as? [String: [String]] ?? [:]
            return Board(
                scalars: ((json["scalars"] as? [[Any]]) ?? []).map { ($0[0] as! String, ($0[1] as! NSNumber).intValue, ($0[2] as! NSNumber).doubleValue) },
                images: ((json["images"] as? [[Any]]) ?? []).map { ($0[0] as! String, ($0[1] as! NSNumber).intValue) },
                texts: ((json["texts"] as? [[Any]]) ?? []).map { ($0[0] as! String, ($0[1] as! NSNumber).intValue, $0[2] as! String) },
                accumulatorScalars: Set(accumulator["scalars"] ?? []), accumulatorImages: Set(accumulator["images"] ?? []),
                accumulatorText: Set(accumulator["text"] ?? []))
        }

        /// The record: applied steps and evals of the job.
        static func record(_ workspace: Workspace, job name: String) async throws -> (steps: [StepRecord], evals: [EvalRecord],
                                                                                  checkpoints: [CheckpointRecord], job: JobRecord) {
            let store = try ProgressStore(path: workspace.database.path, readOnly: true)
            let job = try #require(try await store.job(named: name))
            let id = try #require(job.id)
            return (try await store.steps(jobID: id), try await store.evals(jobID: id), try await store.checkpoints(jobID: id), job)
        }

        func start(_ workspace: Workspace, _ arguments: [String]) throws -> MoontuneProcess.Running {
            try MoontuneProcess.start(arguments + ["--db", workspace.database.path], in: workspace.directory,
                                      environment: ["MLFLOW_TRACKING_TOKEN": Self.token])
        }

        /// Checks both trackers against the record: each (name, step) once, none missing.
        func checkExactlyOnce(_ workspace: Workspace, job name: String, server: MLflowServer, experiment: String,
                              steps expected: Int) async throws {
            let (steps, evals, checkpoints, job) = try await Self.record(workspace, job: name)
            #expect(steps.map(\.k) == Array(1...expected))
            #expect(!evals.isEmpty)

            // TensorBoard.
            let board = try await Self.readBoard(workspace.directory.appendingPathComponent("runs/\(name)"), in: workspace)
            var seen: [String: Int] = [:]
            for point in board.scalars { seen["\(point.tag)@\(point.step)", default: 0] += 1 }
            let repeated = seen.filter { $0.value > 1 }.keys.sorted()
            #expect(repeated.isEmpty, "TensorBoard holds points more than once: \(repeated.prefix(20))")
            let byTag = Dictionary(grouping: board.scalars, by: \.tag)
            for tag in ["train/lr", "budget/rollouts"] {
                #expect(byTag[tag]?.map(\.step).sorted() == steps.map(\.k), "\(tag)")
            }
            // A step reconciled by a later run has no figures of its own: no point, rather than a 0.
            let timed = steps.filter { $0.wallMs != nil }.map(\.k)
            #expect(byTag["train/step_seconds"]?.map(\.step).sorted() == timed)
            let rewarded = steps.filter { $0.rewardMean != nil }
            #expect(byTag["train/reward_mean"]?.map(\.step).sorted() == rewarded.map(\.k))
            #expect(byTag["train/reward_std"]?.map(\.step).sorted() == rewarded.map(\.k))
            for step in rewarded {
                let value = byTag["train/reward_mean"]?.first { $0.step == step.k }?.value
                #expect(value.map { abs($0 - step.rewardMean!) < 1e-5 } == true, "train/reward_mean at \(step.k)")
            }
            for (answer, tag) in [(\StepRecord.kl, "train/kl"), (\StepRecord.gradNorm, "train/grad_norm")] {
                let withIt = steps.filter { $0[keyPath: answer] != nil }.map(\.k)
                #expect((byTag[tag]?.map(\.step).sorted() ?? []) == withIt, "\(tag)")
            }
            #expect(byTag["eval/reward_mean"]?.map(\.step).sorted() == evals.map(\.step))
            #expect(board.scalars.contains { $0.tag.hasPrefix("eval/") && $0.tag.split(separator: "/").count == 3 },
                    "per-skill eval metrics")
            let imageSteps = Set(board.images.filter { $0.tag.hasPrefix("eval/examples") }.map(\.step))
            #expect(imageSteps == Set(evals.map(\.step)), "eval pictures at every eval")
            var imageSeen: [String: Int] = [:]
            for image in board.images { imageSeen["\(image.tag)@\(image.step)", default: 0] += 1 }
            #expect(imageSeen.values.allSatisfy { $0 == 1 })
            #expect(board.texts.filter { $0.tag == "config" }.count == 1)
            #expect(board.texts.first?.text.contains("\"groups_per_step\"") == true)
            #expect(board.accumulatorScalars.isSuperset(of: ["train/reward_mean", "train/lr", "eval/reward_mean"]))
            #expect(board.accumulatorImages.contains { $0.hasPrefix("eval/examples") })
            #expect(board.accumulatorText.contains("config"))

            // MLflow.
            let runs = try await server.runs(experiment: experiment)
            #expect(runs.count == 1, "one run per job, got \(runs.count)")
            let run = try #require(runs.first)
            let info = try #require(run["info"] as? [String: Any])
            let runID = try #require(info["run_id"] as? String)
            #expect(info["status"] as? String == "FINISHED")
            let data = run["data"] as? [String: Any] ?? [:]
            let params = Dictionary(((data["params"] as? [[String: String]]) ?? []).map { ($0["key"] ?? "", $0["value"] ?? "") },
                                    uniquingKeysWith: { a, _ in a })
            let tags = Dictionary(((data["tags"] as? [[String: String]]) ?? []).map { ($0["key"] ?? "", $0["value"] ?? "") },
                                  uniquingKeysWith: { a, _ in a })
            #expect(params["train.lr"] == "0.002")
            #expect(params["rank"] == "8")
            #expect(params["train.groups_per_step"] != nil)
            #expect(tags["mlflow.runName"] == name)
            #expect(tags["moontune.finetune_id"] == job.finetuneID)
            for checkpoint in checkpoints {
                #expect(tags["moontune.checkpoint.\(checkpoint.step)"] == "moondream3-preview/\(job.finetuneID ?? "")@\(checkpoint.stepOnServer)")
            }
            for key in ["train/lr", "budget/rollouts"] {
                #expect(try await server.steps(runID: runID, key: key).sorted() == steps.map(\.k), "MLflow \(key)")
            }
            #expect(try await server.steps(runID: runID, key: "train/step_seconds").sorted() == timed)
            #expect(try await server.steps(runID: runID, key: "train/reward_mean").sorted() == rewarded.map(\.k))
            #expect(try await server.steps(runID: runID, key: "eval/reward_mean").sorted() == evals.map(\.step))
            let experimentID = try #require(info["experiment_id"] as? String)
            let (status, report) = try await server.raw("GET", "/api/2.0/mlflow-artifacts/artifacts/\(experimentID)/\(runID)/artifacts/report.html")
            #expect(status == 200)
            let html = String(decoding: report, as: UTF8.self)
            #expect(html.contains("<html") && html.contains(name))

            // The credential is nowhere: the database, the event files, the report.
            for file in [workspace.database.path, workspace.database.path + "-wal"] {
                if let bytes = FileManager.default.contents(atPath: file) {
                    #expect(!String(decoding: bytes, as: UTF8.self).contains(Self.token), "\(file)")
                }
            }
            let folder = workspace.directory.appendingPathComponent("runs/\(name)")
            for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
                let bytes = try Data(contentsOf: folder.appendingPathComponent(file))
                #expect(!String(decoding: bytes, as: UTF8.self).contains(Self.token))
            }
            #expect(!html.contains(Self.token))
        }

        @Test func killedTwiceMidRunBothTrackersHoldEveryPointOnce() async throws {
            let port = try MLflowServer.freePort()
            let server = try await MLflowServer.start(port: port)
            do {
                var faults = FaultOptions()
                faults.rolloutLatencyMs = 15
                faults.trainLatencyMs = 40
                try await withWorkspace(seed: 21, faults: faults) { workspace in
                    let steps = 40
                    let tracking: [String: Any] = ["tensorboard": ["logdir": "runs"],
                                                   "mlflow": ["tracking_uri": server.baseURL, "experiment": "kills"]]
                    // First without tracking: adding it later is not a change of training settings.
                    try workspace.writeConfig(name: "tracked", steps: steps, groups: 3, rollouts: 2, concurrency: 3, every: 5, eval: true)
                    let plain = try start(workspace, ["run", "config.json", "--quiet"])
                    try await waitForSteps(workspace, job: "tracked", atLeast: 3, process: plain)
                    plain.signal(SIGKILL)
                    _ = await plain.wait()
                    try workspace.writeConfig(name: "tracked", steps: steps, groups: 3, rollouts: 2, concurrency: 3, every: 5, eval: true,
                                              extra: ["tracking": tracking])
                    var logs = ""
                    var kills = 0
                    var lastApplied = 3
                    while kills < 2 {
                        let running = try start(workspace, ["run", "config.json", "--verbose"])
                        // Some steps and some deliveries, then a kill in the middle of both.
                        try await waitForSteps(workspace, job: "tracked", atLeast: lastApplied + 6, process: running)
                        try await Task.sleep(for: .milliseconds(Int.random(in: 0...200)))
                        running.signal(SIGKILL)
                        let result = await running.wait()
                        logs += result.stdout + result.stderr
                        #expect(result.killedBySignal, "the job ended before the kill: \(result.stderr.suffix(1000))")
                        kills += 1
                        lastApplied = try await Self.record(workspace, job: "tracked").steps.filter { $0.state == .applied }.count
                    }
                    #expect(lastApplied < steps, "the kills landed mid-run")
                    // A graceful stop ends the MLflow run KILLED; the next run takes it up again.
                    let stopping = try start(workspace, ["run", "config.json", "--verbose"])
                    try await waitForSteps(workspace, job: "tracked", atLeast: lastApplied + 4, process: stopping)
                    stopping.signal(SIGTERM)
                    let stopped = await stopping.wait()
                    logs += stopped.stdout + stopped.stderr
                    #expect(stopped.status == 0 && !stopped.killedBySignal, "\(stopped.stderr.suffix(1000))")
                    let killedRun = try await server.runs(experiment: "kills").first?["info"] as? [String: Any]
                    #expect(killedRun?["status"] as? String == "KILLED", "\(String(describing: killedRun))")
                    let final = try await start(workspace, ["run", "config.json", "--verbose"]).wait()
                    logs += final.stdout + final.stderr
                    #expect(final.status == 0, "\(final.stderr.suffix(2000))")
                    try await checkExactlyOnce(workspace, job: "tracked", server: server, experiment: "kills", steps: steps)
                    #expect(!logs.contains(Self.token))
                    // status: both trackers caught up, no error.
                    let status = try await workspace.statusJSON("tracked")
                    let trackers = status["trackers"] as? [[String: Any]] ?? []
                    #expect(Set(trackers.compactMap { $0["tracker"] as? String }) == ["mlflow", "tensorboard"])
                    #expect(trackers.allSatisfy { ($0["backlog"] as? Int) == 0 && $0["last_error"] is NSNull }, "\(trackers)")
                    let human = try await workspace.run(["status", "tracked"])
                    #expect(human.stdout.contains("tracking   mlflow: up to date"), "\(human.stdout)")
                    #expect(human.stdout.contains("tracking   tensorboard: up to date"), "\(human.stdout)")

                    // The crash window, for certain: everything delivered, none of it recorded (a kill
                    // between the two). The next run reads both trackers back and sends nothing twice.
                    do {
                        let store = try ProgressStore(path: workspace.database.path)
                        let jobID = try #require(try await store.job(named: "tracked")?.id)
                        for var state in try await store.trackerStates(jobID: jobID) {
                            (state.stepsThrough, state.evalsThrough, state.checkpointsThrough) = (0, -1, 0)
                            (state.setupDone, state.endedState) = (false, nil)
                            try await store.saveTrackerState(state)
                        }
                    }
                    let behind = try await workspace.statusJSON("tracked")
                    #expect((behind["trackers"] as? [[String: Any]])?.allSatisfy { ($0["backlog"] as? Int ?? 0) > 0 } == true)
                    let again = try await start(workspace, ["run", "config.json", "--verbose"]).wait()
                    #expect(again.status == 0, "\(again.stderr.suffix(2000))")
                    #expect(again.stdout.contains("already complete"))
                    try await checkExactlyOnce(workspace, job: "tracked", server: server, experiment: "kills", steps: steps)

                    // serve tracks its jobs the same way, and ends their runs.
                    try workspace.writeConfig(name: "served", steps: 12, groups: 3, rollouts: 2, concurrency: 3, every: 4, eval: true,
                                              extra: ["tracking": ["tensorboard": ["logdir": "runs"],
                                                                   "mlflow": ["tracking_uri": server.baseURL, "experiment": "served"]]],
                                              file: "served.json")
                    let submitted = try await workspace.run(["submit", "served.json"])
                    #expect(submitted.status == 0, "\(submitted.stderr)")
                    let serve = try await ServeProcess.start(workspace, ["--verbose"], environment: ["MLFLOW_TRACKING_TOKEN": Self.token])
                    do {
                        try await workspace.waitForJob("served", .completed, timeout: .seconds(120))
                    } catch {
                        let output = await serve.kill()
                        let record = try await workspace.job("served")
                        Issue.record(Comment(rawValue: "served: \(String(describing: record?.state)) \(record?.lastError ?? "")\n"
                            + "\(output.stdout.suffix(1500))\n\(output.stderr.suffix(1500))"))
                        throw error
                    }
                    // The run's end goes out right after the job's: wait for it, then stop serve.
                    let deadline = ContinuousClock.now + .seconds(30)
                    while ContinuousClock.now < deadline,
                          (try await server.runs(experiment: "served").first?["info"] as? [String: Any])?["status"] as? String != "FINISHED" {
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    let served = await serve.terminate()
                    #expect(!(served.stdout + served.stderr).contains(Self.token))
                    try await checkExactlyOnce(workspace, job: "served", server: server, experiment: "served", steps: 12)
                }
            } catch {
                await server.stop()
                throw error
            }
            await server.stop()
        }

        @Test func aJobStartedWhileMLflowIsDownTrainsAtFullSpeedAndMissesNothing() async throws {
            let port = try MLflowServer.freePort()
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 15
            faults.trainLatencyMs = 60
            try await withWorkspace(seed: 22, faults: faults) { workspace in
                // The same job without tracking, for its step rate.
                try workspace.writeConfig(name: "reference", steps: 30, groups: 3, rollouts: 2, concurrency: 3, every: 10, eval: true,
                                          file: "reference.json")
                let reference = try await start(workspace, ["run", "reference.json", "--quiet"]).wait()
                #expect(reference.status == 0)
                let steps = 600
                try workspace.writeConfig(name: "outage", steps: steps, groups: 3, rollouts: 2, concurrency: 3, every: 50, eval: true,
                                          extra: ["tracking": ["mlflow": ["tracking_uri": "http://127.0.0.1:\(port)", "experiment": "outage"]]])
                let running = try start(workspace, ["run", "config.json", "--verbose"])
                try await waitForSteps(workspace, job: "outage", atLeast: 20, process: running)
                let during = try await workspace.statusJSON("outage")
                let tracker = (during["trackers"] as? [[String: Any]])?.first
                #expect((tracker?["backlog"] as? Int ?? 0) > 0, "\(String(describing: tracker))")
                #expect(tracker?["last_error"] as? String != nil, "\(String(describing: tracker))")
                let server = try await MLflowServer.start(port: port)
                let downUntil = ProgressStore.nowMs()
                do {
                    let result = await running.wait(timeout: .seconds(600))
                    #expect(result.status == 0, "\(result.stderr.suffix(2000))")
                    #expect(!(result.stdout + result.stderr).contains(Self.token))
                    if try await server.runs(experiment: "outage").first?["info"].flatMap({ ($0 as? [String: Any])?["status"] as? String }) != "FINISHED" {
                        // The server came up after the run gave up waiting for it: the next run delivers.
                        let next = try await start(workspace, ["run", "config.json", "--verbose"]).wait()
                        #expect(next.status == 0, "\(next.stderr.suffix(2000))")
                    }
                    // Nothing missing, nothing twice, status FINISHED.
                    let (records, evals, _, _) = try await Self.record(workspace, job: "outage")
                    let runs = try await server.runs(experiment: "outage")
                    #expect(runs.count == 1)
                    let info = runs.first?["info"] as? [String: Any]
                    let runID = try #require(info?["run_id"] as? String)
                    #expect(info?["status"] as? String == "FINISHED")
                    #expect(try await server.steps(runID: runID, key: "train/lr").sorted() == records.map(\.k))
                    #expect(try await server.steps(runID: runID, key: "eval/reward_mean").sorted() == evals.map(\.step))
                    // The steps taken while the server was down came at the reference's pace.
                    let (referenceSteps, _, _, _) = try await Self.record(workspace, job: "reference")
                    let referencePace = Self.medianInterval(referenceSteps)
                    let downPace = Self.medianInterval(records.filter { ($0.appliedAtMs ?? 0) <= downUntil })
                    #expect(downPace <= referencePace * 2 + 30, "step interval \(downPace) ms while MLflow was down, \(referencePace) ms without tracking")
                    let after = try await workspace.statusJSON("outage")
                    let trackers = after["trackers"] as? [[String: Any]] ?? []
                    #expect(trackers.first?["backlog"] as? Int == 0, "\(trackers)")
                } catch {
                    await server.stop()
                    throw error
                }
                await server.stop()
            }
        }

        static func medianInterval(_ steps: [StepRecord]) -> Double {
            let times = steps.compactMap(\.appliedAtMs).sorted()
            let gaps = zip(times.dropFirst(), times).map { Double($0 - $1) }.sorted()
            return gaps.isEmpty ? 0 : gaps[gaps.count / 2]
        }

        /// Waits until the job has applied `count` steps (at most a minute).
        func waitForSteps(_ workspace: Workspace, job name: String, atLeast count: Int, process: MoontuneProcess.Running) async throws {
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline {
                if FileManager.default.fileExists(atPath: workspace.database.path),
                   let store = try? ProgressStore(path: workspace.database.path, readOnly: true),
                   let job = try? await store.job(named: name), let id = job.id,
                   let applied = try? await store.lastAppliedStep(jobID: id), applied >= count { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            Issue.record(Comment(rawValue: "the job did not reach step \(count): \(process.stderrSoFar.suffix(1500))"))
            throw MLflowServerError(message: "timeout")
        }
    }
}
