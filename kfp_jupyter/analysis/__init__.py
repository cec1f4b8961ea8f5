"""Static analysis: which names each block reads and defines, and the step graph they imply."""
