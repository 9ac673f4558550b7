import ArgumentParser
@main struct JobNode: AsyncParsableCommand {
    func run() async throws {}
}
