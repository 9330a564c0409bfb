import MoontuneCLI

/// The `moontune` executable: everything else lives in MoontuneCLI, which tests import.
@main
struct Entry {
    static func main() async {
        await Moontune.main()
    }
}
