import Foundation
import Testing

extension EndToEnd {
    /// The systemd unit and the Kubernetes manifest in configs/ carry command lines that moontune
    /// accepts: each is run for real (its paths swapped for a workspace's) against the simulator.
    @Suite struct OperationsDeploymentTests {
        static var repository: URL {
            var root = URL(fileURLWithPath: #filePath)
            while root.path != "/" && !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
                root.deleteLastPathComponent()
            }
            return root
        }

        static func read(_ path: String) throws -> String {
            try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
        }

        /// The arguments with the config and database paths pointed into the workspace.
        static func localized(_ arguments: [String], _ workspace: Workspace, config: URL) -> [String] {
            var result: [String] = []
            for (index, argument) in arguments.enumerated() {
                if index > 0, arguments[index - 1] == "--db" {
                    result.append(workspace.database.path)
                } else if argument.hasSuffix(".json") {
                    result.append(config.path)
                } else {
                    result.append(argument)
                }
            }
            return result
        }

        /// Runs the command line and checks that the job completed and logged JSON lines.
        static func runsAJob(_ arguments: [String], name: String) async throws {
            try await withWorkspace { workspace in
                let config = try workspace.writeConfig(name: name, steps: 3, groups: 2, rollouts: 2, concurrency: 2, every: 3)
                let command = localized(arguments, workspace, config: config)
                #expect(command.contains("--db"), "the state database has an explicit, persistent path")
                let result = try await MoontuneProcess.run(command, in: workspace.directory)
                #expect(result.status == 0, "moontune \(command.joined(separator: " ")): \(result.stderr)")
                #expect(try await workspace.job(name)?.state == .completed)
                let lines = result.stdout.split(separator: "\n")
                #expect(!lines.isEmpty && lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil },
                        "the log is JSON lines for the journal or the cluster's log shipper: \(result.stdout)")
                // Started again after completion (a reboot, a pod restart): nothing to do, exit 0, no restart loop.
                let again = try await MoontuneProcess.run(command, in: workspace.directory)
                #expect(again.status == 0, "\(again.stderr)")
            }
        }

        @Test func theSystemdUnitsCommandLineRunsAJobAndRestartsOnlyOnFailure() async throws {
            let unit = try Self.read("configs/moontune.service")
            let lines = unit.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.contains("Restart=on-failure"))
            #expect(lines.contains("WantedBy=multi-user.target"), "enabled units start again after a reboot")
            let exec = try #require(lines.first { $0.hasPrefix("ExecStart=") })
            let words = exec.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
            #expect(words.first?.hasSuffix("/moontune") == true)
            #expect(!exec.contains("KEY="), "the key is not on the command line")
            try await Self.runsAJob(Array(words.dropFirst()), name: "systemd-job")
        }

        @Test func theKubernetesJobsCommandLineRunsAJob() async throws {
            let manifest = try Self.read("configs/moontune-job.yaml")
            #expect(manifest.contains("kind: PersistentVolumeClaim"))
            #expect(manifest.contains("kind: Job"))
            #expect(manifest.contains("claimName: moontune-data"))
            #expect(manifest.contains("secretKeyRef"), "the key comes from a Secret")
            func list(_ key: String) throws -> [String] {
                let line = try #require(manifest.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("\(key): [") })
                let json = line[line.index(after: try #require(line.firstIndex(of: ":")))...]
                return try JSONDecoder().decode([String].self, from: Data(json.utf8))
            }
            #expect(try list("command") == ["moontune"])
            try await Self.runsAJob(try list("args"), name: "k8s-job")
        }
    }
}
