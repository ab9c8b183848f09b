"""A sequencer process for the crash test: sequences and checkpoints in small batches
until it is killed. Settings come from the REGISTRY_* environment."""

from registry.runtime import open_runtime
from registry.settings import Settings

runtime = open_runtime(Settings())
runtime.sequencer.batch = 25
print("ready", flush=True)
while True:
    runtime.sequencer.sequence_batch()
    runtime.sequencer.checkpoint()
