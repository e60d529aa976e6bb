//! How random a subdomain looks: character statistics of the labels left of a catalogued
//! account label (`x7k2qz9w.acme.workers.dev` → `x7k2qz9w`), combined into a score from 0
//! (word-like: `status-probe`, `cdn-sync`) to 1 (encoded data: `nv5aeztowd436xzb3ywn2rgj`).
//!
//! # Features (over the ASCII letters and digits, lower-cased; dots and hyphens separate labels)
//! - `n`, the number of letters and digits. Below [`MIN_CHARS`] the score is 0: a short name
//!   (`a1b2c3`, `api-7f3k`) cannot be told from a random one.
//! - Shannon entropy `H = -Σ p·log2 p` of the characters, normalised by the most a string of
//!   that length can have, `log2(min(n, k))` with `k` = 16 for hex-only strings, else 36.
//! - Letter/digit mixing: how often a label switches between letters and digits, per character
//!   (`r7wjyax4r3o9` switches 7 times in 12; `worker-01` once).
//! - Vowel share of the letters (English text ≈ 0.38; uniform random letters 5/26 ≈ 0.19).
//! - Longest run of consonant letters within a label.
//! - English letter likelihood: the mean over the letters of `log2(26·p_en(c))` with `p_en`
//!   the usual English letter frequencies; ≈ +0.52 for English, ≈ −0.89 for uniform letters.
//! - Length, and an encoding alphabet: hex-only (≥ 12 characters, letters and digits) or
//!   base32 (`a-z2-7`, ≥ 16 characters, ≥ 8 % digits).
//!
//! Each feature is mapped linearly to 0..1 and they are weighted:
//! `0.15·entropy + 0.25·mixing + 0.15·vowels + 0.10·consonant run + 0.10·length
//!  + 0.10·alphabet + 0.15·English likelihood` (see [`name_stats`] for each mapping).
//!
//! On synthetic sets (300 names each, test `synthetic_sets_separate`) a 0.35 threshold flags
//! 96 % of random `[a-z0-9]{8,30}`, 100 % of hex 16–60, 99 % of base32 16–60, 77 % of
//! letters-only random strings of 10–20, and 4 of 168 realistic function names (each with a
//! hex id or version, e.g. `e8f2a1b3-my-worker`). Pronounceable random names and short ones
//! are not caught.

/// Fewer letters and digits than this score 0.
pub const MIN_CHARS: usize = 8;

/// English letter frequencies in percent, `a` to `z` (Lewand, *Cryptological Mathematics*,
/// the table most letter-frequency references reproduce).
const ENGLISH: [f64; 26] = [
    8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.15, 0.77, 4.0, 2.4, 6.7, 7.5, 1.9, 0.095, 6.0,
    6.3, 9.1, 2.8, 0.98, 2.4, 0.15, 2.0, 0.074,
];

/// Character statistics of a subdomain and its randomness score.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NameStats {
    /// Letters and digits counted.
    pub chars: usize,
    /// Shannon entropy, bits per character.
    pub entropy: f64,
    /// Entropy over the most possible for the length (0 to 1).
    pub entropy_ratio: f64,
    /// Digits over characters.
    pub digit_ratio: f64,
    /// Vowels over letters.
    pub vowel_ratio: f64,
    /// Letter/digit switches within labels.
    pub class_switches: usize,
    /// Longest run of consonant letters.
    pub max_consonant_run: usize,
    /// Mean `log2(26·p_en)` over the letters (0 when there are none).
    pub english_llr: f64,
    /// Only `0-9a-f`.
    pub hex_alphabet: bool,
    /// Only `a-z2-7`.
    pub base32_alphabet: bool,
    /// The combined score, 0 to 1 (0 when `chars` < [`MIN_CHARS`]).
    pub score: f64,
}

/// The randomness score of `subdomain`, 0 to 1.
pub fn randomness(subdomain: &str) -> f64 {
    name_stats(subdomain).score
}

fn clamp01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

