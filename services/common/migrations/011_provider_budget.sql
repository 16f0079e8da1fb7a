-- One budget of requests and tokens per window for each remote embedding provider, shared by
-- every replica that calls it (services/common/embedding/budget.py). A grant counts from the
-- moment it is given until one window after its request ended; a taker locks the provider's
-- row, so two replicas never both spend the last of the window.
CREATE TABLE IF NOT EXISTS provider_budgets (
    provider text PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS provider_grants (
    id bigserial PRIMARY KEY,
    provider text NOT NULL,
    at timestamptz NOT NULL,
    requests int NOT NULL,
    tokens bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS provider_grants_provider_at ON provider_grants (provider, at);
