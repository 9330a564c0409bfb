// The options, faults and stats a caller passes to or reads from a running simulator are the
// engine's types: they come with the simulator.
@_exported import MoondreamSimulatorEngine
