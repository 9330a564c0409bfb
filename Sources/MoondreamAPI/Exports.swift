// `RawJSON` is part of this client's public types (rollouts, echoed requests), so its module
// comes with the client: code that uses the API's models needs no second import.
@_exported import MoontuneJSON
// The shared domain types (skills, sampling settings, geometry) live in MoontuneDomain, which has
// no dependencies (issue 21): config and the loop's decisions use them without linking NIO.
@_exported import MoontuneDomain
