import BatchGateFuzzServerTargets
import BatchGateFuzzTargets

FuzzCommandLine.main(entries: ServerFuzzEntries.all)
