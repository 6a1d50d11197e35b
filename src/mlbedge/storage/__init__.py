"""PostgreSQL storage: connections (real or embedded), migrations and bulk loads."""
