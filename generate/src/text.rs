//! Writing text into byte buffers without `format!`: numbers, JSON strings, and the many
//! timestamp layouts found in logs.

/// Appending helpers on a byte buffer.
pub(crate) trait Push {
    /// Appends a string.
    fn s(&mut self, text: &str);
    /// Appends a number in decimal.
    fn u(&mut self, n: u64);
    /// Appends a number with at least `width` digits (leading zeros).
    fn pad(&mut self, n: u64, width: usize);
    /// Appends `value / 10^decimals` with exactly `decimals` digits after the point.
    fn fixed(&mut self, value: u64, decimals: usize);
}

impl Push for Vec<u8> {
    fn s(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }

    fn u(&mut self, n: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.extend_from_slice(&digits[at..]);
    }

    fn pad(&mut self, n: u64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut at = digits.len();
        let mut n = n;
        while n > 0 || at == digits.len() {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let start = at.min(digits.len() - width.min(20));
        self.extend_from_slice(&digits[start..]);
    }

    fn fixed(&mut self, value: u64, decimals: usize) {
        let scale = 10u64.pow(decimals as u32);
        self.u(value / scale);
        if decimals > 0 {
            self.push(b'.');
            self.pad(value % scale, decimals);
        }
    }
}

/// What a byte turns into inside a JSON string: 0 = itself, 1 = a short escape, 2 = `\u00XX`.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = 2;
        i += 1;
    }
    table[b'\n' as usize] = 1;
    table[b'\r' as usize] = 1;
    table[b'\t' as usize] = 1;
    table[b'"' as usize] = 1;
    table[b'\\' as usize] = 1;
    table
};

/// Like [`ESCAPE`] plus Go's HTML-safe escapes (`<`, `>`, `&` as `\u003c`...), which Docker's
/// json-file driver and the apiserver's encoder write.
static ESCAPE_HTML: [u8; 256] = {
    let mut table = ESCAPE;
    table[b'<' as usize] = 2;
    table[b'>' as usize] = 2;
    table[b'&' as usize] = 2;
    table
};

const HEX_UPPER: &[u8; 16] = b"0123456789abcdef";

fn escape_with(out: &mut Vec<u8>, text: &[u8], table: &[u8; 256]) {
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        let kind = table[b as usize];
        if kind == 0 {
            continue;
        }
        out.extend_from_slice(&text[start..i]);
        start = i + 1;
        if kind == 1 {
            out.push(b'\\');
            out.push(match b {
                b'\n' => b'n',
                b'\r' => b'r',
                b'\t' => b't',
                other => other,
            });
        } else {
            out.extend_from_slice(b"\\u00");
            out.push(HEX_UPPER[(b >> 4) as usize]);
            out.push(HEX_UPPER[(b & 0xf) as usize]);
        }
    }
    out.extend_from_slice(&text[start..]);
}

/// Appends `text` escaped for the inside of a JSON string (no HTML escapes: what zap and most
/// application loggers write).
pub(crate) fn json_str(out: &mut Vec<u8>, text: &[u8]) {
    escape_with(out, text, &ESCAPE);
}

/// Appends `text` escaped for the inside of a JSON string the way Go's `encoding/json` does by
/// default (with `\u003c`, `\u003e`, `\u0026`).
pub(crate) fn json_str_html(out: &mut Vec<u8>, text: &[u8]) {
    escape_with(out, text, &ESCAPE_HTML);
}

