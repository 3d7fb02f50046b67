"""Memory: giving freed memory back to the operating system (caches and tiers come with the memory issue)."""
