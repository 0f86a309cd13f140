"""llama.cpp in-process: `engine.LlamaCppEngine` and what it stands on. Nothing is imported
here, so that the CPU-variant probe (`cpu_dispatch`) runs before llama.cpp loads."""
