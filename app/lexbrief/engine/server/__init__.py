"""An engine on a server LexBrief does not run itself: llama.cpp's llama-server or vLLM's
OpenAI-compatible server (`engine.ServerEngine`, over `client.ServerClient`)."""
