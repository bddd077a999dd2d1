import PumphouseContracts

/// Machine-readable output: one JSON document on stdout.
func printJSON(_ value: JSONValue) throws {
    print(String(decoding: try JSONWriter.encode(value), as: UTF8.self))
}

