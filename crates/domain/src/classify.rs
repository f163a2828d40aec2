//! The built-in `local` classifier: no network, no key, no model. It scores each of the user's
//! topics against a document with BM25 over the words of the topic's name and description, and
//! keeps the topics that clear a threshold, so a document can get none.
//!
//! BM25 wants document frequencies from a corpus; the one corpus we always have is the user's
//! topics themselves, so a word that appears in many topics' descriptions counts for less than
//! one that singles a topic out. Words are folded (lower case, common diacritics removed) and
//! lightly stemmed (plural and derivational endings, English and German) the same way on both
//! sides, so "invoices" in a description matches "Invoice" in a document.

use std::collections::{HashMap, HashSet};

/// BM25's term-frequency saturation.
const K1: f64 = 1.2;
/// BM25's length normalisation strength.
const B: f64 = 0.75;
/// The document length (in words) at which length normalisation is neutral.
const REFERENCE_LENGTH: f64 = 300.0;
/// Words of a topic's name count this many times as much as words of its description.
const NAME_WEIGHT: f64 = 2.0;
/// The default share of a topic's best possible score a document must reach.
/// Measured on the tests' documents: the intended topic scores 0.22–0.44, a single passing
/// mention of another topic's word about 0.1, an unrelated text 0.
pub const DEFAULT_THRESHOLD: f64 = 0.15;

/// A topic as the classifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct TopicText<'a> {
    pub name: &'a str,
    pub description: &'a str,
}

/// A topic that fits, by its index in the slice given to [`classify`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopicMatch {
    pub index: usize,
    /// In `[0, 1)`: the share of the topic's best possible score this document reached.
    pub score: f64,
}

/// The topics whose score reaches `threshold`, best first.
pub fn classify(text: &str, topics: &[TopicText<'_>], threshold: f64) -> Vec<TopicMatch> {
    let doc_terms = terms(text);
    if doc_terms.is_empty() || topics.is_empty() {
        return Vec::new();
    }
    let doc_len = doc_terms.len() as f64;
    let mut tf: HashMap<&str, f64> = HashMap::new();
    for t in &doc_terms {
        *tf.entry(t.as_str()).or_default() += 1.0;
    }

    // Each topic's query: its words with their weights (name words weigh more).
    let queries: Vec<HashMap<String, f64>> = topics.iter().map(query_of).collect();
    let mut topics_with: HashMap<&str, f64> = HashMap::new();
    for q in &queries {
        for term in q.keys() {
            *topics_with.entry(term.as_str()).or_default() += 1.0;
        }
    }
    let n = topics.len() as f64;
    let idf = |term: &str| {
        let df = topics_with.get(term).copied().unwrap_or(0.0);
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    };
    let length_norm = K1 * (1.0 - B + B * doc_len / REFERENCE_LENGTH);

    let mut matches: Vec<TopicMatch> = queries
        .iter()
        .enumerate()
        .filter_map(|(index, query)| {
            let mut score = 0.0;
            let mut best = 0.0;
            for (term, weight) in query {
                let w = weight * idf(term);
                // A term's BM25 contribution tends to (K1 + 1) as it repeats.
                best += w * (K1 + 1.0);
                if let Some(&f) = tf.get(term.as_str()) {
                    score += w * f * (K1 + 1.0) / (f + length_norm);
                }
            }
            let share = if best > 0.0 { score / best } else { 0.0 };
            (share >= threshold && score > 0.0).then_some(TopicMatch {
                index,
                score: share,
            })
        })
        .collect();
    matches.sort_by(|a, b| b.score.total_cmp(&a.score));
    matches
}

fn query_of(topic: &TopicText<'_>) -> HashMap<String, f64> {
    let mut q: HashMap<String, f64> = HashMap::new();
    for t in terms(topic.description).into_iter().collect::<HashSet<_>>() {
        q.insert(t, 1.0);
    }
    for t in terms(topic.name) {
        q.insert(t, NAME_WEIGHT);
    }
    q
}

/// The words of `text`, folded, stemmed, without stop words and one-letter noise.
pub fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(fold)
        .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .map(|w| stem(&w))
        .filter(|w| w.len() >= 2)
        .collect()
}

fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' | 'á' | 'à' | 'â' | 'ã' | 'å' => out.push('a'),
            'ö' | 'ó' | 'ò' | 'ô' | 'õ' | 'ø' => out.push('o'),
            'ü' | 'ú' | 'ù' | 'û' => out.push('u'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'í' | 'ì' | 'î' | 'ï' => out.push('i'),
            'ç' => out.push('c'),
            'ñ' => out.push('n'),
            'ß' => out.push_str("ss"),
            c => out.push(c),
        }
    }
    out
}

/// Endings removed when at least three characters remain, longest first.
const SUFFIXES: &[&str] = &[
    "ations", "ation", "ungen", "ings", "ions", "ing", "ion", "ies", "ung", "es", "en", "er", "ed",
    "s", "e",
];

fn stem(word: &str) -> String {
    for suffix in SUFFIXES {
        if let Some(stem) = word.strip_suffix(suffix)
            && stem.chars().count() >= 3
        {
            return stem.to_owned();
        }
    }
    word.to_owned()
}

