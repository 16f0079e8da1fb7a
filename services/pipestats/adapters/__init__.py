"""Where pipestats writes its snapshots."""
