"""The model registry: registered models, their versions, tags, stages and aliases."""
