import Foundation
import Testing

extension EndToEnd {
    /// What the benchmark relies on, checked with the real binary: the dataset index cache beside
    /// the database, and the hidden `bench-data` command.
    @Suite struct PerformanceSupportTests {
        func cacheEntries(_ workspace: Workspace) throws -> [URL] {
            let folder = URL(fileURLWithPath: workspace.database.path + ".cache")
            return try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
        }

        func modified(_ url: URL) throws -> Date? {
            try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date
        }

        @Test func aResumeReadsTheIndexEntryAndAnEditedDatasetIsCheckedAgain() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "cached", steps: 2, every: 2, eval: true)
                let first = try await workspace.run(["run", "config.json"])
                #expect(first.status == 0, "\(first.stderr)")
                let entries = try cacheEntries(workspace)
                #expect(entries.count == 2, "one entry each for the train and eval sets: \(entries)")
                let written = try entries.map(modified)

                // More steps: a resume, served from the entries, which stay as they were.
                try workspace.writeConfig(name: "cached", steps: 4, every: 2, eval: true)
                let resumed = try await workspace.run(["run", "config.json"])
                #expect(resumed.status == 0, "\(resumed.stderr)")
                #expect(try entries.map(modified) == written)
                #expect(try await workspace.steps("cached").count == 4)

                // A bad line appended after indexing is found before any API call.
                let train = workspace.directory.appendingPathComponent("train.jsonl")
                let handle = try FileHandle(forWritingTo: train)
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(#"{"id": "late", "skill": "point", "image": "images/nope.png", "object": "x"}"#.utf8 + [0x0A]))
                try handle.close()
                try workspace.writeConfig(name: "cached-2", steps: 1, every: 1)
                let requestsBefore = await workspace.simulator.stats().requestsTotal
                let refused = try await workspace.run(["run", "config.json"])
                #expect(refused.status != 0)
                #expect(refused.stderr.contains("train.jsonl"), "\(refused.stderr)")
                #expect(refused.stderr.contains("ground_truth") || refused.stderr.contains("image"), "\(refused.stderr)")
                #expect(await workspace.simulator.stats().requestsTotal == requestsBefore)
            }
        }

        @Test func benchDataWritesNoisyJPEGsNearTheAskedSizeAndAValidTrainSet() async throws {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-bench-data-\(UUID().uuidString.prefix(8))")
            defer { try? FileManager.default.removeItem(at: folder) }
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let result = try await MoontuneProcess.run(["bench-data", "data", "--images", "2", "--image-kb", "300", "--lines", "500"],
                                                       in: folder)
            #expect(result.status == 0, "\(result.stderr)")
            let images = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("data/images").path)
            #expect(images.count == 2)
            for image in images {
                let bytes = try Data(contentsOf: folder.appendingPathComponent("data/images/\(image)"))
                #expect(bytes.starts(with: [0xFF, 0xD8, 0xFF]), "\(image) is a JPEG")
                #expect((240_000...360_000).contains(bytes.count), "\(image): \(bytes.count) bytes")
            }
            let lines = try String(contentsOf: folder.appendingPathComponent("data/train.jsonl"), encoding: .utf8)
                .split(separator: "\n")
            #expect(lines.count == 500)

            let config = #"{"name": "bench", "rank": 8, "data": {"train": "data/train.jsonl"}, "train": {"steps": 1}}"#
            try Data(config.utf8).write(to: folder.appendingPathComponent("config.json"))
            let validated = try await MoontuneProcess.run(["validate", "config.json"], in: folder)
            #expect(validated.status == 0, "every line valid, ids unique: \(validated.stdout)\(validated.stderr)")
            #expect(validated.stdout.contains("500 examples"), "\(validated.stdout)")
        }
    }
}
