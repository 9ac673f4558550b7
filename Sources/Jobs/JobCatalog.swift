import JobKit
