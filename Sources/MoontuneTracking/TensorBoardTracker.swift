import Foundation
import MoontuneReport
import MoontuneStore
import NIOPosix

/// TensorBoard: scalars at their step, each eval's gallery pictures, and the config as text, in
/// event files under `<logdir>/<job name>/`. The folder's own contents decide what is written.
package struct TensorBoardTracker: Tracker {
    package let writer: TensorBoardWriter
    /// Pictures written per eval: the first examples of the eval set.
    package static let imagesPerEval = 6

    package init(logdir: URL, jobName: String) {
        writer = TensorBoardWriter(folder: Self.folder(logdir: logdir, jobName: jobName))
    }

    static func folder(logdir: URL, jobName: String) -> URL { logdir.appendingPathComponent(jobName, isDirectory: true) }

    package var name: String { "tensorboard" }
    package var target: String { writer.folder.path }

    package func open(_ state: TrackerState, job: TrackedJob) async throws -> TrackerState {
        // A file this run was writing is closed first: reading back may cut a torn record off it,
        // and writing goes on in a new file.
        let rewoundTo = state.rewindPending ? state.rewoundTo : nil
        let contents = try await NIOThreadPool.singleton.runIfActive { [writer] in
            writer.close()
            var contents = try writer.readBack()
            if let step = rewoundTo, contents.lastStep > step || contents.lastEval > step {
                // A rewind: the folder's points after `step` are stale. TensorBoard drops them at
                // this record, and the steps trained again are written after it.
                try writer.write([TensorBoardEvent.sessionStart(wallTime: Date().timeIntervalSince1970, step: step + 1)])
                contents.lastStep = min(contents.lastStep, step)
                contents.lastEval = min(contents.lastEval, step)
            }
            return contents
        }
        var state = state
        state.stepsThrough = contents.lastStep
        state.evalsThrough = contents.lastEval
        state.setupDone = contents.hasConfig
        return state
    }

    /// The text tag of a sweep's job: the sweep and the variant's params.
    static let sweepTag = "sweep/params"

    package func setup(_ state: TrackerState, job: TrackedJob, finetuneID: String?) async throws -> TrackerState {
        let pretty = ReportHTML.prettyJSON(job.config.snapshotJSON)
        let text = "job `\(job.name)`\(finetuneID.map { ", finetune `\($0)`" } ?? "")\n\n```json\n\(pretty)\n```"
        var values: [TensorBoardEvent.Value] = [.text(tag: TensorBoardWriter.configTag, text: text)]
        // A sweep's job (issue 25): the sweep and the variant's params, beside the other variants'
        // runs in the same logdir.
        if let member = try await job.store.sweepMembership(jobID: job.jobID) {
            let params = member.params.map { "| `\($0.key)` | `\($0.json)` |" }.joined(separator: "\n")
            values.append(.text(tag: Self.sweepTag, text: "sweep `\(member.sweep)`, variant \(member.position), metric `\(member.metric)`\n\n"
                + "| param | value |\n|---|---|\n" + params))
        }
        let event = TensorBoardEvent.summary(wallTime: Date().timeIntervalSince1970, step: 0, values: values)
        try await NIOThreadPool.singleton.runIfActive { [writer] in try writer.write([event]) }
        return state
    }

    package func deliver(_ batch: TrackingBatch, state: TrackerState, job: TrackedJob) async throws -> TrackerState {
        // Record order: a step, then an eval at that step.
        var entries: [(step: Int, order: Int, event: [UInt8])] = batch.steps.map { step in
            (step.k, 0, TensorBoardEvent.summary(wallTime: Double(step.atMs) / 1000, step: step.k,
                                                 values: step.scalars.map { .scalar(tag: $0.name, value: $0.value) }))
        }
        // Only evals the folder does not hold yet (the marks came from it).
        for eval in batch.evals where eval.step > state.evalsThrough {
            let examples = try await job.store.evalExamples(jobID: job.jobID, step: eval.step)
            let images = try await NIOThreadPool.singleton.runIfActive { Self.pictures(examples, step: eval.step) }
            let values = eval.scalars.map { TensorBoardEvent.Value.scalar(tag: $0.name, value: $0.value) } + images
            entries.append((eval.step, 1, TensorBoardEvent.summary(wallTime: Double(eval.atMs) / 1000, step: eval.step, values: values)))
        }
        let events = entries.sorted { ($0.step, $0.order) < ($1.step, $1.order) }.map(\.event)
        if !events.isEmpty {
            try await NIOThreadPool.singleton.runIfActive { [writer] in try writer.write(events) }
        }
        return state
    }

    /// The eval's first examples drawn as the report's gallery draws them (truth in green, the
    /// prediction in magenta), as JPEG images tagged `eval/examples/<example id>`. Blocking.
    static func pictures(_ examples: [EvalExampleRecord], step: Int) -> [TensorBoardEvent.Value] {
        let outcomes = examples.sorted { $0.position < $1.position }.prefix(imagesPerEval).map(GalleryOutcome.init)
        let gallery = EvalGallery.build(before: [], after: Array(outcomes), beforeLabel: "", afterLabel: "step \(step)",
                                        cap: imagesPerEval)
        return gallery.items.compactMap { item in
            guard case .jpeg(let dataURL, let width, let height, _) = item.after,
                  let comma = dataURL.firstIndex(of: ","),
                  let bytes = Data(base64Encoded: String(dataURL[dataURL.index(after: comma)...])) else { return nil }
            let id = item.pair.after.exampleID.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" }
            return .image(tag: "eval/examples/\(String(id))", encoded: Array(bytes), width: width, height: height)
        }
    }

    package func end(_ jobState: JobState, state: TrackerState, job: TrackedJob) async throws -> TrackerState {
        try await NIOThreadPool.singleton.runIfActive { [writer] in writer.close() }
        return state
    }

    package func close() async {
        _ = try? await NIOThreadPool.singleton.runIfActive { [writer] in writer.close() }
    }
}
