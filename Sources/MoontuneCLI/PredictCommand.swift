import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneStore
import MoontuneReport
import NIOPosix

/// `moontune predict NAME --image PATH ...`: one inference with a saved checkpoint of a job.
struct PredictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Ask a saved checkpoint of a job (or the base model) about an image.",
        discussion: """
            Give one of: --object TEXT --skill point|detect, --question TEXT, or --caption. The checkpoint is the \
            latest saved one unless --step S or --best (the best eval reward) says otherwise; --base asks the base model.
            """)

    @Argument(help: "The job's name.")
    var name: String

    @Option(help: "Use the checkpoint saved at this step (on the server, as `checkpoints NAME` lists it).") var step: Int?
    @Flag(help: "Use the saved checkpoint with the best eval reward.") var best = false
    @Flag(help: "Use the latest saved checkpoint (the default).") var latest = false
    @Flag(help: "Use the base model instead of a checkpoint.") var base = false

    @Option(help: "The image (JPEG, PNG, WebP or GIF; --draw needs JPEG or PNG).") var image: String
    @Option(help: "What to point at or detect (with --skill).") var object: String?
    @Option(help: "point or detect (with --object).") var skill: String?
    @Option(help: "A question about the image.") var question: String?
    @Flag(help: "Describe the image.") var caption = false

    @Option(help: "Write the image with the predicted points or boxes drawn on it, as PNG.") var draw: String?
    @Flag(help: "Print JSON.") var json = false

    @OptionGroup var database: DatabaseOption

    enum Request {
        case point(String), detect(String), query(String), caption
    }

    func validate() throws {
        if [step != nil, best, latest, base].filter({ $0 }).count > 1 {
            throw ValidationError("give at most one of --step, --best, --latest and --base")
        }
        _ = try request()
    }

    func request() throws -> Request {
        let modes = [object != nil, question != nil, caption].filter { $0 }.count
        guard modes == 1 else {
            throw ValidationError("give exactly one of --object TEXT --skill point|detect, --question TEXT, or --caption")
        }
        if let object {
            switch skill {
            case "point": return .point(object)
            case "detect": return .detect(object)
            case nil: throw ValidationError("--object needs --skill point or --skill detect")
            case let other?: throw ValidationError("--skill must be point or detect, not \(other)")
            }
        }
        if skill != nil { throw ValidationError("--skill goes with --object") }
        if draw != nil { throw ValidationError("--draw is for point and detect") }
        if let question { return .query(question) }
        return .caption
    }

    func run() async throws {
        try await CommandEdge.run {
            let request = try request()
            let local = try LocalJobs.open(database.path)
            let job = try await local.job(named: name)
            let imageURL = URL(fileURLWithPath: image)
            let dataURL: String
            do {
                dataURL = try await NIOThreadPool.singleton.runIfActive { try ImageCache().dataURL(for: imageURL) }
            } catch let error as DatasetError {
                throw CommandFailure(error.problems.map(\.description).joined(separator: "; "))
            }
            let prediction = try await withClient(try APIAccess.job(job).makeClient(maxInFlight: 1)) { client in
                let model = try await chooseModel(job: job, local: local, client: client)
                return try await predict(request, model: model, imageURL: dataURL, client: client)
            }
            var shown = prediction
            if let draw {
                try PredictionDrawing.write(imageFile: imageURL, points: prediction.points ?? [], boxes: prediction.objects ?? [],
                                            to: URL(fileURLWithPath: draw))
                shown.drawn = draw
            }
            print(json ? try ManagementJSON.encode(shown) : shown.text)
        }
    }

    /// The model string: the base model, or the chosen checkpoint as the server lists it.
    func chooseModel(job: JobRecord, local: LocalJobs, client: MoondreamClient) async throws -> String? {
        if base { return nil }
        let finetuneID = try LocalJobs.finetuneID(of: job)
        let choice: CheckpointChoice = step.map { .step($0) } ?? (best ? .best : .latest)
        let serverSteps: [Int]
        do {
            serverSteps = try await client.allCheckpoints(finetuneID: finetuneID).collect().map(\.step)
        } catch let error as APIError where error.kind == .notFound {
            throw CommandFailure("the finetune \(finetuneID) of job \(job.name) no longer exists on \(job.baseURL)")
        }
        let record = try await local.store?.checkpoints(jobID: job.id ?? 0) ?? []
        let evals = try await local.store?.evals(jobID: job.id ?? 0) ?? []
        let chosen = try choice.resolve(job: job.name, serverSteps: serverSteps, record: record,
                                        evals: Dictionary(evals.map { ($0.step, $0.rewardMean) }, uniquingKeysWith: { a, _ in a }))
        return inferenceModel(finetuneID: finetuneID, step: chosen)
    }

    func predict(_ request: Request, model: String?, imageURL: String, client: MoondreamClient) async throws -> Prediction {
        var prediction = Prediction(model: model ?? "moondream3-preview", skill: "")
        do {
            switch request {
            case .point(let object):
                prediction.skill = "point"
                prediction.points = try await client.point(model: model, imageURL: imageURL, object: object)
            case .detect(let object):
                prediction.skill = "detect"
                prediction.objects = try await client.detect(model: model, imageURL: imageURL, object: object)
            case .query(let question):
                prediction.skill = "query"
                prediction.answer = try await client.query(model: model, imageURL: imageURL, question: question)
            case .caption:
                prediction.skill = "caption"
                prediction.caption = try await client.caption(model: model, imageURL: imageURL)
            }
        } catch let error as APIError where error.kind == .notFound {
            throw CommandFailure("\(prediction.model) is not available on the server (deleted checkpoint or finetune?): \(error.message)")
        }
        return prediction
    }
}

/// What `predict` prints.
struct Prediction: Encodable {
    var model: String
    var skill: String
    var points: [Point]?
    var objects: [Box]?
    var answer: String?
    var caption: String?
    /// The PNG written by `--draw`.
    var drawn: String?

    var text: String {
        var lines = ["model \(model)"]
        if let points {
            lines.append(points.isEmpty ? "no points" : "\(points.count) point\(points.count == 1 ? "" : "s"):")
            lines += points.map { String(format: "  x %.3f  y %.3f", $0.x, $0.y) }
        }
        if let objects {
            lines.append(objects.isEmpty ? "no objects" : "\(objects.count) object\(objects.count == 1 ? "" : "s"):")
            lines += objects.map { String(format: "  x %.3f–%.3f  y %.3f–%.3f", $0.xMin, $0.xMax, $0.yMin, $0.yMax) }
        }
        if let answer { lines.append(answer) }
        if let caption { lines.append(caption) }
        if let drawn { lines.append("drawn: \(drawn)") }
        return lines.joined(separator: "\n")
    }
}
