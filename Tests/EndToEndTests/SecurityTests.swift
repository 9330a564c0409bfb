import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// The key is never written anywhere; state and logs are private to their owner; a dataset cannot
    /// make moontune read outside its folder unless the config allows it.
    @Suite struct SecurityTests {
        /// A key no output could contain by chance.
        static let key = MoontuneProcess.apiKey
        static let wrongKey = "sk-WRONG-e2e-7f3a9c1d5b-SECRET"

        /// Every file moontune wrote or may have written, with its bytes, read now.
        func writtenFiles(in directory: URL) throws -> [(String, Data)] {
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            return try names.sorted().compactMap { name in
                let url = directory.appendingPathComponent(name)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                      name.hasPrefix("state.sqlite") || name.hasSuffix(".log") || name.hasPrefix("out-") || name.hasPrefix("err-")
                        || name.contains("report") else { return nil }
                return (name, try Data(contentsOf: url))
            }
        }


        @Test func theKeyIsNeverWrittenToTheDatabaseLogsOrOutput() async throws {
            var faults = FaultOptions()
            faults.serverErrorRate = 0.1
            faults.rateLimitRate = 0.05
            faults.retryAfterSeconds = 0.05
            faults.dropRate = 0.03
            faults.ambiguousTrainRate = 0.15
            // Slow enough that the WAL and shm files can be seen while the job runs.
            faults.rolloutLatencyMs = 80
            faults.trainLatencyMs = 20
            try await withWorkspace(skills: ["point", "query"], faults: faults) { workspace in
                var search = LeakSearch(secrets: [Self.key, Self.wrongKey])

                // A background job with faults: its log, and the database and WAL while it runs.
                try workspace.writeConfig(name: "secret-bg", steps: 16, groups: 2, rollouts: 2, concurrency: 2, every: 3, eval: true)
                // Polled from the moment `start` is launched, so the run is watched from its first write.
                let starting = try workspace.start(["start", "config.json", "--log", "secret-bg.log"])
                var modesSeen: [String: Int] = [:]
                let deadline = ContinuousClock.now + .seconds(60)
                var job: JobRecord?
                while ContinuousClock.now < deadline {
                    for (name, data) in try writtenFiles(in: workspace.directory) { search.add(name, data) }
                    for name in ["state.sqlite", "state.sqlite-wal", "state.sqlite-shm", "state.sqlite-journal", "state.sqlite.secret-bg.lock",
                                 "secret-bg.log"] {
                        if let mode = try? Self.mode(workspace.directory.appendingPathComponent(name)) { modesSeen[name] = mode }
                    }
                    job = FileManager.default.fileExists(atPath: workspace.database.path) ? try? await workspace.job("secret-bg") : nil
                    if let job, job.state != .running && job.state != .pending, !starting.process.value.isRunning,
                       !JobLock.isHeld(databasePath: workspace.database.path, jobName: "secret-bg") { break }
                    try await Task.sleep(for: .milliseconds(25))
                }
                let started = await starting.wait()
                #expect(started.status == 0, "\(started.stderr)")
                search.add("start stdout", started.stdout)
                search.add("start stderr", started.stderr)
                #expect(job?.state == .completed, "the background job ended \(String(describing: job?.state)): \(job?.lastError ?? "")")
                let stats = await workspace.simulator.stats()
                #expect(stats.faultsInjected.serverError + stats.faultsInjected.rateLimited + stats.faultsInjected.dropped
                        + stats.faultsInjected.ambiguousTrainStep > 0, "no fault fired; the test proves less than it says")

                // Owner-only files, seen while the job ran (WAL and shm exist only then).
                #expect(modesSeen["state.sqlite-journal"] ?? 0o600 == 0o600, "a rollback journal had another mode")
                for name in ["state.sqlite", "state.sqlite-wal", "state.sqlite-shm", "state.sqlite.secret-bg.lock", "secret-bg.log"] {
                    #expect(modesSeen[name] == 0o600, "\(name) had mode \(modesSeen[name].map { String($0, radix: 8) } ?? "never seen")")
                }

                // A foreground job with the same faults, and a run with a wrong key (401).
                try workspace.writeConfig(name: "secret-fg", steps: 4, groups: 2, rollouts: 2, concurrency: 2, every: 2, file: "fg.json")
                let foreground = try await workspace.run(["run", "fg.json", "--verbose"])
                #expect(foreground.status == 0, "\(foreground.stderr)")
                try workspace.writeConfig(name: "secret-401", steps: 2, groups: 2, rollouts: 2, concurrency: 2, every: 1, file: "401.json")
                let refused = try await workspace.run(["run", "401.json", "--verbose"], environment: ["MOONDREAM_API_KEY": Self.wrongKey])
                #expect(refused.status == 1, "\(refused.stderr)")
                #expect((refused.stdout + refused.stderr).contains("HTTP 401 unauthorized"), "\(refused.stdout)\(refused.stderr)")
                #expect(try await workspace.job("secret-401")?.state == .failed)
                let status = try await workspace.run(["status"])
                let statusJSON = try await workspace.run(["status", "--json"])
                for (name, result) in [("run", foreground), ("401 run", refused), ("status", status), ("status --json", statusJSON)] {
                    search.add("\(name) stdout", result.stdout)
                    search.add("\(name) stderr", result.stderr)
                }
                // The ops helper's report, where this tree has it.
                let help = try await MoontuneProcess.run(["--help"], in: workspace.directory).stdout
                #expect(help.contains("SUBCOMMANDS"), "\(help)")
                if help.split(separator: "\n").contains(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("report ") }) {
                    let report = try await workspace.run(["report", "secret-bg"])
                    search.add("report stdout", report.stdout)
                    search.add("report stderr", report.stderr)
                }
                for (name, data) in try writtenFiles(in: workspace.directory) { search.add(name, data) }

                #expect(search.searched.isSuperset(of: ["state.sqlite", "state.sqlite-wal", "state.sqlite-shm", "secret-bg.log",
                                                       "run stdout", "401 run stdout", "status stdout"]), "\(search.searched)")
                #expect(search.hits == [], "the key was found in: \(search.hits)")
                // The search would find the key if it were there.
                var control = LeakSearch(secrets: [Self.key])
                control.add("control", "x-moondream-auth: \(Self.key)")
                #expect(control.hits == ["control"])
            }
        }

        @Test func aDatasetCannotReadOutsideItsFolderUnlessTheConfigAllowsIt() async throws {
            try await withWorkspace(skills: ["point"], images: 4) { workspace in
                let folder = workspace.directory
                let data = folder.appendingPathComponent("data")
                try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
                try FileManager.default.createSymbolicLink(at: data.appendingPathComponent("link.png"),
                                                           withDestinationURL: folder.appendingPathComponent("images/shape-002.png"))
                let absolute = folder.appendingPathComponent("images/shape-001.png").path
                let lines = [
                    CaseFolder.pointLine("up", image: "../images/shape-000.png"),
                    CaseFolder.pointLine("abs", image: absolute),
                    CaseFolder.pointLine("link", image: "link.png"),
                ]
                try (lines.joined(separator: "\n") + "\n").write(to: data.appendingPathComponent("train.jsonl"), atomically: true, encoding: .utf8)

                try workspace.writeConfig(name: "outside", steps: 2, groups: 3, rollouts: 2, concurrency: 2, every: 1,
                                          extra: ["data": ["train": "data/train.jsonl"]])
                let refused = try await workspace.run(["run", "config.json"])
                #expect(refused.status == 2)
                for (line, what) in [(1, "leads outside the dataset folder through '..'"), (2, "absolute path"),
                                     (3, "is a symlink that leads outside the dataset folder")] {
                    #expect(refused.stderr.contains("data/train.jsonl:\(line): image: ") && refused.stderr.contains(what), "\(refused.stderr)")
                }
                #expect(await workspace.simulator.stats().requestsTotal == 0)
                #expect(FileManager.default.fileExists(atPath: workspace.database.path) == false, "a refused run created the database")

                try workspace.writeConfig(name: "outside", steps: 2, groups: 3, rollouts: 2, concurrency: 2, every: 1,
                                          extra: ["data": ["train": "data/train.jsonl", "allow_absolute_paths": true]])
                let allowed = try await workspace.run(["run", "config.json"])
                #expect(allowed.status == 0, "\(allowed.stderr)")
                #expect(await workspace.finetune("outside")?.trainStepsApplied == 2)
            }
        }

        static func mode(_ url: URL) throws -> Int {
            let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
            return ((attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1) & 0o777
        }

    }
}

/// Looks for secrets (whole, or their distinctive last 12 characters) in everything it is given,
/// keeping only the names of what it searched and of what held a secret.
struct LeakSearch {
    let needles: [Data]
    private(set) var searched: Set<String> = []
    private(set) var hits: [String] = []

    init(secrets: [String]) {
        needles = secrets.flatMap { [$0, String($0.suffix(12))] }.map { Data($0.utf8) }
    }

    mutating func add(_ name: String, _ data: Data) {
        if !data.isEmpty { searched.insert(name) }
        if needles.contains(where: { data.range(of: $0) != nil }), !hits.contains(name) { hits.append(name) }
    }

    mutating func add(_ name: String, _ text: String) { add(name, Data(text.utf8)) }
}
