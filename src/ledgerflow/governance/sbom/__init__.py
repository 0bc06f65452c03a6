"""CycloneDX 1.6 SBOMs per model version (ML-BOM: model, data and library components)."""
