-- OCR (issue 15): how many pages of a document's text were read by OCR (an image counts as
-- one page), so the app can say the text was recognised rather than read, and may hold
-- recognition errors. 0 for text read from a file or a PDF's text layer.
--
-- Never edit this file once it has landed: add a new migration instead.

ALTER TABLE documents ADD COLUMN ocr_pages integer NOT NULL DEFAULT 0
    CONSTRAINT documents_ocr_pages_check CHECK (ocr_pages >= 0);
