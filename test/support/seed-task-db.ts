/**
 * A database shaped like TasK's: several schemas, a `vector(384)` column with an HNSW index,
 * jsonb, bytea, arrays, a partitioned table, sequences (owned and free-standing), a view, a
 * function, and roles (one with a password) that own objects and hold grants. Deterministic
 * (seeded random), so two seeds of the same scale hold the same data.
 *
 *   await seedTaskDb(uri);                 // ~500 users, 2000 tasks, 3000 events
 *   await seedTaskDb(uri, { scale: 10 });  // ten times that
 *
 * The roles are cluster-wide: seeding a second database in the same server reuses them.
 */
import pg from "pg";

export interface SeedOptions {
  /** Multiplies row counts (1: about 6,500 rows over all tables). */
  scale?: number;
}

/** Password of the seeded `task_app` role (a role with a password must survive the globals). */
export const TASK_APP_PASSWORD = "task-app-secret-pw";

/** Tables the seed fills, schema-qualified, with partitions named individually. */
export const SEEDED_TABLES = [
  "app.users",
  "app.tasks",
  "app.task_labels",
  "billing.invoices",
  "audit.events_2025",
  "audit.events_2026",
  "audit.events_default",
] as const;

const SCHEMA_SQL = `
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'task_app') THEN
    CREATE ROLE task_app LOGIN PASSWORD '${TASK_APP_PASSWORD}';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'task_readonly') THEN
    CREATE ROLE task_readonly NOLOGIN;
  END IF;
END $$;

CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA app AUTHORIZATION task_app;
CREATE SCHEMA billing;
CREATE SCHEMA audit;

CREATE TYPE app.task_status AS ENUM ('todo', 'doing', 'done');

CREATE TABLE app.users (
  id bigserial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  display_name text,
  created_at timestamptz NOT NULL DEFAULT now(),
  profile jsonb NOT NULL DEFAULT '{}',
  avatar bytea,
  roles text[] NOT NULL DEFAULT '{}'
);
ALTER TABLE app.users OWNER TO task_app;

CREATE TABLE app.tasks (
  id bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES app.users(id),
  title text NOT NULL,
  status app.task_status NOT NULL DEFAULT 'todo',
  due date,
  estimate interval,
  score double precision,
  embedding vector(384),
  metadata jsonb
);
ALTER TABLE app.tasks OWNER TO task_app;
CREATE INDEX tasks_user_idx ON app.tasks (user_id);
CREATE INDEX tasks_embedding_hnsw ON app.tasks USING hnsw (embedding vector_cosine_ops);

CREATE TABLE app.task_labels (
  task_id bigint NOT NULL REFERENCES app.tasks(id) ON DELETE CASCADE,
  label text NOT NULL,
  PRIMARY KEY (task_id, label)
);
ALTER TABLE app.task_labels OWNER TO task_app;

CREATE SEQUENCE billing.invoice_number_seq START 1000;
CREATE TABLE billing.invoices (
  id serial PRIMARY KEY,
  number bigint NOT NULL DEFAULT nextval('billing.invoice_number_seq') UNIQUE,
  user_id bigint NOT NULL REFERENCES app.users(id),
  amount numeric(12, 2) NOT NULL,
  currency char(3) NOT NULL DEFAULT 'EUR',
  issued_on date NOT NULL,
  lines jsonb NOT NULL
);

CREATE TABLE audit.events (
  id bigint GENERATED ALWAYS AS IDENTITY,
  created_at timestamptz NOT NULL,
  actor bigint,
  action text NOT NULL,
  payload jsonb,
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE audit.events_2025 PARTITION OF audit.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE audit.events_2026 PARTITION OF audit.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE audit.events_default PARTITION OF audit.events DEFAULT;

CREATE VIEW app.open_tasks AS
  SELECT t.id, t.title, u.email FROM app.tasks t JOIN app.users u ON u.id = t.user_id WHERE t.status <> 'done';
ALTER VIEW app.open_tasks OWNER TO task_app;

CREATE FUNCTION app.task_count(p_user bigint) RETURNS bigint
  LANGUAGE sql STABLE AS $fn$ SELECT count(*) FROM app.tasks WHERE user_id = p_user $fn$;

GRANT USAGE ON SCHEMA app, billing TO task_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA app TO task_readonly;
GRANT SELECT ON billing.invoices TO task_readonly;
`;

function dataSql(scale: number): string {
  const users = 500 * scale;
  const tasks = 2000 * scale;
  const invoices = 1000 * scale;
  const events = 3000 * scale;
  return `
SELECT setseed(0.42);
INSERT INTO app.users (email, display_name, created_at, profile, avatar, roles)
SELECT 'user' || g || '@task.example', 'User ' || g,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour',
       jsonb_build_object('locale', (ARRAY['en','de','ru'])[1 + g % 3], 'beta', g % 7 = 0, 'n', g),
       CASE WHEN g % 5 = 0 THEN decode(md5(g::text), 'hex') END,
       CASE WHEN g % 50 = 0 THEN ARRAY['admin','user'] ELSE ARRAY['user'] END
  FROM generate_series(1, ${users}) AS g;

INSERT INTO app.tasks (user_id, title, status, due, estimate, score, embedding, metadata)
SELECT 1 + g % ${users}, 'Task #' || g || ' – ünïcödé',
       (ARRAY['todo','doing','done']::app.task_status[])[1 + g % 3],
       date '2025-01-01' + g % 400, (g % 90) * interval '1 minute', g / 7.0,
       (SELECT array_agg(round(random()::numeric, 4)::float4) FROM generate_series(1, 384) WHERE g > 0)::vector(384),
       CASE WHEN g % 4 = 0 THEN NULL ELSE jsonb_build_object('prio', g % 5, 'tags', jsonb_build_array('a', g % 11)) END
  FROM generate_series(1, ${tasks}) AS g;

INSERT INTO app.task_labels (task_id, label)
SELECT id, l FROM app.tasks, unnest(ARRAY['work','home','urgent']) AS l WHERE id % 3 = 0;

INSERT INTO billing.invoices (user_id, amount, issued_on, lines)
SELECT 1 + g % ${users}, round((g * 13.37)::numeric % 10000, 2), date '2025-06-01' + g % 300,
       jsonb_build_array(jsonb_build_object('sku', 'plan-' || g % 4, 'qty', 1 + g % 3))
  FROM generate_series(1, ${invoices}) AS g;

INSERT INTO audit.events (created_at, actor, action, payload)
SELECT timestamptz '2025-03-01 00:00:00+00' + g * interval '3 hours', 1 + g % ${users},
       (ARRAY['login','create','update','delete'])[1 + g % 4], jsonb_build_object('ip', '10.0.' || g % 256 || '.1')
  FROM generate_series(1, ${events}) AS g;

SELECT nextval('billing.invoice_number_seq') FROM generate_series(1, 5);
ANALYZE;
`;
}

/** Creates the TasK-like schema in the database `uri` names and fills it. */
export async function seedTaskDb(uri: string, options: SeedOptions = {}): Promise<void> {
  const client = new pg.Client({ connectionString: uri });
  await client.connect();
  try {
    await client.query(SCHEMA_SQL);
    await client.query(dataSql(options.scale ?? 1));
  } finally {
    await client.end();
  }
}
