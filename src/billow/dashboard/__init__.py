"""The admin dashboard, served by `billow serve` under /app: server-rendered pages (billow.web)."""