/// The statistics and score of `subdomain` (any text; non-ASCII and punctuation other than
/// label separators are ignored). One pass, no allocation.
pub fn name_stats(subdomain: &str) -> NameStats {
    let mut counts = [0u32; 36];
    let (mut n, mut digits, mut vowels) = (0usize, 0usize, 0usize);
    let (mut switches, mut run, mut max_run) = (0usize, 0usize, 0usize);
    let (mut hex, mut b32) = (true, true);
    let mut llr_sum = 0.0;
    let mut prev_digit: Option<bool> = None;
    for b in subdomain.bytes() {
        if b == b'.' || b == b'-' || b == b'_' {
            prev_digit = None;
            run = 0;
            continue;
        }
        let c = b.to_ascii_lowercase();
        let (slot, is_digit) = match c {
            b'0'..=b'9' => (usize::from(c - b'0'), true),
            b'a'..=b'z' => (10 + usize::from(c - b'a'), false),
            _ => continue,
        };
        n += 1;
        if let Some(x) = counts.get_mut(slot) {
            *x += 1;
        }
        hex &= is_digit || c <= b'f';
        b32 &= !is_digit || (b'2'..=b'7').contains(&c);
        if prev_digit.is_some_and(|p| p != is_digit) {
            switches += 1;
        }
        prev_digit = Some(is_digit);
        if is_digit {
            digits += 1;
            run = 0;
        } else {
            let p = ENGLISH.get(usize::from(c - b'a')).copied().unwrap_or(1.0);
            llr_sum += (26.0 * p / 100.0).log2();
            if matches!(c, b'a' | b'e' | b'i' | b'o' | b'u') {
                vowels += 1;
                run = 0;
            } else {
                run += 1;
                max_run = max_run.max(run);
            }
        }
    }
    let letters = n - digits;
    let nf = n as f64;
    let entropy = if n == 0 {
        0.0
    } else {
        -counts
            .iter()
            .filter(|&&k| k > 0)
            .map(|&k| {
                let p = f64::from(k) / nf;
                p * p.log2()
            })
            .sum::<f64>()
    };
    let alphabet = if hex { 16 } else { 36 };
    let max_entropy = (n.min(alphabet) as f64).log2();
    let mut s = NameStats {
        chars: n,
        entropy,
        entropy_ratio: if max_entropy > 0.0 {
            entropy / max_entropy
        } else {
            0.0
        },
        digit_ratio: if n == 0 { 0.0 } else { digits as f64 / nf },
        vowel_ratio: if letters == 0 {
            0.0
        } else {
            vowels as f64 / letters as f64
        },
        class_switches: switches,
        max_consonant_run: max_run,
        english_llr: if letters == 0 {
            0.0
        } else {
            llr_sum / letters as f64
        },
        hex_alphabet: n > 0 && hex,
        base32_alphabet: n > 0 && b32,
        score: 0.0,
    };
    if n < MIN_CHARS {
        return s;
    }
    let mixed = digits > 0 && letters > 0;
    let c_entropy = if n >= 10 {
        clamp01((s.entropy_ratio - 0.78) / 0.17)
    } else {
        0.0
    };
    let c_mixing = if mixed {
        clamp01(switches as f64 / nf / 0.3)
    } else {
        0.0
    };
    let c_vowels = if letters >= 5 {
        clamp01((0.33 - s.vowel_ratio) / 0.18)
    } else {
        0.0
    };
    let c_run = clamp01((max_run as f64 - 3.0) / 3.0);
    let c_len = clamp01((nf - 12.0) / 18.0);
    let c_alphabet = if (s.hex_alphabet && n >= 12 && mixed)
        || (s.base32_alphabet && n >= 16 && s.digit_ratio >= 0.08)
    {
        1.0
    } else {
        0.0
    };
    let c_english = if letters >= 6 {
        clamp01((0.2 - s.english_llr) / 0.8)
    } else {
        0.0
    };
    s.score = 0.15 * c_entropy
        + 0.25 * c_mixing
        + 0.15 * c_vowels
        + 0.10 * c_run
        + 0.10 * c_len
        + 0.10 * c_alphabet
        + 0.15 * c_english;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLD: f64 = 0.35;

    #[test]
    fn word_like_function_names_score_low() {
        for name in [
            "status-probe",
            "cdn-sync",
            "github-webhook",
            "stripe-webhook",
            "image-resizer",
            "healthcheck",
            "weathered-sun-1234",
            "worker-01",
            "notifications",
            "link-shortener",
            "cors-anywhere",
            "deadbeef",
            "a1b2c3",
            "api-7f3k",
            "q00x7",
            "www.static",
        ] {
            let s = name_stats(name);
            assert!(s.score < THRESHOLD, "{name}: {s:?}");
        }
    }

    #[test]
    fn encoded_and_random_names_score_high() {
        for name in [
            // base32 tunnel payloads, one and two labels
            "nv5aeztowd436xzb3ywn2rgjpjg3xwh2fhe6c6auh",
            "00c89c.t5clazdvp2xhdfimckg2i4dibgyspyv5fo272jme",
            // random alphanumerics
            "r7wjyax4r3o9aj2xkvn",
            "e6vzfbd6of12h1i",
            "kd9k6fz044y8bfmqwxyt",
            // hex
            "4f7a01c3e9b2d8f60a1b",
            // random letters
            "xkqzvjwpmtrl",
        ] {
            let s = name_stats(name);
            assert!(s.score >= THRESHOLD, "{name}: {s:?}");
        }
    }

    /// xorshift64*: a fixed, dependency-free generator for the synthetic sets.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn string(&mut self, alphabet: &[u8], lo: u64, hi: u64) -> String {
            let len = lo + self.below(hi - lo + 1);
            (0..len)
                .map(|_| char::from(alphabet[self.below(alphabet.len() as u64) as usize]))
                .collect()
        }
    }

    /// Share of `names` scoring at least [`THRESHOLD`].
    fn flagged(names: &[String]) -> f64 {
        names.iter().filter(|n| randomness(n) >= THRESHOLD).count() as f64 / names.len() as f64
    }

    /// Realistic function/tenant subdomains (not random): words, abbreviations, numbered
    /// instances, adjective-noun-number names and version-prefixed preview names.
    const BENIGN: &str = "a1b2c3 cdn-sync status-probe relay api hello-world my-worker \
        worker-prod api-v2 auth-proxy image-resizer og-image webhook github-webhook slack-bot \
        discord-bot contact-form newsletter rss-proxy cors-anywhere cors-proxy edge-cache \
        redirect shortener link-shortener analytics metrics telemetry logger log-drain \
        stripe-webhook payments checkout cart inventory search autocomplete geo-ip ip-lookup \
        weather-api translate chatbot openai-proxy gpt-proxy llm-gateway static assets files \
        uploads downloads media video-proxy stream hls thumbnails avatars blog docs wiki status \
        uptime healthcheck ping heartbeat cron scheduler queue-consumer email-worker mailer \
        notifications push sms twilio-hook zapier-hook n8n-webhook preview staging dev test \
        qa prod production canary beta alpha sandbox demo frontend backend gateway router \
        middleware bff graphql rest-api json-api user-service auth-service billing-service \
        order-service shipping-service us-east eu-west ap-south frankfurt london tokyo \
        weathered-sun-1234 shy-meadow-5678 quiet-river-42 bold-cloud-7 snowy-field-2023 \
        e8f2a1b3-my-worker 3f9c7d21-api 0a1b2c3d-relay ci-hooks-3b9d api-7f3k fn-x \
        deploy-preview-3 feature-login fix-bug-142 release-2-4 v2 v3 next new old legacy \
        portfolio resume landing marketing campaign promo summer-sale black-friday \
        minecraft-status discord-invite twitch-alerts spotify-now-playing github-stats \
        nextjs-app remix-app astro-site svelte-kit nuxt-app hono-api itty-router worker1 \
        worker2 worker-01 api01 node-3 edge-42 shard-7 replica-2 kv-store d1-demo r2-upload \
        durable-objects queues-demo ai-demo vectorize-demo b7c2e9f1 8f3a2c1d c0ffee42 \
        deadbeef 5e6f7a8b";

    #[test]
    fn synthetic_sets_separate() {
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        let mut set = |alphabet: &[u8], lo: u64, hi: u64| -> Vec<String> {
            (0..300).map(|_| rng.string(alphabet, lo, hi)).collect()
        };
        let alnum = set(b"abcdefghijklmnopqrstuvwxyz0123456789", 8, 30);
        let hex = set(b"0123456789abcdef", 16, 60);
        let b32 = set(b"abcdefghijklmnopqrstuvwxyz234567", 16, 60);
        let letters = set(b"abcdefghijklmnopqrstuvwxyz", 10, 20);
        let (a, h, b, l) = (
            flagged(&alnum),
            flagged(&hex),
            flagged(&b32),
            flagged(&letters),
        );
        let benign: Vec<String> = BENIGN.split_whitespace().map(str::to_owned).collect();
        let fp = benign
            .iter()
            .filter(|n| randomness(n) >= THRESHOLD)
            .cloned()
            .collect::<Vec<_>>();
        println!(
            "flagged: alnum {a:.2} hex {h:.2} base32 {b:.2} letters {l:.2}; benign {}/{}: {fp:?}",
            fp.len(),
            benign.len()
        );
        assert!(
            a >= 0.9 && h >= 0.95 && b >= 0.95 && l >= 0.6,
            "{a} {h} {b} {l}"
        );
        assert!(benign.len() >= 150 && fp.len() <= 6, "{fp:?}");
    }

    #[test]
    fn statistics_are_what_they_say() {
        let s = name_stats("ab12.AB-12");
        assert_eq!(s.chars, 8);
        assert!((s.entropy - 2.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.digit_ratio, 0.5);
        assert_eq!(s.vowel_ratio, 0.5);
        assert_eq!(s.class_switches, 1, "switches are counted within labels");
        assert_eq!(s.max_consonant_run, 1);
        assert!(s.hex_alphabet && !s.base32_alphabet);
        // Hex alphabet: entropy over log2(min(8, 16)) = 3 bits.
        assert!((s.entropy_ratio - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(name_stats("strengths").max_consonant_run, 5);
        let english = name_stats("thereisnothing");
        assert!(english.english_llr > 0.3, "{english:?}");
        assert!(name_stats("qzxjqzxj").english_llr < -2.0);
    }

    #[test]
    fn empty_short_and_odd_input() {
        assert_eq!(name_stats(""), NameStats::default());
        assert_eq!(randomness("abc"), 0.0);
        assert_eq!(randomness("...---___"), 0.0);
        let s = name_stats("é\u{0}\\032xyz");
        assert!(s.score.is_finite() && s.chars == 6);
        let long = "z9".repeat(5000);
        let s = name_stats(&long);
        assert!((0.0..=1.0).contains(&s.score));
    }
}
