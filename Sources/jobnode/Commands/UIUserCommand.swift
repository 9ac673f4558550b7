import ArgumentParser
import Foundation
import JobKitHTTP

/// `jobnode ui-user NAME ROLE`: reads a password on stdin and prints the `JOBKIT_UI_USERS` entry for it
/// (`name:role:bcrypt-hash`), like `htpasswd -B`. The password is never printed or logged.
struct UIUserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui-user",
        abstract: "Print a JOBKIT_UI_USERS entry (name:role:bcrypt-hash) for a password read on stdin.")

    @Argument(help: "The user's name.")
    var name: String

    @Argument(help: "viewer, operator or admin.")
    var role: String

    @Option(help: "bcrypt cost, 4...31.")
    var cost: UInt8 = 12

    func validate() throws {
        guard DashboardRole(rawValue: role) != nil else { throw ValidationError("role '\(role)' is not viewer, operator or admin") }
        guard (4...31).contains(cost) else { throw ValidationError("--cost is 4...31") }
    }

    func run() async throws {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("give the password on stdin (one line)")
        }
        do {
            print(try await DashboardUsers.entry(name: name, role: DashboardRole(rawValue: role)!, password: line, cost: cost))
        } catch let error as DashboardUsers.ParseError {
            throw ValidationError(error.message)
        }
    }
}
