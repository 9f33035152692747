"""Developer tools: the Twilio emulator, the sandbox, `ivr call`, `demo` and `simulate`."""
