// `RawJSON` is part of this client's public types (rollouts, echoed requests), so its module
// comes with the client: code that uses the API's models needs no second import.
@_exported import MoontuneJSON
