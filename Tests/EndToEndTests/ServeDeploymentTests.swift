import Foundation
import Testing

extension EndToEnd {
    /// The unattended `serve`: its systemd unit and its Kubernetes Deployment, the manifests
    /// checked against the Kubernetes schema by `kubernetes-validate` (PyPI; it ships the schemas,
    /// so it works offline), strictly (unknown fields are errors).
    @Suite struct ServeDeploymentTests {
        static let root: URL = {
            var root = URL(fileURLWithPath: #filePath)
            while root.path != "/" && !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
                root.deleteLastPathComponent()
            }
            return root
        }()

        static let validator: String? = {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
            return path.split(separator: ":").map { "\($0)/kubernetes-validate" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        }()

        @Test(.enabled(if: validator != nil, "needs kubernetes-validate (installed by .ci/run)"))
        func theManifestsValidateAgainstTheKubernetesSchemaAndABrokenOneDoesNot() async throws {
            let files = ["configs/moontune-serve.yaml", "configs/moontune-job.yaml"].map { Self.root.appendingPathComponent($0).path }
            // The tool's output files go to a folder of the test, not the repository.
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-k8s-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let checked = try await ServeHTTPTests.tool(Self.validator!, ["--strict"] + files, in: folder)
            #expect(checked.status == 0, "\(checked.stdout)\n\(checked.stderr)")
            #expect(checked.stdout.contains("deployment/moontune-serve"), "\(checked.stdout)")
            // The validator does reject a manifest that breaks the schema.
            let broken = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString).yaml")
            let text = try String(contentsOfFile: files[0], encoding: .utf8).replacingOccurrences(of: "replicas: 1", with: "replicas: one")
            try text.write(to: broken, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: broken) }
            let refused = try await ServeHTTPTests.tool(Self.validator!, ["--strict", broken.path], in: folder)
            #expect(refused.status != 0)
        }

        @Test func theDeploymentIsOneReplicaRecreatedWithAVolumeProbesAndScrapeAnnotations() throws {
            let manifest = try String(contentsOf: Self.root.appendingPathComponent("configs/moontune-serve.yaml"), encoding: .utf8)
            let lines = manifest.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            for line in ["kind: Deployment", "replicas: 1", "type: Recreate", "kind: PersistentVolumeClaim", "claimName: moontune-serve-data",
                         "readinessProbe:", "livenessProbe:", "path: /healthz", "prometheus.io/scrape: \"true\"", "prometheus.io/path: \"/metrics\""] {
                #expect(lines.contains(line), "no `\(line)`")
            }
            #expect(manifest.contains("secretKeyRef"))
            #expect(!manifest.contains("MOONDREAM_API_KEY=") && !manifest.contains("sk-"))
            #expect(manifest.contains("\"serve\""))
        }

        @Test func theSystemdUnitRunsServeAndRestartsAlways() throws {
            let unit = try String(contentsOf: Self.root.appendingPathComponent("configs/moontune-serve.service"), encoding: .utf8)
            let lines = unit.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.contains("Restart=always"))
            #expect(lines.contains("KillSignal=SIGTERM"))
            #expect(lines.contains("WantedBy=multi-user.target"))
            let exec = try #require(lines.first { $0.hasPrefix("ExecStart=") })
            #expect(exec.contains("/moontune serve "))
            #expect(!exec.contains("KEY="))
        }
    }
}
