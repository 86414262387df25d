"""The audit log: every change made through the API or the dashboard (Lago's activity logs), and the
API's mutating requests (its API logs)."""
