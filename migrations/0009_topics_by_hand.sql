-- Topics a person set by hand (issue 13: PATCH /api/documents/{id} with topic_ids) are their
-- choice: a later classification of the document leaves them as they are, unless the person
-- asks for it again (reclassify, which clears the mark).
--
-- Never edit this file once it has landed: add a new migration instead.

ALTER TABLE documents ADD COLUMN topics_by_hand boolean NOT NULL DEFAULT false;
