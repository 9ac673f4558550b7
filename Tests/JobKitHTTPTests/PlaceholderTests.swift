import Testing
import JobKitHTTP
