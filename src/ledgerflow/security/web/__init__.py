"""Browser-facing hardening in front of every route: Host allow-list (DNS rebinding), Origin
checks on state-changing requests, CORS for configured origins only, and security headers."""
