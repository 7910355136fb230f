//! The condition of a detection: search identifiers combined with `and`, `or`, `not`,
//! parentheses, and `1 of` / `all of` a wildcard pattern of identifiers or `them`.

/// A parsed condition, over search identifiers referred to by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// One search identifier.
    Search(usize),
    /// All must hold.
    And(Vec<Condition>),
    /// One must hold.
    Or(Vec<Condition>),
    /// Must not hold.
    Not(Box<Condition>),
}

impl Condition {
    /// Evaluates with `search(i)` giving the result of search identifier `i`.
    pub fn eval(&self, search: &mut impl FnMut(usize) -> bool) -> bool {
        match self {
            Condition::Search(i) => search(*i),
            Condition::And(all) => all.iter().all(|c| c.eval(search)),
            Condition::Or(any) => any.iter().any(|c| c.eval(search)),
            Condition::Not(inner) => !inner.eval(search),
        }
    }

    /// The same condition over search identifiers numbered from `offset` on (identifier `i`
    /// becomes `i + offset`): a filter's condition joined to a rule's.
    pub fn shifted(self, offset: usize) -> Condition {
        let shift = |parts: Vec<Condition>| parts.into_iter().map(|c| c.shifted(offset)).collect();
        match self {
            Condition::Search(i) => Condition::Search(i + offset),
            Condition::And(parts) => Condition::And(shift(parts)),
            Condition::Or(parts) => Condition::Or(shift(parts)),
            Condition::Not(inner) => Condition::Not(Box::new(inner.shifted(offset))),
        }
    }
}

/// Parses `text` over the search identifiers `names` (their order gives the indexes).
pub fn parse_condition(text: &str, names: &[String]) -> Result<Condition, String> {
    let tokens = tokenize(text);
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        names,
    };
    let condition = parser.or()?;
    match parser.peek() {
        None => Ok(condition),
        Some(extra) => Err(format!("unexpected {extra:?} in condition {text:?}")),
    }
}

fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
                tokens.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
    names: &'a [String],
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn keyword(&mut self, word: &str) -> bool {
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case(word)) {
            self.at += 1;
            return true;
        }
        false
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.not()?];
        while self.keyword("and") {
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::And(parts)
        })
    }

    fn not(&mut self) -> Result<Condition, String> {
        if self.keyword("not") {
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, String> {
        let Some(token) = self.peek().map(str::to_owned) else {
            return Err("condition ends too early".into());
        };
        self.at += 1;
        if token == "(" {
            let inner = self.or()?;
            if !self.keyword(")") {
                return Err("missing ')' in condition".into());
            }
            return Ok(inner);
        }
        let quantifier = match token.to_ascii_lowercase().as_str() {
            "1" | "any" => Some(false),
            "all" => Some(true),
            _ => None,
        };
        if let Some(all) = quantifier {
            if self.keyword("of") {
                return self.quantified(all);
            }
        }
        self.names
            .iter()
            .position(|n| *n == token)
            .map(Condition::Search)
            .ok_or_else(|| format!("unknown search identifier {token:?} in condition"))
    }

    fn quantified(&mut self, all: bool) -> Result<Condition, String> {
        let Some(pattern) = self.peek().map(str::to_owned) else {
            return Err("'of' needs a pattern or 'them'".into());
        };
        self.at += 1;
        let selected: Vec<Condition> = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, name)| pattern == "them" || glob_matches(&pattern, name))
            .map(|(i, _)| Condition::Search(i))
            .collect();
        if selected.is_empty() {
            return Err(format!("no search identifier matches {pattern:?}"));
        }
        Ok(if all {
            Condition::And(selected)
        } else {
            Condition::Or(selected)
        })
    }
}

fn glob_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((prefix, rest)) => {
            let Some(after) = name.strip_prefix(prefix) else {
                return false;
            };
            if rest.is_empty() {
                return true;
            }
            (0..=after.len())
                .filter(|i| after.is_char_boundary(*i))
                .any(|i| glob_matches(rest, &after[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn eval(text: &str, list: &[&str], truth: &[bool]) -> bool {
        parse_condition(text, &names(list))
            .unwrap()
            .eval(&mut |i| truth[i])
    }

    #[test]
    fn precedence_not_over_and_over_or() {
        let n = ["a", "b", "c"];
        assert!(eval("a or b and c", &n, &[true, false, false]));
        assert!(!eval("(a or b) and c", &n, &[true, false, false]));
        assert!(eval("a and not b", &n, &[true, false, false]));
        assert!(!eval("not a or b", &n, &[true, false, false]));
    }

    #[test]
    fn quantifiers_over_patterns_and_them() {
        let n = [
            "selection_status",
            "selection_request_uri",
            "selection_request_ua",
        ];
        assert!(eval(
            "selection_status and 1 of selection_request_*",
            &n,
            &[true, false, true]
        ));
        assert!(!eval(
            "selection_status and all of selection_request_*",
            &n,
            &[true, false, true]
        ));
        assert!(eval("all of them", &n, &[true, true, true]));
        assert!(!eval("1 of them", &n, &[false, false, false]));
    }

    #[test]
    fn errors_name_the_problem() {
        let n = names(&["a"]);
        assert!(parse_condition("a and b", &n)
            .unwrap_err()
            .contains("\"b\""));
        assert!(parse_condition("(a", &n).unwrap_err().contains(")"));
        assert!(parse_condition("1 of x*", &n).unwrap_err().contains("x*"));
        assert!(parse_condition("a a", &n).is_err());
    }
}
