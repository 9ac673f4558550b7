import Foundation

/// `key=value[,key=value…]`, the shape of `JOBKIT_ROUTES` and `JOBKIT_QUEUE_TAGS`: spaces around entries and
/// around `=` are ignored, empty entries skipped, and a key given twice refused.
enum AssignmentList {
    /// The entries of `text` in order.
    ///
    /// - Parameters:
    ///   - variable: the environment variable, named in every error.
    ///   - shape: what an entry looks like (`job.name=queue`), for the error of an entry without `=`.
    ///   - twice: the end of the error for a key given twice (`is routed twice`).
    /// - Throws: ``QueueError`` `invalidOptions`: an entry without `=`, or a key given twice.
    static func parse(_ text: String, variable: String, shape: String, twice: String) throws -> [(key: String, value: String)] {
        var entries: [(key: String, value: String)] = []
        var seen: Set<String> = []
        for raw in text.split(separator: ",") {
            let entry = raw.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty { continue }
            guard let eq = entry.firstIndex(of: "=") else {
                throw QueueError(.invalidOptions, "\(variable): '\(entry)' is not \(shape)")
            }
            let key = entry[..<eq].trimmingCharacters(in: .whitespaces)
            let value = entry[entry.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard seen.insert(key).inserted else { throw QueueError(.invalidOptions, "\(variable): '\(key)' \(twice)") }
            entries.append((key, value))
        }
        return entries
    }
}
