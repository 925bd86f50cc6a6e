import BatchGateFuzzTargets

FuzzCommandLine.main(entries: FuzzEntries.decoders)
