"""Policy as code: versioned YAML policy documents of typed rules (plus CEL), their published
JSON Schema, the pure engine that judges gate inputs, and the service that records every
evaluation."""
