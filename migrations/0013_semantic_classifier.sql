-- The semantic local classifier (issue 15): each document's embedding, each topic's prototype,
-- and, per assigned topic, who assigned it and how sure the classifier was.
--
-- A topic's prototype is normalize(embedding of "name: description" + mean of its examples'
-- embeddings); its examples are the documents a person gave that topic by hand. The worker
-- builds prototypes (the API process never loads the model): `topic_prototypes.version` goes up
-- whenever what a prototype is built from changes (a rename, a new description, an example
-- added or removed), and a prototype built from an older version is rebuilt before it is used.
-- Writes to a stale prototype are fenced by the version, so an edit made while it was rebuilt
-- is never lost.
--
-- Never edit this file once it has landed: add a new migration instead.

-- Who gave the document this topic: the classifier ('ai', with its score, the cosine
-- similarity to the topic's prototype for the semantic classifier) or a person ('user').
ALTER TABLE document_topics
    ADD COLUMN source text NOT NULL DEFAULT 'ai'
        CONSTRAINT document_topics_source_check CHECK (source IN ('ai', 'user')),
    ADD COLUMN score real;
UPDATE document_topics dt SET source = 'user'
  FROM documents d WHERE d.id = dt.document_id AND d.topics_by_hand;
CREATE INDEX ix_document_topics_examples ON document_topics (topic_id) WHERE source = 'user';

-- The classifier's best guesses when it was not sure enough to assign one:
-- [{"topic_id": uuid, "score": number}, ...], best first. The app offers them for one click.
ALTER TABLE documents ADD COLUMN topic_suggestions jsonb NOT NULL DEFAULT '[]'
    CONSTRAINT documents_topic_suggestions_check CHECK (jsonb_typeof(topic_suggestions) = 'array');

-- A document's embedding, by `model` (vectors of different models are never compared).
CREATE TABLE document_embeddings (
    document_id uuid PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    model       text NOT NULL,
    embedding   real[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE topic_prototypes (
    topic_id      uuid PRIMARY KEY REFERENCES topics (id) ON DELETE CASCADE,
    -- What the prototype must be built from; up on every change.
    version       bigint NOT NULL DEFAULT 1,
    -- What the stored prototype was built from (NULL: never built).
    built_version bigint,
    model         text,
    prototype     real[],
    examples      integer NOT NULL DEFAULT 0
);
INSERT INTO topic_prototypes (topic_id) SELECT id FROM topics;

CREATE FUNCTION topic_prototype_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO topic_prototypes (topic_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER topics_prototype_new AFTER INSERT ON topics
    FOR EACH ROW EXECUTE FUNCTION topic_prototype_new();

CREATE FUNCTION topic_prototype_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name IS DISTINCT FROM OLD.name OR NEW.description IS DISTINCT FROM OLD.description THEN
        UPDATE topic_prototypes SET version = version + 1 WHERE topic_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER topics_prototype_renamed AFTER UPDATE OF name, description ON topics
    FOR EACH ROW EXECUTE FUNCTION topic_prototype_renamed();

-- An example came or went. (A plain UPDATE: when the topic itself is being deleted its
-- prototype row may be gone already, and nothing is left to mark.)
CREATE FUNCTION topic_prototype_examples() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.source = 'user' THEN
        UPDATE topic_prototypes SET version = version + 1 WHERE topic_id = OLD.topic_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.source = 'user' THEN
        UPDATE topic_prototypes SET version = version + 1 WHERE topic_id = NEW.topic_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER document_topics_prototype_examples AFTER INSERT OR DELETE OR UPDATE OF source
    ON document_topics FOR EACH ROW EXECUTE FUNCTION topic_prototype_examples();
