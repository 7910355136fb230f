//! Payment card numbers: 13 to 19 digits (spaces or dashes between groups) that pass the Luhn
//! check and start like a card network's numbers.

/// Whether the digits of `text` (separators skipped) form a plausible card number, grouped as
/// cards are printed when separated (4-4-4-4, 4-6-5, ...).
pub fn is_card_number(text: &str) -> bool {
    if !card_grouping(text) {
        return false;
    }
    let digits: Vec<u8> = text
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    (13..=19).contains(&digits.len())
        && network_prefix(&digits)
        && !digits.iter().all(|d| *d == digits[0])
        && luhn_valid(&digits)
}

/// Separated digits must be grouped like a card's: 4-4-4-4 (then 1 to 3 more), 4-4-4 and 1
/// to 3, or 4-6-5 / 4-6-4 (Amex, Diners). Identifiers such as UUIDs (8-4-4-4-12) are not.
fn card_grouping(text: &str) -> bool {
    let groups: Vec<usize> = text.split([' ', '-']).map(str::len).collect();
    matches!(
        groups.as_slice(),
        [_] | [4, 4, 4, 4] | [4, 4, 4, 4, 1..=3] | [4, 4, 4, 1..=3] | [4, 6, 5] | [4, 6, 4]
    )
}

/// The Luhn (mod 10) check over decimal digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            match i % 2 {
                0 => d,
                _ if d * 2 > 9 => d * 2 - 9,
                _ => d * 2,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Card numbers start with 3 (Amex, Diners, JCB), 4 (Visa), 5 (Mastercard), 6 (Discover,
/// UnionPay, Maestro) or 2221-2720 (Mastercard); epoch milliseconds and most ids do not.
fn network_prefix(digits: &[u8]) -> bool {
    match digits[0] {
        3..=6 => true,
        2 => {
            let four = digits[..4].iter().fold(0u32, |n, d| n * 10 + u32::from(*d));
            digits.len() == 16 && (2221..=2720).contains(&four)
        }
        _ => false,
    }
}

/// The fewest digits of a card number.
const MIN_DIGITS: usize = 13;

/// Whether `text` holds a run of at least 13 digits, single spaces or dashes allowed between
/// them: the cheap test before the card pattern runs.
///
/// Such a run spans at least 13 bytes that are all digits, spaces or dashes, so probing every
/// 13th byte lands in each one: only the stretches of those bytes around a probe that hits one
/// are scanned, a fraction of an ordinary line.
pub fn has_digit_run(text: &[u8]) -> bool {
    let mut probe = MIN_DIGITS - 1;
    while probe < text.len() {
        if !digit_or_separator(text[probe]) {
            probe += MIN_DIGITS;
            continue;
        }
        let start = text[..probe]
            .iter()
            .rposition(|&b| !digit_or_separator(b))
            .map_or(0, |at| at + 1);
        let end = text[probe..]
            .iter()
            .position(|&b| !digit_or_separator(b))
            .map_or(text.len(), |at| probe + at);
        if scan_digit_run(&text[start..end]) {
            return true;
        }
        probe = end + MIN_DIGITS;
    }
    false
}

fn digit_or_separator(b: u8) -> bool {
    b.is_ascii_digit() || b == b' ' || b == b'-'
}

/// [`has_digit_run`] byte by byte.
fn scan_digit_run(text: &[u8]) -> bool {
    let mut run = 0;
    let mut after_separator = false;
    for &b in text {
        if b.is_ascii_digit() {
            run += 1;
            after_separator = false;
            if run >= MIN_DIGITS {
                return true;
            }
        } else if (b == b' ' || b == b'-') && run > 0 && !after_separator {
            after_separator = true;
        } else {
            run = 0;
            after_separator = false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_pass() {
        for card in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "3782 822463 10005",
            "6011111111111117",
            "2223003122003222",
        ] {
            assert!(is_card_number(card), "{card}");
        }
    }

    #[test]
    fn close_numbers_fail() {
        for number in [
            // A 16-digit order id failing Luhn.
            "4111111111111112",
            // Epoch milliseconds (passes Luhn, no card network starts with 1).
            "1714557600009",
            // Too short, too long.
            "411111111111",
            "41111111111111111111",
            // All zeros pass Luhn.
            "0000000000000000",
            // Digits of a UUID (passing Luhn), grouped as no card is.
            "41111111-1111-1111",
            "4111-111111-111111",
        ] {
            assert!(!is_card_number(number), "{number}");
        }
        assert!(luhn_valid(&[1, 7, 1, 4, 5, 5, 7, 6, 0, 0, 0, 0, 9]));
    }

    #[test]
    fn digit_runs() {
        assert!(has_digit_run(b"card 4111 1111 1111 1111 ok"));
        assert!(has_digit_run(b"id=1234567890123"));
        assert!(!has_digit_run(
            b"2024-05-01T10:00:00Z status=200 bytes=65536"
        ));
        assert!(!has_digit_run(b"123456789012"));
        assert!(!has_digit_run(b"12  34567890123"));
    }

    #[test]
    fn probing_finds_exactly_the_runs_a_full_scan_finds() {
        // Random texts over digits, separators and a letter, every length up to 64.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut found = 0;
        for case in 0..200_000 {
            let len = case % 65;
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    match state % 16 {
                        0 => b' ',
                        1 => b'-',
                        2 => b'x',
                        _ => b'0' + (state % 10) as u8,
                    }
                })
                .collect();
            let expected = scan_digit_run(&text);
            found += usize::from(expected);
            assert_eq!(
                has_digit_run(&text),
                expected,
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
        assert!(found > 10_000, "too few runs to test: {found}");
    }
}
