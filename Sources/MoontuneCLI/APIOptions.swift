import ArgumentParser
import MoontuneManage

/// `--config CONFIG` or `--base-url URL`: how a command that is given no job reaches the API.
struct APIOptions: ParsableArguments {
    @Option(help: "Use this job config's api section (base_url, api_key_env).")
    var config: String?

    @Option(name: .customLong("base-url"),
            help: "The API root, for example https://api.moondream.ai/v1 (key from MOONDREAM_API_KEY).")
    var baseURL: String?

    func validate() throws {
        if config != nil && baseURL != nil {
            throw ValidationError("give --config or --base-url, not both")
        }
    }
}

extension APIAccess {
    /// A config file's `api` section, `--base-url`, or (neither given) the public API.
    static func standalone(_ options: APIOptions) throws -> APIAccess {
        try standalone(config: options.config, baseURL: options.baseURL)
    }
}
