import MoondreamAPI
import MoontuneStore

/// Writes `run`'s pace (its `KeyPacer`) to the store about once a second while the job runs,
/// and once more at its end, for `status` (issue 22). The key is written by its id only.
enum PaceRecorder {
    static func recording<T: Sendable>(_ pacer: KeyPacer?, keyID: String, job: String, store: ProgressStore,
                                       _ body: () async -> T) async -> T {
        guard let pacer else { return await body() }
        let source = "run \(job)"
        @Sendable func write() async {
            let record = KeyPaceRecord(pace: pacer.pace, keyID: keyID, source: source, now: .now,
                                       wallMs: ProgressStore.nowMs())
            try? await store.recordKeyPaces([record], source: source)  // best effort: status only
        }
        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    await write()
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            let result = await body()
            group.cancelAll()
            await group.waitForAll()
            await write()
            return result
        }
    }
}
