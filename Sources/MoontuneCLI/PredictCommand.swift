import ArgumentParser
import MoontuneManage
import MoontuneReport

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

    typealias Request = PredictionRequest

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
            let checkpoint: CheckpointChoice? = base ? nil : (step.map(CheckpointChoice.step) ?? (best ? .best : .latest))
            let prediction = try await Predictor.predict(job: name, checkpoint: checkpoint, request: request, image: image,
                                                         draw: draw, databasePath: database.path)
            print(json ? try ManagementJSON.encode(prediction) : prediction.text)
        }
    }
}
