-- The two DocuVault database roles. Run once, as the superuser, inside the `docuvault` database:
-- by the postgres image on the first start of an empty volume (docker-compose.yml), and by
-- scripts/stack.sh for the local stack. Safe to run again.
--
--   docuvault_migrate  owns the database and the schema; `docuvault migrate` connects as it.
--   docuvault_app      what the API and workers connect as. It gets SELECT/INSERT/UPDATE/DELETE
--                      on tables (granted by the migrations, including default privileges for
--                      later ones) and nothing else: no DDL, no CREATE in any schema.
--
-- Passwords come from the environment (psql's \getenv): DOCUVAULT_MIGRATE_PASSWORD and
-- DOCUVAULT_APP_PASSWORD. If either is unset the script stops with an error.
\set ON_ERROR_STOP on
\getenv migrate_pw DOCUVAULT_MIGRATE_PASSWORD
\getenv app_pw DOCUVAULT_APP_PASSWORD

SELECT format('CREATE ROLE docuvault_migrate LOGIN PASSWORD %L', :'migrate_pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'docuvault_migrate') \gexec
SELECT format('CREATE ROLE docuvault_app LOGIN PASSWORD %L', :'app_pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'docuvault_app') \gexec

-- The migrate role owns the database, so it owns the `public` schema too (pg_database_owner) and
-- can create tables there; since PostgreSQL 15 no one else can.
SELECT format('ALTER DATABASE %I OWNER TO docuvault_migrate', current_database()) \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO docuvault_app', current_database()) \gexec
