-- Folders (issue 14): folders inside folders, documents in folders. A folder's parent and a
-- document's folder always belong to the same user — the database says so with composite
-- foreign keys on (user_id, id), so no query mistake can file one user's document in another
-- user's folder. Cycles and the depth limit are checked by the moving transaction, which holds
-- the user's folder lock (see db::folders).
--
-- Never edit this file once it has landed: add a new migration instead.

ALTER TABLE folders ADD CONSTRAINT folders_user_id_id_key UNIQUE (user_id, id);

ALTER TABLE folders DROP CONSTRAINT folders_parent_id_fkey;
ALTER TABLE folders ADD CONSTRAINT folders_parent_same_user_fkey
    FOREIGN KEY (user_id, parent_id) REFERENCES folders (user_id, id) ON DELETE CASCADE;
ALTER TABLE folders ADD CONSTRAINT folders_name_check
    CHECK (char_length(name) BETWEEN 1 AND 128);

-- A document whose folder goes away (outside the API's own delete, which moves or deletes the
-- contents first) falls back to the root, keeping its owner.
ALTER TABLE documents DROP CONSTRAINT documents_folder_id_fkey;
ALTER TABLE documents ADD CONSTRAINT documents_folder_same_user_fkey
    FOREIGN KEY (user_id, folder_id) REFERENCES folders (user_id, id) ON DELETE SET NULL (folder_id);

-- Listing one folder is as fast as the flat list: the same keyset order under (user, folder).
DROP INDEX ix_documents_user_folder;
CREATE INDEX ix_documents_user_folder_created ON documents (user_id, folder_id, created_at DESC, id DESC);
CREATE INDEX ix_folders_parent ON folders (user_id, parent_id);
