"""SQL indexes derived from repos (events from threat records, cameras from valid frames, feedback), so the
API answers lists and stats with indexed queries instead of repo scans. Each index is a commit-feed consumer
(:mod:`vigil.store.feeds`): rebuildable from the repos at any time (``vigil index rebuild``)."""
