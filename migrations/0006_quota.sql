-- The per-user quota is charged from now on (issue 12): every upload adds its size to
-- `quotas.used_bytes` in the transaction that records the document, every delete takes it off
-- in the transaction that removes the row.
--
-- Never edit this file once it has landed: add a new migration instead.

-- Every user has a quota row (users made before accounts had one through the accounts
-- migration's heir; this makes sure of all of them).
INSERT INTO quotas (user_id) SELECT id FROM users ON CONFLICT (user_id) DO NOTHING;

-- Nothing was charged before: start from what each user stores. A user already over their
-- limit keeps every document and can upload again once under it.
UPDATE quotas q
   SET used_bytes = coalesce((SELECT sum(d.size_bytes) FROM documents d WHERE d.user_id = q.user_id), 0);
