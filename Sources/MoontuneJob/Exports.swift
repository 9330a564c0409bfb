// The job is the assembly of its config, its dataset and its rewards: code that runs a job
// (the loop, the CLI) imports this module and sees all three.
@_exported import MoontuneConfig
@_exported import MoontuneDataset
@_exported import MoontuneRewards