/// A UTC instant broken into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: u64,
    pub month: u64,
    pub day: u64,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
    pub nanos: u64,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Civil {
    /// The calendar fields of `ns` nanoseconds after the Unix epoch (Howard Hinnant's
    /// `civil_from_days`; valid for years 0..=9999).
    pub fn from_nanos(ns: i64) -> Civil {
        let secs = ns.div_euclid(1_000_000_000);
        let nanos = ns.rem_euclid(1_000_000_000) as u64;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u64;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u64;
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            nanos,
        }
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self, out: &mut Vec<u8>, sep: u8) {
        out.pad(self.year, 4);
        out.push(sep);
        out.pad(self.month, 2);
        out.push(sep);
        out.pad(self.day, 2);
    }

    /// `hh:mm:ss`.
    pub fn time(&self, out: &mut Vec<u8>) {
        out.pad(self.hour, 2);
        out.push(b':');
        out.pad(self.minute, 2);
        out.push(b':');
        out.pad(self.second, 2);
    }

    /// `.` and the first `digits` digits of the fraction.
    pub fn frac(&self, out: &mut Vec<u8>, digits: u32) {
        out.push(b'.');
        out.pad(self.nanos / 10u64.pow(9 - digits), digits as usize);
    }

    /// RFC 3339 in UTC with the fraction trimmed of trailing zeros, as Go's `RFC3339Nano`
    /// writes it (Docker's `time`, CRI lines).
    pub fn rfc3339_nano(&self, out: &mut Vec<u8>) {
        self.date(out, b'-');
        out.push(b'T');
        self.time(out);
        if self.nanos > 0 {
            let mut digits = 9;
            let mut nanos = self.nanos;
            while nanos / 10 * 10 == nanos {
                nanos /= 10;
                digits -= 1;
            }
            out.push(b'.');
            out.pad(nanos, digits);
        }
        out.push(b'Z');
    }

    /// RFC 3339 in UTC with exactly `digits` fraction digits (`digits` > 0).
    pub fn rfc3339(&self, out: &mut Vec<u8>, digits: u32) {
        self.date(out, b'-');
        out.push(b'T');
        self.time(out);
        self.frac(out, digits);
        out.push(b'Z');
    }

    /// `01/Jan/2024:00:00:01 +0000` (nginx `$time_local`, gunicorn access logs).
    pub fn clf(&self, out: &mut Vec<u8>) {
        out.pad(self.day, 2);
        out.push(b'/');
        out.s(MONTHS[self.month as usize - 1]);
        out.push(b'/');
        out.pad(self.year, 4);
        out.push(b':');
        self.time(out);
        out.s(" +0000");
    }

    /// `01 Jan 2024 00:00:01.123` (Redis).
    pub fn redis(&self, out: &mut Vec<u8>) {
        out.pad(self.day, 2);
        out.push(b' ');
        out.s(MONTHS[self.month as usize - 1]);
        out.push(b' ');
        out.pad(self.year, 4);
        out.push(b' ');
        self.time(out);
        self.frac(out, 3);
    }

    /// `I0101 00:00:01.123456` (klog header without the pid), for `severity` `I`/`W`/`E`.
    pub fn klog(&self, out: &mut Vec<u8>, severity: u8) {
        out.push(severity);
        out.pad(self.month, 2);
        out.pad(self.day, 2);
        out.push(b' ');
        self.time(out);
        self.frac(out, 6);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers() {
        assert_eq!(text(|o| o.u(0)), "0");
        assert_eq!(text(|o| o.u(1234567)), "1234567");
        assert_eq!(text(|o| o.pad(7, 3)), "007");
        assert_eq!(text(|o| o.pad(0, 2)), "00");
        assert_eq!(text(|o| o.pad(12345, 2)), "12345");
        assert_eq!(text(|o| o.fixed(12034, 3)), "12.034");
        assert_eq!(text(|o| o.fixed(5, 3)), "0.005");
    }

    #[test]
    fn json_escapes_like_go() {
        let raw = "a\"b\\c\n\t\u{1}<&> é";
        assert_eq!(
            text(|o| json_str(o, raw.as_bytes())),
            "a\\\"b\\\\c\\n\\t\\u0001<&> é"
        );
        assert_eq!(
            text(|o| json_str_html(o, raw.as_bytes())),
            "a\\\"b\\\\c\\n\\t\\u0001\\u003c\\u0026\\u003e é"
        );
        let back: String = serde_json::from_str(&format!(
            "\"{}\"",
            text(|o| json_str_html(o, raw.as_bytes()))
        ))
        .unwrap();
        assert_eq!(back, raw);
    }

    #[test]
    fn calendar_matches_chrono() {
        for ns in [
            0i64,
            1_704_067_200_000_000_000,
            1_709_164_800_123_456_789,
            4_102_444_799_999_999_999,
            951_782_400_000_000_100,
        ] {
            let civil = Civil::from_nanos(ns);
            let chrono = chrono::DateTime::from_timestamp_nanos(ns);
            let want = chrono.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            let got = text(|o| civil.rfc3339_nano(o));
            assert_eq!(
                chrono::DateTime::parse_from_rfc3339(&got).unwrap(),
                chrono,
                "{got} vs {want}"
            );
            let micros = text(|o| civil.rfc3339(o, 6));
            assert_eq!(micros.len(), 27);
        }
        let civil = Civil::from_nanos(1_704_067_201_500_000_000);
        assert_eq!(text(|o| civil.rfc3339_nano(o)), "2024-01-01T00:00:01.5Z");
        assert_eq!(text(|o| civil.clf(o)), "01/Jan/2024:00:00:01 +0000");
        assert_eq!(text(|o| civil.klog(o, b'W')), "W0101 00:00:01.500000");
        assert_eq!(text(|o| civil.redis(o)), "01 Jan 2024 00:00:01.500");
    }
}
