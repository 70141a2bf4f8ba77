//! ConnectWise's `conditions` grammar, as its developer guide documents it: comparisons
//! (`= != < <= > >= contains like`, `not contains`, `not like`), `in (...)` and `not in`,
//! `and`/`or` (any case) with parentheses; strings in double (or single) quotes, numbers bare,
//! `true`/`false`, `null`, datetimes in brackets, and reference paths such as `company/id`.
//! Matching strings ignores case, as ConnectWise's database does.

use serde_json::Value;

/// A parsed condition.
#[derive(Clone, Debug)]
pub enum Condition {
    /// Both hold.
    And(Box<Condition>, Box<Condition>),
    /// Either holds.
    Or(Box<Condition>, Box<Condition>),
    /// `path op value`.
    Compare(String, Op, Literal),
    /// `path [not] in (values)`.
    In(String, bool, Vec<Literal>),
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `contains`
    Contains,
    /// `not contains`
    NotContains,
    /// `like` (`*` and `%` are wildcards)
    Like,
    /// `not like`
    NotLike,
}

/// A value in a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `"text"`
    Text(String),
    /// `42`
    Number(f64),
    /// `true` / `false`
    Bool(bool),
    /// `null`
    Null,
    /// `[2026-01-01T00:00:00Z]`
    Date(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Date(String),
    Open,
    Close,
    Comma,
    Op(&'static str),
}

fn tokens(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '"' | '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|x| *x == c)
                    .ok_or("a string value is not closed")?;
                out.push(Token::Text(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            '[' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|x| *x == ']')
                    .ok_or("a date value is not closed")?;
                out.push(Token::Date(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            '!' | '<' | '>' | '=' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = match two.as_str() {
                    "!=" => "!=",
                    "<=" => "<=",
                    ">=" => ">=",
                    _ => match c {
                        '<' => "<",
                        '>' => ">",
                        '=' => "=",
                        _ => return Err("'!' must be followed by '='".into()),
                    },
                };
                i += op.len();
                out.push(Token::Op(op));
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | '*' | '%') => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || matches!(chars[i], '_' | '/' | '.' | '-' | ':' | '*' | '%'))
                {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            left = Condition::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut left = self.factor()?;
        while self.keyword("and") {
            self.at += 1;
            left = Condition::And(Box::new(left), Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Condition, String> {
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or()?;
            if self.next() != Some(Token::Close) {
                return Err("a parenthesis is not closed".into());
            }
            return Ok(inner);
        }
        let Some(Token::Word(path)) = self.next() else {
            return Err("expected a field name".into());
        };
        let negated = self.keyword("not");
        if negated {
            self.at += 1;
        }
        if self.keyword("in") {
            self.at += 1;
            if self.next() != Some(Token::Open) {
                return Err("expected '(' after in".into());
            }
            let mut values = Vec::new();
            loop {
                values.push(self.literal()?);
                match self.next() {
                    Some(Token::Comma) => continue,
                    Some(Token::Close) => break,
                    _ => return Err("expected ',' or ')' in an in list".into()),
                }
            }
            return Ok(Condition::In(path, negated, values));
        }
        let op = match (self.next(), negated) {
            (Some(Token::Op(o)), false) => match o {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            (Some(Token::Word(w)), n) if w.eq_ignore_ascii_case("contains") => {
                if n {
                    Op::NotContains
                } else {
                    Op::Contains
                }
            }
            (Some(Token::Word(w)), n) if w.eq_ignore_ascii_case("like") => {
                if n {
                    Op::NotLike
                } else {
                    Op::Like
                }
            }
            _ => return Err(format!("expected an operator after {path}")),
        };
        Ok(Condition::Compare(path, op, self.literal()?))
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Token::Text(t)) => Ok(Literal::Text(t)),
            Some(Token::Date(d)) => Ok(Literal::Date(d)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            Some(Token::Word(w)) => w
                .parse::<f64>()
                .map(Literal::Number)
                .map_err(|_| format!("{w} is not a value: quote strings")),
            _ => Err("expected a value".into()),
        }
    }
}

/// Parses a `conditions` string.
pub fn parse(input: &str) -> Result<Condition, String> {
    let mut parser = Parser {
        tokens: tokens(input)?,
        at: 0,
    };
    let condition = parser.or()?;
    if parser.at != parser.tokens.len() {
        return Err("unexpected text after the condition".into());
    }
    Ok(condition)
}

/// The value at a `/`-separated path (field names ignore case).
pub fn at<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').try_fold(record, |v, key| {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn like(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split(['*', '%']).collect();
    if parts.len() == 1 {
        return text == pattern;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(p) => rest = &rest[p + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn compare(value: Option<&Value>, op: Op, literal: &Literal) -> bool {
    let value = value.unwrap_or(&Value::Null);
    if let Literal::Null = literal {
        return match op {
            Op::Eq => value.is_null(),
            Op::Ne => !value.is_null(),
            _ => false,
        };
    }
    let ordering = match (value, literal) {
        (Value::Number(n), Literal::Number(l)) => n.as_f64().and_then(|n| n.partial_cmp(l)),
        (Value::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
        (Value::String(s), Literal::Text(t) | Literal::Date(t)) => {
            let (s, t) = (s.to_lowercase(), t.to_lowercase());
            match op {
                Op::Contains => return s.contains(&t),
                Op::NotContains => return !s.contains(&t),
                Op::Like => return like(&s, &t),
                Op::NotLike => return !like(&s, &t),
                _ => Some(s.cmp(&t)),
            }
        }
        _ => None,
    };
    let Some(o) = ordering else {
        return matches!(op, Op::Ne | Op::NotContains | Op::NotLike);
    };
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => o == Equal,
        Op::Ne => o != Equal,
        Op::Lt => o == Less,
        Op::Le => o != Greater,
        Op::Gt => o == Greater,
        Op::Ge => o != Less,
        _ => false,
    }
}

impl Condition {
    /// Whether `record` satisfies the condition.
    pub fn matches(&self, record: &Value) -> bool {
        match self {
            Condition::And(a, b) => a.matches(record) && b.matches(record),
            Condition::Or(a, b) => a.matches(record) || b.matches(record),
            Condition::Compare(path, op, literal) => compare(at(record, path), *op, literal),
            Condition::In(path, negated, values) => {
                let found = values.iter().any(|l| compare(at(record, path), Op::Eq, l));
                found != *negated
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn grammar() {
        let r = json!({"id": 5, "name": "Acme Corp", "company": {"id": 250}, "agreementStatus": "Active", "cancelledDate": null, "inactiveFlag": false});
        let yes = [
            "id=5",
            "company/id=250 and agreementStatus=\"Active\"",
            "company/id in (1, 250, 3)",
            "id not in (1,2)",
            "name contains \"acme\"",
            "name like 'Acme*'",
            "cancelledDate=null",
            "inactiveFlag=false",
            "(id=1 or id=5) AND name != \"x\"",
        ];
        for c in yes {
            assert!(parse(c).unwrap().matches(&r), "{c}");
        }
        let no = [
            "id=6",
            "name not contains \"acme\"",
            "cancelledDate != null",
            "company/id in (1)",
        ];
        for c in no {
            assert!(!parse(c).unwrap().matches(&r), "{c}");
        }
        for bad in [
            "id=",
            "name contains acme corp",
            "(id=1",
            "id in 1,2",
            "name = \"x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
