"""Four-eyes promotion: PromotionRequest state machine and the promotion gate it feeds."""
