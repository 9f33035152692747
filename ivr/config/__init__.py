"""The configuration: loading `config/`, its models, checks, hot reload, prompts, phrases."""