/// Common English and German function words; they say nothing about a topic.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "her", "was", "one",
    "our", "out", "has", "his", "how", "its", "may", "new", "now", "see", "who", "did", "yes",
    "this", "that", "with", "from", "your", "have", "will", "been", "were", "they", "them", "than",
    "then", "there", "their", "what", "when", "which", "would", "about", "into", "other", "some",
    "such", "only", "also", "more", "most", "very", "here", "please", "dear", "of", "to", "in",
    "on", "at", "by", "or", "an", "as", "be", "is", "it", "we", "if", "no", "so", "do", "my",
    "der", "die", "das", "und", "ist", "ein", "eine", "einer", "eines", "dem", "den", "des", "mit",
    "von", "fur", "auf", "sie", "wir", "ich", "nicht", "sich", "auch", "als", "bei", "nach",
    "oder", "aus", "zum", "zur", "wie", "ihr", "ihre", "ihnen", "sehr", "geehrte", "geehrter",
];

#[cfg(test)]
mod tests {
    use super::*;

    const TOPICS: [TopicText<'static>; 4] = [
        TopicText {
            name: "Finance",
            description: "invoices, bank statements, tax, payments",
        },
        TopicText {
            name: "Health",
            description: "medical letters, prescriptions, doctor, hospital",
        },
        TopicText {
            name: "Travel",
            description: "flights, hotel bookings, itineraries, boarding passes",
        },
        TopicText {
            name: "Car",
            description: "vehicle insurance, repairs, registration, garage",
        },
    ];

    fn names(text: &str) -> Vec<&'static str> {
        classify(text, &TOPICS, DEFAULT_THRESHOLD)
            .into_iter()
            .map(|m| TOPICS[m.index].name)
            .collect()
    }

    #[test]
    fn documents_land_in_the_intended_topics() {
        let invoice = "INVOICE No. 2024-117. Date: 3 March 2024. Bill to: Anna Example. \
            Consulting services, 12 hours at 80 EUR. Subtotal 960.00, VAT 19% 182.40, \
            total due 1142.40 EUR. Payment within 14 days to the bank account below. \
            IBAN DE02 1203 0000 0000 2020 51. Thank you for your payment.";
        assert_eq!(names(invoice), vec!["Finance"]);

        let prescription = "Dr. med. Jonas Weber, general practitioner. Prescription for \
            Anna Example: Ibuprofen 400 mg, twice daily for five days. Please present this \
            prescription at any pharmacy. Follow-up appointment with your doctor in two weeks.";
        assert_eq!(names(prescription), vec!["Health"]);

        let boarding = "Boarding pass. Passenger EXAMPLE/ANNA. Flight LH 2034 from Munich to \
            Lisbon, seat 14C, boarding 07:35, gate K12. Your hotel booking at Hotel Miradouro \
            is confirmed for three nights; see your itinerary for details.";
        assert_eq!(names(boarding), vec!["Travel"]);

        let garage = "Invoice from AutoHaus Berg garage: repair of the vehicle's brake system, \
            replacement of front pads and discs. Vehicle registration M-AB 1234.";
        let got = names(garage);
        assert_eq!(got.first(), Some(&"Car"), "{got:?}");
    }

    #[test]
    fn an_unrelated_document_gets_no_topic() {
        let recipe = "Grandma's apple cake. Mix 200 g flour, 150 g sugar and three eggs; fold \
            in sliced apples, sprinkle with cinnamon and bake for forty minutes at 180 degrees.";
        assert!(names(recipe).is_empty(), "{:?}", names(recipe));
        let poem = "The fog comes on little cat feet. It sits looking over harbor and city on \
            silent haunches and then moves on.";
        assert!(names(poem).is_empty());
    }

    #[test]
    fn german_documents_match_through_folding_and_stemming() {
        let topics = [
            TopicText {
                name: "Finanzen",
                description: "Rechnungen, Kontoauszüge, Steuer",
            },
            TopicText {
                name: "Gesundheit",
                description: "Arztbriefe, Rezepte, Krankenhaus",
            },
        ];
        let text = "Rechnung Nr. 5531. Sehr geehrte Frau Müller, für die Lieferung berechnen \
            wir Ihnen 240,00 EUR. Bitte überweisen Sie den Betrag. Diese Rechnung enthält 19% \
            Steuer.";
        let got = classify(text, &topics, DEFAULT_THRESHOLD);
        assert_eq!(
            got.iter().map(|m| m.index).collect::<Vec<_>>(),
            vec![0],
            "{got:?}"
        );
    }

    #[test]
    fn nothing_to_match_gives_nothing() {
        assert!(classify("", &TOPICS, DEFAULT_THRESHOLD).is_empty());
        assert!(classify("an invoice", &[], DEFAULT_THRESHOLD).is_empty());
        let blank = [TopicText {
            name: "",
            description: "",
        }];
        assert!(classify("an invoice", &blank, DEFAULT_THRESHOLD).is_empty());
    }

    #[test]
    fn scores_are_shares_and_sorted() {
        let text = "Hospital invoice: payment for the doctor's treatment, bank transfer.";
        let got = classify(text, &TOPICS, 0.0);
        assert!(got.len() >= 2, "{got:?}");
        assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(got.iter().all(|m| (0.0..1.0).contains(&m.score)));
    }

    #[test]
    fn stemming_meets_in_the_middle() {
        assert_eq!(terms("Invoices invoice INVOICE"), vec!["invoic"; 3]);
        assert_eq!(terms("prescriptions prescription"), vec!["prescript"; 2]);
        assert_eq!(terms("Kontoauszüge"), vec!["kontoauszug"]);
        assert_eq!(terms("the of 2024 a"), Vec::<String>::new());
    }
}
