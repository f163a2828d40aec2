-- Documents with realistic extracted text for the search benchmark (bench.py, search_latency):
-- :n documents of :user, half English, half German, a few KB each (about 1 % over 100 KB), words
-- drawn with a skew (a few words are in most documents, most words in few) plus reference
-- numbers (`ref<number>`, each in a handful of documents). psql variables: user, n.
CREATE TEMP TABLE vocab (lang text, words text[]);
INSERT INTO vocab VALUES
('en', regexp_split_to_array('invoice payment amount due date total tax customer account bank transfer
  order delivery contract rental agreement insurance policy premium claim doctor hospital
  appointment prescription school report grade teacher meeting minutes project budget salary
  statement balance credit card loan mortgage interest rate electricity water heating gas bill
  phone internet subscription renewal cancellation notice letter receipt warranty repair service
  vehicle registration license passport travel flight hotel booking ticket confirmation reference
  number address street city country employer employee holiday leave application certificate
  pension retirement fund investment dividend share market price quote estimate offer discount
  refund return shipping package tracking garden house kitchen roof window heating boiler
  plumbing inspection safety annual monthly quarterly yearly summary overview attached please
  regards sincerely thank kindly request information questions office manager department',
  '\s+')),
('de', regexp_split_to_array('rechnung zahlung betrag fällig datum gesamt steuer kunde konto bank
  überweisung bestellung lieferung vertrag miete mietvertrag versicherung police beitrag schaden
  arzt krankenhaus termin rezept schule zeugnis note lehrer besprechung protokoll projekt budget
  gehalt kontoauszug saldo kreditkarte darlehen hypothek zinsen strom wasser heizung gas
  telefon internet abonnement verlängerung kündigung mitteilung brief quittung garantie
  reparatur dienstleistung fahrzeug zulassung führerschein reisepass reise flug hotel buchung
  fahrkarte bestätigung nummer adresse straße stadt land arbeitgeber arbeitnehmer urlaub
  antrag bescheinigung rente altersvorsorge fonds anlage dividende aktie markt preis angebot
  rabatt erstattung rücksendung versand paket sendungsverfolgung garten haus küche dach fenster
  heizkessel sanitär prüfung sicherheit jährlich monatlich vierteljährlich zusammenfassung
  übersicht anlage bitte grüßen freundlichen dank anfrage informationen fragen büro leitung
  abteilung nebenkosten abrechnung finanzamt lohnsteuer krankenkasse',
  '\s+'));
UPDATE vocab SET words = array(SELECT w FROM unnest(words) w WHERE w <> '');

INSERT INTO documents (user_id, filename, object_key, content_type, size_bytes, status,
                       extracted_text, created_at, processed_at)
SELECT :'user', d.lang || '-' || i || '.pdf', :'user' || '/seed/' || i || '.pdf',
       'application/pdf', 1000 + i, 'classified', body.text,
       now() - make_interval(secs => i), now()
  FROM generate_series(1, :n) i
 CROSS JOIN LATERAL (SELECT CASE WHEN i % 2 = 0 THEN 'en' ELSE 'de' END AS lang,
                            CASE WHEN i % 97 = 0 THEN 16000 ELSE 300 + (i * 7919) % 500 END AS words) d
 CROSS JOIN LATERAL (
       SELECT string_agg(
                CASE WHEN random() < 0.04 THEN 'ref' || (random() * (:n * 2))::int::text
                     ELSE v.words[1 + floor(power(random(), 3) * cardinality(v.words))::int] END,
                ' ') AS text
         FROM vocab v, generate_series(1, d.words) g
        WHERE v.lang = d.lang) body;
ANALYZE documents;
