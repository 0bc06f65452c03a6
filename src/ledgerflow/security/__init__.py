"""Security building blocks shared by the server's features (outbound-URL guard, ...)."""
